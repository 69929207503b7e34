"""The operator and the sensor under Sim's quota, through real Airflow (``dag.test()``).

Sim answers 429 for its rate limits and for runs in flight; a 429 means nothing was done, so no
task may fail because of one while it could still succeed, and no wait may outlast its deadline.
"""

from __future__ import annotations

import re

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.hooks.sim import SimHook
from tests.dag_runner import RunDag, RunHandle, wait_until

RATE_LIMITED = {"error": {"code": "RATE_LIMITED", "message": "API rate limit exceeded"}}


def refused(emulator: EmulatorHandle, suffix: str) -> int:
    return sum(
        1 for r in emulator.control.requests_received() if r["path"].endswith(suffix) and r["status"] == 429
    )


def test_polled_wait_rides_out_429s_beyond_max_retries(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(
        "/api/v2/workflows/echo/runs/af-*-try1",
        status=429,
        times=5,  # more than the 3 retries an error gets: 429s do not count
        headers={"Retry-After": "1"},
        body=RATE_LIMITED,
    )
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="polled", workflow_id="echo", input={"n": 1}, poll_interval=0.2)'
    )
    ti = result.task("polled")
    assert (ti.state, ti.return_value) == ("success", {"n": 1}), result.tail()
    assert refused(emulator, "-try1") == 5 and len(emulator.control.executions()) == 1


def test_a_read_held_past_the_operators_timeout_ends_at_the_timeout_naming_the_limit(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    emulator.control.add_fault(  # the watcher's list of the workflow's runs
        "/api/v2/workflows/hold/runs",
        status=429,
        times=50,
        headers={"Retry-After": "3600"},
        body=RATE_LIMITED,
    )
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="held", workflow_id="hold", poll_interval=0.2, timeout=3, '
        "retries=0)"
    )
    ti = result.task("held")
    assert ti.state == "failed", result.tail()
    assert result.seconds < 120  # ended at its 3 s timeout, not 300 s or an hour later
    assert (
        "3600 s" in result.log and "the operator's timeout (3 s)" in result.log and "Sim plan" in result.log
    )
    [execution] = emulator.control.executions()
    assert execution["status"] == "cancelled"  # the operator started it, so it cancels it


def test_an_execute_held_past_the_timeout_fails_at_once_and_starts_nothing(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    emulator.control.add_fault(
        "/api/v2/workflows/echo/execute",
        status=429,
        times=5,
        headers={"Retry-After": "3600"},
        body=RATE_LIMITED,
    )
    result = run_dag('SimExecuteWorkflowOperator(task_id="start", workflow_id="echo", timeout=30, retries=0)')
    assert result.task("start").state == "failed", result.tail()
    assert result.seconds < 60
    assert "Sim asks to wait 3600 s" in result.log and "the operator's timeout (30 s) leaves" in result.log
    assert emulator.control.executions() == [] and refused(emulator, "/execute") == 1


def test_an_execute_past_the_in_flight_cap_waits_for_its_turn_and_says_so_once(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    emulator.control.settings(max_runs_in_flight=1, concurrency_retry_after_seconds=0.3)
    sim_hook.execute_workflow("hold", {"blocker": True}, run_id="blocker", async_execution=True)

    def free_the_slot_after_three_refusals(_handle: RunHandle) -> None:
        wait_until(lambda: refused(emulator, "/echo/execute") >= 3, what="three refused executes")
        emulator.control.release(["blocker"])

    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="queued", workflow_id="echo", input={"n": 2}, poll_interval=0.2)',
        during=free_the_slot_after_three_refusals,
    )
    ti = result.task("queued")
    assert (ti.state, ti.return_value) == ("success", {"n": 2}), result.tail()
    assert len(emulator.control.executions()) == 2  # the blocker and one run of the task: never two
    # logged once per change, not per try (one request id; Airflow 2 prints a task's log line twice)
    assert len(set(re.findall(r"waiting for our turn.*?request id ([0-9a-f-]+)", result.log))) == 1
    assert "no more runs in flight for this account" in result.log


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_pokes_through_a_rate_limit_longer_than_its_poke_interval(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook, mode: str
) -> None:
    # Airflow 3.0's reschedule mode fails on its third try (run_duration: datetime - str): one refusal
    refusals = 2 if mode == "poke" else 1
    sim_hook.execute_workflow("echo", {"seen": 1}, run_id="sensed-429", async_execution=True)
    emulator.control.add_fault(
        "/api/v2/workflows/echo/runs/sensed-429",
        status=429,
        times=refusals,
        headers={"Retry-After": "2"},
        body=RATE_LIMITED,
    )
    result = run_dag(
        'SimJobSensor(task_id="sense", workflow_id="echo", run_id="sensed-429", poke_interval=1, '
        f'mode="{mode}")'
    )
    ti = result.task("sense")
    assert (ti.state, ti.return_value) == ("success", {"seen": 1}), result.tail()
    assert "trying again at the next poke" in result.log
    assert refused(emulator, "/runs/sensed-429") == refusals
