"""SimJobSensor through real Airflow (``dag.test()``) against the emulator.

The runs a sensor waits for are started from the test (a sensor never starts one), so every test
can also check that the emulator saw no execution besides those.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.protocol.models import RunStatus
from airflow_provider_sim.sensors.sim import SimJobSensor
from tests.dag_runner import DagRunResult, RunDag, RunHandle, act_on_each, wait_until


def start(hook: SimHook, workflow_id: str, run_id: str, workflow_input: Any) -> str:
    """Start a run the way another system would (async), named ``run_id``."""
    hook.execute_workflow(workflow_id, workflow_input, run_id=run_id, async_execution=True)
    return run_id


def assert_deferred(result: DagRunResult) -> None:
    assert "running trigger in line" in result.log, result.tail()


# -- construction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs workflow_id and run_id"),
        ({"workflow_id": "echo"}, "needs workflow_id and run_id"),
        ({"run_id": "r-1"}, "needs workflow_id and run_id"),
        ({"job_id": "j-1", "on_pause": "later"}, "on_pause must be one of"),
    ],
)
def test_bad_parameters_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SimConfigurationError, match=message):
        SimJobSensor(task_id="s", **kwargs)


# -- each mode ---------------------------------------------------------------------------------------


#: each way a sensor waits, as arguments of SimJobSensor in a DAG body
each_mode = pytest.mark.parametrize(
    "mode_kwargs",
    [
        'mode="poke", poke_interval=0.2',
        'mode="reschedule", poke_interval=0.5',
        "deferrable=True, poke_interval=0.2",
    ],
    ids=["poke", "reschedule", "deferrable"],
)


@each_mode
def test_waits_for_the_run_and_returns_its_output(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook, mode_kwargs: str
) -> None:
    run_id = start(sim_hook, "hold", "sensed-run-1", {"tag": 1.5})
    reads = f"/api/v2/workflows/hold/runs/{run_id}"
    # held until the sensor has seen it running (twice when poking; Airflow 3.0's reschedule mode
    # fails on a third try) or, deferred, until the trigger's watcher has listed it
    mode = mode_kwargs.split('"')[1] if "mode=" in mode_kwargs else "deferrable"
    looks_needed = {"poke": 2, "reschedule": 1}.get(mode)

    def seen_running() -> bool:
        # answered, not just received: a release between the two would make the look see it done
        paths = [r["path"] for r in emulator.control.requests_received() if r["status"] == 200]
        if looks_needed is None:
            return "/api/v2/workflows/hold/runs" in paths
        return paths.count(reads) >= looks_needed

    def release_once_seen(_handle: RunHandle) -> None:
        wait_until(seen_running, what="the sensor saw the run running")
        emulator.control.release([run_id])

    result = run_dag(
        f'SimJobSensor(task_id="sense", workflow_id="hold", run_id="{run_id}", {mode_kwargs})',
        during=release_once_seen,
    )
    ti = result.task("sense")
    assert (ti.state, ti.try_number) == ("success", 1), result.tail()
    assert ti.return_value == {"tag": 1.5}
    assert ti.xcom["sim_status"] == "completed"
    assert isinstance(ti.xcom["sim_duration_ms"], int | float)
    [execution] = emulator.control.executions()  # the sensor started nothing
    assert (execution["id"], execution["status"]) == (run_id, "completed")
    if "reschedule" in mode_kwargs:
        # one read per try: it saw the run running, was rescheduled, and read it again
        assert [r["path"] for r in emulator.control.requests_received()].count(reads) >= 2
        assert "up_for_reschedule" in result.log.lower() or "rescheduling" in result.log.lower()
    if "deferrable" in mode_kwargs:
        assert_deferred(result)
    else:
        assert "running trigger in line" not in result.log


def test_legacy_v1_job_id(run_dag: RunDag, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.dumps(
        {
            "conn_type": "sim",
            "host": emulator.base_url,
            "password": emulator.api_key,
            "extra": {"api_version": "v1"},
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_SIM_V1", conn)
    run = SimHook("sim_v1").execute_workflow("sleep", {"seconds": 1}, async_execution=True)
    assert run.job_id
    result = run_dag(
        f"""
        SimJobSensor(task_id="v1poke", job_id="{run.job_id}", sim_conn_id="sim_v1", poke_interval=0.2)
        SimJobSensor(task_id="v1defer", job_id="{run.job_id}", sim_conn_id="sim_v1", poke_interval=0.2,
                     deferrable=True)
        """,
        env={"AIRFLOW_CONN_SIM_V1": conn},
    )
    for task_id in ("v1poke", "v1defer"):
        ti = result.task(task_id)
        assert ti.state == "success", result.tail()
        assert ti.return_value == {"seconds": 1}
        assert ti.xcom["sim_status"] == "completed"
    [execution] = emulator.control.executions()
    assert (execution["apiVersion"], execution["jobId"]) == ("v1", run.job_id)
    # both read the legacy job endpoint, never a v2 path
    paths = {r["path"] for r in emulator.control.requests_received() if r["method"] == "GET"}
    assert paths == {f"/api/jobs/{run.job_id}"}


# -- runs that do not succeed ------------------------------------------------------------------------


def test_failed_and_cancelled_runs_fail_the_task_or_skip_with_soft_fail(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    for name in ("failed-1", "failed-2"):
        start(sim_hook, "fail", name, {"message": "bad input"})
    for name in ("cancel-1", "cancel-2"):
        start(sim_hook, "hold", name, {"tag": name})  # running until cancelled

    def cancel_once_watched(handle: RunHandle) -> None:
        # cancel each held run once its sensor has read it (the deferrable ones then defer),
        # in whichever order Airflow runs the sensors
        pending = {"cancel-1", "cancel-2"}

        def cancel_the_watched() -> bool:
            read = {r["path"].rsplit("/", 1)[-1] for r in emulator.control.requests_received()}
            for run_id in sorted(pending & read):
                sim_hook.cancel_run("hold", run_id)
                pending.discard(run_id)
            return not pending

        wait_until(cancel_the_watched, timeout=90, what="both held runs read and cancelled")

    result = run_dag(
        """
        SimJobSensor(task_id="failpoke", workflow_id="fail", run_id="failed-1", poke_interval=0.2)
        SimJobSensor(task_id="failpokesoft", workflow_id="fail", run_id="failed-2", poke_interval=0.2,
                     soft_fail=True)
        SimJobSensor(task_id="canceldefer", workflow_id="hold", run_id="cancel-1", poke_interval=0.2,
                     deferrable=True)
        SimJobSensor(task_id="canceldefersoft", workflow_id="hold", run_id="cancel-2", poke_interval=0.2,
                     deferrable=True, soft_fail=True)
        """,
        during=cancel_once_watched,
    )
    assert result.states == {
        "failpoke": "failed",
        "failpokesoft": "skipped",
        "canceldefer": "failed",
        "canceldefersoft": "skipped",
    }, result.tail()
    assert "bad input" in result.log and "ended cancelled" in result.log
    assert "Skipping (soft_fail)" in result.log
    assert_deferred(result)
    statuses = {e["id"]: e["status"] for e in emulator.control.executions()}
    assert statuses == {
        "failed-1": "failed",
        "failed-2": "failed",
        "cancel-1": "cancelled",
        "cancel-2": "cancelled",
    }


def test_sensor_timeout_fails_but_leaves_the_run_alone(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    for name in ("long-1", "long-2"):
        start(sim_hook, "hold", name, {"tag": name})  # running until released: past any timeout
    result = run_dag(
        """
        SimJobSensor(task_id="pokelate", workflow_id="hold", run_id="long-1", poke_interval=0.2, timeout=1)
        SimJobSensor(task_id="deferlate", workflow_id="hold", run_id="long-2", poke_interval=0.2, timeout=1,
                     deferrable=True)
        """
    )
    assert result.states == {"pokelate": "failed", "deferlate": "failed"}, result.tail()
    assert "did not finish before" in result.log  # the trigger's timeout event
    assert "cancelled it on Sim" not in result.log
    # the sensor did not start these runs, so it does not cancel them
    assert [e["status"] for e in emulator.control.executions()] == ["running", "running"]


def test_paused_run_with_each_on_pause_choice(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    for name in ("ask-1", "ask-2", "ask-3"):
        start(sim_hook, "approval", name, {"doc": name})

    def answer_ask_3(handle: RunHandle) -> None:
        def answer(execution: dict[str, Any]) -> None:
            run = sim_hook.get_run("approval", "ask-3")
            assert run.status is RunStatus.PAUSED and run.paused is not None
            # answer only once the waiting sensor has looked at the paused run
            wait_until(
                lambda: any(r["path"].endswith("/runs/ask-3") for r in emulator.control.requests_received()),
                what="a read of ask-3",
            )
            sim_hook.resume_run("approval", "ask-3", str(run.paused.context_id), {"approved": True})

        act_on_each(emulator.control, ["ask-3"], "paused", answer, by_id=True)

    result = run_dag(
        """
        SimJobSensor(task_id="pausesucceed", workflow_id="approval", run_id="ask-1", on_pause="succeed",
                     poke_interval=0.2)
        SimJobSensor(task_id="pausefail", workflow_id="approval", run_id="ask-2", on_pause="fail",
                     poke_interval=0.2)
        SimJobSensor(task_id="pausewait", workflow_id="approval", run_id="ask-3", poke_interval=0.2)
        """,
        during=answer_ask_3,
    )
    assert result.states == {"pausesucceed": "success", "pausefail": "failed", "pausewait": "success"}, (
        result.tail()
    )
    assert result.task("pausesucceed").xcom["sim_status"] == "paused"
    assert result.task("pausewait").return_value == {
        "input": {"doc": "ask-3"},
        "resumeInput": {"approved": True},
    }
    assert len(emulator.control.executions()) == 3
