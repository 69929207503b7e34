"""``end_from_trigger=True`` through real Airflow (``dag.test()``) and at construction.

``dag.test()`` does not end tasks from the trigger: it resumes the task with the bare
``TaskSuccessEvent`` payload, and the task reads its run again and finishes in the worker. The
triggerer's own path (XComs written by the triggerer, no second worker turn) is tested on a real
cluster in ``tests/cluster/test_end_from_trigger_cluster.py`` and at the trigger in
``tests/triggers/test_sim_trigger_end.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator
from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS, Asset
from tests.dag_runner import RunDag
from tests.operators.test_sim_operator import assert_deferred, assert_published

AIRFLOW_2 = pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="refused on Airflow 3 (XComs stored as strings)")

IMPORTS = "from airflow.providers.common.compat.sdk import task\n"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"deferrable": False}, "deferrable=False"),
        ({"deferrable": True, "wait_for_completion": False}, "wait_for_completion=False"),
        ({"stream": True, "deferrable": False}, "stream=True"),
        ({"deferrable": True, "do_xcom_push": False}, "do_xcom_push=False"),
        ({"deferrable": True, "outlets": [Asset("sim://workflows/echo")]}, "Asset outlets"),
    ],
)
def test_combinations_that_need_the_worker_are_refused(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(
        SimConfigurationError, match=f"end_from_trigger=True .*{named}.*Drop end_from_trigger"
    ):
        SimExecuteWorkflowOperator(task_id="t", workflow_id="echo", end_from_trigger=True, **kwargs)


@AIRFLOW_2
def test_off_by_default_and_passed_to_the_trigger() -> None:
    assert SimExecuteWorkflowOperator(task_id="t", workflow_id="echo").end_from_trigger is False
    op = SimExecuteWorkflowOperator(task_id="t", workflow_id="echo", deferrable=True, end_from_trigger=True)
    assert op.end_from_trigger is True


@AIRFLOW_2
def test_completed_run_returns_its_output(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="ends", workflow_id="echo", input={"q": [1, "two"]},
                                   deferrable=True, end_from_trigger=True, poll_interval=0.2)

        @task.sim(workflow_id="echo", deferrable=True, end_from_trigger=True, poll_interval=0.2)
        def decorated() -> dict:
            return {"from": "task.sim"}

        decorated()
        """,
        imports=IMPORTS,
    )
    ti = result.task("ends")
    assert ti.state == "success", result.tail()
    assert ti.return_value == {"q": [1, "two"]}
    [execution] = [e for e in emulator.control.executions() if e["input"] == {"q": [1, "two"]}]
    assert_published(ti, execution, emulator, "completed")
    assert result.task("decorated").state == "success", result.tail()
    assert result.task("decorated").return_value == {"from": "task.sim"}
    executions = emulator.control.executions()
    assert len(executions) == 2
    for run in executions:
        assert_deferred(result, run["id"])
        # dag.test() resumed the task the trigger ended; it read its run again
        assert f"The trigger saw Sim run {run['id']} complete; this runner resumed" in result.log


@AIRFLOW_2
def test_failed_run_still_fails_with_its_message(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="fails", workflow_id="fail", input={"message": "tool crashed"},
                                   deferrable=True, end_from_trigger=True, poll_interval=0.2)
        """
    )
    assert result.task("fails").state == "failed", result.tail()
    assert "Workflow failed: tool crashed" in result.log
    assert "this runner resumed the task" not in result.log  # the usual event, not the task's end
    [execution] = emulator.control.executions()
    assert execution["status"] == "failed"


@pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS, reason="Airflow 2.10+ stores the event's XComs as the worker does"
)
def test_refused_on_airflow_3() -> None:
    with pytest.raises(SimConfigurationError, match=r"Airflow 3 .*as a string"):
        SimExecuteWorkflowOperator(task_id="t", workflow_id="echo", deferrable=True, end_from_trigger=True)
