"""SimExecuteWorkflowOperator through real Airflow (``dag.test()``) against the emulator.

Every mode runs as a real task of a real DAG run on this venv's Airflow; the assertions are on
what Airflow recorded (task states, try numbers, XComs, the task log) and on what the emulator
received (``executions()``: one entry per run ever started).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator
from airflow_provider_sim.protocol.models import RunStatus
from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS
from tests.dag_runner import (
    DagRunResult,
    RunDag,
    RunHandle,
    TaskResult,
    act_on_each,
    of_task,
    wait_for_executions,
    wait_until,
)

WORKSPACE = "emulator-workspace"  # the emulator's workspace id, part of every run link


def run_url(emulator: EmulatorHandle, run_id: str) -> str:
    return f"{emulator.base_url}/workspace/{WORKSPACE}/logs?executionId={run_id}"


def assert_published(
    ti: TaskResult, execution: dict[str, Any], emulator: EmulatorHandle, status: str
) -> None:
    """The XComs a finished task leaves: run id, workflow, link, status, duration."""
    assert ti.xcom["sim_run_id"] == execution["id"]
    assert ti.xcom["sim_workflow_id"] == execution["workflowId"]
    assert ti.xcom["sim_run_url"] == run_url(emulator, execution["id"])
    assert ti.xcom["sim_status"] == status
    assert isinstance(ti.xcom["sim_duration_ms"], int | float) and ti.xcom["sim_duration_ms"] >= 0


def assert_deferred(result: DagRunResult, run_id: str) -> None:
    """The task deferred and the trigger (not the worker's poll loop) saw the run finish."""
    assert "running trigger in line" in result.log, result.tail()
    # the trigger logs "Sim run <id> is <status>"; the worker's poll loop adds "after <n> s"
    assert re.search(
        rf"Sim run {re.escape(run_id)} is (completed|failed|cancelled|paused)(?! after)", result.log
    )


# -- construction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stream": True, "deferrable": True}, "stream=True"),
        ({"stream": True, "wait_for_completion": False}, "stream=True"),
        ({"on_pause": "later"}, "on_pause must be one of"),
        ({"poll_interval": 0}, "poll_interval must be a positive number"),
        ({"poll_interval": "5"}, "poll_interval must be a positive number"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"execution_timeout_seconds": 0}, "execution_timeout_seconds must be a whole number"),
        ({"execution_timeout_seconds": 604_801}, "execution_timeout_seconds must be a whole number"),
        ({"execution_timeout_seconds": 60, "async_execution": False}, "async runs only"),
        ({"execution_timeout_seconds": 60, "stream": True}, "async runs only"),
    ],
)
def test_bad_parameters_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SimConfigurationError, match=message):
        SimExecuteWorkflowOperator(task_id="t", workflow_id="echo", **kwargs)


def test_good_parameters_construct() -> None:
    op = SimExecuteWorkflowOperator(
        task_id="t", workflow_id="{{ params.wf }}", execution_timeout_seconds=60, deferrable=True
    )
    assert (op.deferrable, op.poll_interval, op.on_pause) == (True, 5.0, "wait")


# -- each mode, end to end ---------------------------------------------------------------------------


def test_sync_mode_returns_the_output(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="sync", workflow_id="echo", input={"q": "hi"}, '
        "async_execution=False)"
    )
    ti = result.task("sync")
    assert ti.state == "success", result.tail()
    assert ti.return_value == {"q": "hi"}
    [execution] = emulator.control.executions()
    assert (execution["mode"], execution["status"], execution["input"]) == ("sync", "completed", {"q": "hi"})
    assert execution["id"].endswith("-try1")
    assert_published(ti, execution, emulator, "completed")


def test_poll_in_worker(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    def release_once_seen_running(_handle: RunHandle) -> None:  # held open: no race with the worker
        listed = "/api/v2/workflows/hold/runs"
        wait_until(
            lambda: any(
                r["path"] == listed and r["status"] == 200 for r in emulator.control.requests_received()
            ),
            what="the worker looked at its run",
        )
        emulator.control.release()

    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="poll", workflow_id="hold", input={"seconds": 1}, '
        "poll_interval=0.2)",
        during=release_once_seen_running,
    )
    ti = result.task("poll")
    assert (ti.state, ti.try_number) == ("success", 1), result.tail()
    assert ti.return_value == {"seconds": 1}
    [execution] = emulator.control.executions()
    assert (execution["mode"], execution["status"]) == ("async", "completed")
    assert_published(ti, execution, emulator, "completed")
    assert re.search(rf"Sim run {execution['id']} is running after", result.log)  # the worker polled
    assert "running trigger in line" not in result.log


def test_deferrable_defers_and_resumes(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="defer", workflow_id="sleep", input={"seconds": 1},\n'
        "                           deferrable=True, poll_interval=0.2)"
    )
    ti = result.task("defer")
    assert (ti.state, ti.try_number) == ("success", 1), result.tail()
    assert ti.return_value == {"seconds": 1}
    [execution] = emulator.control.executions()
    assert (execution["mode"], execution["status"]) == ("async", "completed")
    assert_published(ti, execution, emulator, "completed")
    assert_deferred(result, execution["id"])
    assert f"Sim run {execution['id']} of workflow 'sleep' starts from the triggerer" in result.log
    assert f"Started Sim run {execution['id']} of workflow 'sleep'" in result.log  # the trigger's line


@pytest.mark.parametrize(
    ("arguments", "why"),
    [("start_in_triggerer=False", "switched off"), ('input={"blob": "x" * 70_000}', "input over 64 KiB")],
)
def test_deferrable_starts_in_the_worker_when_told_or_the_input_is_large(
    run_dag: RunDag, emulator: EmulatorHandle, arguments: str, why: str
) -> None:
    result = run_dag(
        f'SimExecuteWorkflowOperator(task_id="defer", workflow_id="echo", {arguments}, deferrable=True, '
        "poll_interval=0.2)"
    )
    assert result.task("defer").state == "success", (why, result.tail())
    [execution] = emulator.control.executions()
    assert "starts from the triggerer" not in result.log and "Starting Sim workflow 'echo'" in result.log, why
    assert_deferred(result, execution["id"])


def test_streaming_logs_chunks_and_returns_the_output(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    text = "alpha beta gamma delta"
    result = run_dag(
        f'SimExecuteWorkflowOperator(task_id="stream", workflow_id="stream", input={{"text": "{text}"}}, '
        "stream=True)"
    )
    ti = result.task("stream")
    assert ti.state == "success", result.tail()
    assert ti.return_value == {"content": text}
    [execution] = emulator.control.executions()
    assert (execution["mode"], execution["status"]) == ("stream", "completed")
    # each chunk is logged as it arrives, in order, before the run's end
    positions = [result.log.find(f"[agent] {word}") for word in text.split()]
    assert -1 not in positions and positions == sorted(positions), result.tail()
    assert positions[-1] < result.log.index(f"Sim run {execution['id']} ended completed")
    assert ti.xcom["sim_run_id"] == execution["id"]
    assert ti.xcom["sim_run_url"] == run_url(emulator, execution["id"])
    assert ti.xcom["sim_status"] == "completed"


def test_fire_and_forget_then_sensor(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        start = SimExecuteWorkflowOperator(
            task_id="start", workflow_id="sleep", input={"seconds": 1}, wait_for_completion=False
        )
        wait = SimJobSensor(
            task_id="wait",
            workflow_id="sleep",
            run_id="{{ ti.xcom_pull(task_ids='start', key='sim_run_id') }}",
            poke_interval=0.2,
        )
        start >> wait
        """
    )
    [execution] = emulator.control.executions()
    start, wait = result.task("start"), result.task("wait")
    assert (start.state, wait.state) == ("success", "success"), result.tail()
    assert start.return_value == execution["id"]  # returned at once: the run id
    assert "sim_status" not in start.xcom
    assert start.xcom["sim_run_url"] == run_url(emulator, execution["id"])
    assert wait.return_value == {"seconds": 1}
    assert wait.xcom["sim_status"] == "completed"
    assert execution["status"] == "completed"


def test_mapped_tasks_run_once_each(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator.partial(task_id="each", workflow_id="echo", async_execution=False).expand(
            input=[{"n": 1}, {"n": 2}, {"n": 3}]
        )
        """
    )
    mapped = result.mapped("each")
    assert [t.state for t in mapped] == ["success"] * 3, result.tail()
    assert [t.return_value for t in mapped] == [{"n": 1}, {"n": 2}, {"n": 3}]
    executions = emulator.control.executions()
    assert sorted(e["input"]["n"] for e in executions) == [1, 2, 3]
    assert len({e["id"] for e in executions}) == 3
    assert sorted(t.xcom["sim_run_id"] for t in mapped) == sorted(e["id"] for e in executions)


# -- runs that do not succeed ------------------------------------------------------------------------


def test_failed_run_fails_the_task(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="failpoll", workflow_id="fail", input={"message": "boom"},
                                   poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="faildefer", workflow_id="fail",
                                   input={"message": "boom", "seconds": 0.5},
                                   deferrable=True, poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="failsync", workflow_id="fail", input={"message": "boom"},
                                   async_execution=False)
        """
    )
    assert result.states == {"failpoll": "failed", "faildefer": "failed", "failsync": "failed"}
    executions = emulator.control.executions()
    assert sorted(e["status"] for e in executions) == ["failed"] * 3
    assert result.log.count("Workflow failed: boom") >= 3
    for task_id in ("failpoll", "faildefer", "failsync"):
        ti = result.task(task_id)
        assert ti.xcom["sim_status"] == "failed" and "return_value" not in ti.xcom
    [deferred] = of_task(executions, "faildefer")
    assert_deferred(result, deferred["id"])


def cancel_each_when_running(hook: SimHook, control: Any, task_ids: list[str]) -> Any:
    """A ``during`` callback: cancel each task's run on Sim (as a person would) once it is running."""

    def during(handle: RunHandle) -> None:
        act_on_each(control, task_ids, "running", lambda e: hook.cancel_run(e["workflowId"], e["id"]))

    return during


def test_run_cancelled_on_sim_fails_the_task(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    tasks = ["cancelpoll", "canceldefer"]
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="cancelpoll", workflow_id="hold", input={"tag": 1},
                                   poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="canceldefer", workflow_id="hold", input={"tag": 1},
                                   deferrable=True, poll_interval=0.2)
        """,
        during=cancel_each_when_running(sim_hook, emulator.control, tasks),
    )
    assert result.states == {"cancelpoll": "failed", "canceldefer": "failed"}, result.tail()
    executions = emulator.control.executions()
    assert sorted(e["status"] for e in executions) == ["cancelled", "cancelled"]
    assert result.log.count("ended cancelled") >= 2
    assert result.task("canceldefer").xcom["sim_status"] == "cancelled"
    assert_deferred(result, of_task(executions, "canceldefer")[0]["id"])


def test_paused_run_with_each_on_pause_choice(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    answered: list[str] = []

    def answer(execution: dict[str, Any]) -> None:
        run = sim_hook.get_run("approval", execution["id"])
        assert run.status is RunStatus.PAUSED and run.paused is not None
        task_id = "waitpoll" if of_task([execution], "waitpoll") else "waitdefer"
        sim_hook.resume_run("approval", execution["id"], str(run.paused.context_id), {"approved": task_id})
        answered.append(task_id)

    def answer_the_waiting_ones(handle: RunHandle) -> None:
        act_on_each(emulator.control, ["waitpoll", "waitdefer"], "paused", answer)

    result = run_dag(
        """
        for choice in ("succeed", "fail"):
            SimExecuteWorkflowOperator(task_id=f"pause{choice}", workflow_id="approval", input={"doc": 1},
                                       on_pause=choice, poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="waitpoll", workflow_id="approval", input={"doc": 2},
                                   on_pause="wait", poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="waitdefer", workflow_id="approval", input={"doc": 3},
                                   on_pause="wait", deferrable=True, poll_interval=0.2)
        """,
        during=answer_the_waiting_ones,
    )
    assert result.states == {
        "pausesucceed": "success",
        "pausefail": "failed",
        "waitpoll": "success",
        "waitdefer": "success",
    }, result.tail()
    succeed = result.task("pausesucceed")
    assert succeed.xcom["sim_status"] == "paused"
    assert succeed.return_value is None  # Sim's status read carries no output for a paused run
    assert result.task("pausefail").xcom["sim_status"] == "paused"
    assert "paused for human input" in result.log
    assert result.task("waitpoll").return_value == {
        "input": {"doc": 2},
        "resumeInput": {"approved": "waitpoll"},
    }
    assert result.task("waitdefer").return_value == {
        "input": {"doc": 3},
        "resumeInput": {"approved": "waitdefer"},
    }
    assert sorted(answered) == ["waitdefer", "waitpoll"]
    executions = emulator.control.executions()
    assert len(executions) == 4  # resuming continues a run; it never starts another
    assert_deferred(result, of_task(executions, "waitdefer")[0]["id"])


def test_sync_paused_run_succeeds_with_the_output_so_far(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="pausesync", workflow_id="approval", input={"doc": 4},
                                   on_pause="succeed", async_execution=False)
        """
    )
    ti = result.task("pausesync")
    assert (ti.state, ti.xcom["sim_status"]) == ("success", "paused"), result.tail()
    assert [e["status"] for e in emulator.control.executions()] == ["paused"]
    assert ti.return_value is not None  # the Human-in-the-loop block's output so far, as on Sim
    assert ti.return_value["data"]["responseStructure"] == [{"name": "doc", "type": "number", "value": 4}]


# -- timeouts, kills and retries ---------------------------------------------------------------------


def test_timeout_cancels_the_run_on_sim(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="timeoutpoll", workflow_id="hold", input={"tag": 1},
                                   timeout=1, poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="timeoutdefer", workflow_id="hold", input={"tag": 1},
                                   timeout=1, deferrable=True, poll_interval=0.2)
        """
    )
    assert result.states == {"timeoutpoll": "failed", "timeoutdefer": "failed"}, result.tail()
    executions = emulator.control.executions()
    assert [e["status"] for e in of_task(executions, "timeoutpoll")] == ["cancelled"]
    assert [e["status"] for e in of_task(executions, "timeoutdefer")] == ["cancelled"]
    assert re.search(r"the operator's timeout \([0-9.]+ s\) passed", result.log)  # the worker cancelled it
    assert (
        "did not finish before the operator's timeout; cancelled it on Sim" in result.log
    )  # the trigger did
    assert len(executions) == 2


def test_the_run_is_cancelled_at_execution_timeout(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="killed", workflow_id="hold", input={"tag": 1},
                                   poll_interval=0.2, execution_timeout=timedelta(seconds=2))
        """
    )
    assert result.task("killed").state == "failed", result.tail()
    [execution] = emulator.control.executions()
    assert execution["status"] == "cancelled"
    # the wait ends at execution_timeout and cancels the run, or Airflow's own timeout kills the task
    # first and on_kill cancels it: the run is cancelled either way
    assert "Cancelled Sim run" in result.log
    assert "execution_timeout (2 s) passed" in result.log or (
        "the task was killed" in result.log and "AirflowTaskTimeout" in result.log
    )
    if not AIRFLOW_V_3_0_PLUS and "the task was killed" in result.log:
        # Airflow 2's AirflowTaskTimeout is a BaseException: it ends dag.test() too
        assert result.error is not None and "AirflowTaskTimeout" in result.error


def test_on_kill_cancels_the_run_on_sigterm(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    def kill_when_running(handle: RunHandle) -> None:
        wait_for_executions(emulator.control, lambda ex: [e["status"] for e in ex] == ["running"])
        handle.terminate()  # what Airflow sends a task it kills (mark failed, scheduler/worker stop)

    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="sigterm", workflow_id="hold", input={"tag": 1},
                                   poll_interval=0.2)
        """,
        during=kill_when_running,
    )
    assert result.task("sigterm").state == "failed", result.tail()
    [execution] = emulator.control.executions()
    assert execution["status"] == "cancelled"
    assert "Cancelled Sim run" in result.log and "the task was killed" in result.log
    if AIRFLOW_V_3_0_PLUS:
        # the task runner's SIGTERM handler only calls on_kill; the task goes on waiting, reads the
        # run it just cancelled and fails with that (the supervisor would SIGKILL it later anyway)
        assert result.error is None
        assert f"Sim run {execution['id']} ended cancelled" in result.log
    else:  # Airflow 2 calls on_kill, then raises AirflowTaskTerminated (a BaseException) in the task
        assert result.error is not None and "AirflowTaskTerminated" in result.error


@pytest.mark.parametrize("mode", ["poll", "defer"])
def test_retry_reattaches_to_the_run_an_earlier_try_started(
    run_dag: RunDag, emulator: EmulatorHandle, mode: str
) -> None:
    # try 1 starts its run, then loses it (its first status read answers 404) and fails;
    # try 2 must find that run by try 1's id and wait for it instead of starting another
    emulator.control.add_fault("/api/v2/workflows/sleep/runs/*", status=404, method="GET")
    result = run_dag(
        f"""
        SimExecuteWorkflowOperator(task_id="retried", workflow_id="sleep", input={{"seconds": 1}},
                                   deferrable={mode == "defer"}, poll_interval=0.2,
                                   retries=1, retry_delay=timedelta(0))
        """
    )
    [execution] = emulator.control.executions()
    assert execution["id"].endswith("-try1") and execution["status"] == "completed"
    assert emulator.control.faults() == []  # try 1 really lost its status read
    ti = result.task("retried")
    assert (ti.state, ti.try_number) == ("success", 2), result.tail()
    assert ti.xcom["sim_run_id"] == execution["id"]
    assert ti.return_value == {"seconds": 1}
    assert f"Re-attaching to Sim run {execution['id']}" in result.log
    if mode == "defer" and AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:  # apache/airflow#56704
        assert "Try 2 was resumed with the trigger event of try 1" in result.log


def test_retry_after_a_failed_run_starts_a_new_run(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="flaky", workflow_id="fail", poll_interval=0.2,
                                   retries=1, retry_delay=timedelta(0))
        """
    )
    ti = result.task("flaky")
    assert (ti.state, ti.try_number) == ("failed", 2), result.tail()
    executions = emulator.control.executions()
    assert [e["id"].rsplit("-", 1)[1] for e in executions] == ["try1", "try2"]
    assert "ended failed; starting a new run" in result.log


# -- the "Sim run" link ------------------------------------------------------------------------------


def test_sim_run_link_returns_the_pushed_url(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="linked", workflow_id="echo", async_execution=False)
        SimExecuteWorkflowOperator(task_id="unlinked", workflow_id="undeployed", check_deployed=True)
        """
    )
    assert result.states == {"linked": "success", "unlinked": "failed"}, result.tail()
    assert "is not deployed" in result.log
    [execution] = emulator.control.executions()  # the undeployed one never started
    url = run_url(emulator, execution["id"])
    linked, unlinked = result.task("linked"), result.task("unlinked")
    assert linked.xcom["sim_run_url"] == url
    if AIRFLOW_V_3_0_PLUS:  # the worker evaluates links after each run and stores them for the UI
        assert linked.xcom["_link_SimRunLink"] == url
        assert unlinked.xcom["_link_SimRunLink"] == ""
    else:  # the webserver calls get_link, which reads the XCom from the metadata DB
        from airflow.models.taskinstancekey import TaskInstanceKey

        from airflow_provider_sim.links import SimRunLink

        op = SimExecuteWorkflowOperator(task_id="linked", workflow_id="echo")
        key = TaskInstanceKey(result.dag_id, "linked", str(result.run_id), linked.try_number, -1)
        assert SimRunLink().get_link(op, ti_key=key) == url
        missing = TaskInstanceKey(result.dag_id, "unlinked", str(result.run_id), unlinked.try_number, -1)
        assert SimRunLink().get_link(op, ti_key=missing) == ""
