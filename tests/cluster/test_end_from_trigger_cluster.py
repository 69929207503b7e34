"""``end_from_trigger=True`` on real Airflow 3.3 components: the triggerer ends the task.

A completed run: the task succeeds in its first try without going back to a worker (no
``execute_complete``: the worker's "Sim run ... ended" line is not in the task's log), its XComs are
the ones the worker path leaves, and a downstream task reads the output from XCom as any other.
A failed run resumes in the worker as without the option and fails the task with Sim's message.
"""

from __future__ import annotations

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from tests.cluster.airflow_cluster import NOT_AIRFLOW_3_3, SKIP_REASON, AirflowCluster
from tests.dag_runner import dag_source

DAG_ID = "cluster_end_from_trigger"
OUTPUT = {"q": [1, "two", None], "text": "é"}
DAG_BODY = f"""
from airflow.providers.common.compat.sdk import task

ends = SimExecuteWorkflowOperator(
    task_id="ends", workflow_id="echo", input={OUTPUT!r}, deferrable=True, end_from_trigger=True,
    poll_interval=0.5,
)

@task
def downstream(value: dict) -> dict:
    return {{"got": value}}

downstream(ends.output)
SimExecuteWorkflowOperator(
    task_id="fails", workflow_id="fail", input={{"message": "tool crashed", "seconds": 2}},
    deferrable=True, end_from_trigger=True, poll_interval=0.5, retries=1,
    retry_delay=timedelta(seconds=1),
)
"""

pytestmark = [pytest.mark.skipif(NOT_AIRFLOW_3_3, reason=SKIP_REASON), pytest.mark.timeout(600)]


def test_completed_run_ends_in_the_triggerer(
    airflow_cluster: AirflowCluster, emulator: EmulatorHandle
) -> None:
    airflow_cluster.add_dag(DAG_ID, dag_source(DAG_ID, DAG_BODY))
    run = airflow_cluster.run_dag(DAG_ID, timeout=300, xcom_keys=None)
    ends, fails = run.task("ends"), run.task("fails")
    ends_log = airflow_cluster.task_log(DAG_ID, run.run_id, "ends")
    [execution] = [e for e in emulator.control.executions() if e["workflowId"] == "echo"]

    assert (ends.state, ends.try_number) == ("success", 1), airflow_cluster.explain(run)
    assert ends.return_value == OUTPUT
    assert ends.xcom["sim_status"] == "completed" and ends.xcom["sim_run_id"] == execution["id"]
    assert isinstance(ends.xcom["sim_duration_ms"], int | float)
    assert run.task("downstream").return_value == {"got": OUTPUT}, airflow_cluster.explain(run)
    # the worker's execute_complete would log the end of the run; the triggerer ended the task instead
    assert f"Sim run {execution['id']} is completed" in ends_log, ends_log
    assert f"Sim run {execution['id']} ended completed" not in ends_log, ends_log

    assert fails.state == "failed", airflow_cluster.explain(run)
    assert "Workflow failed: tool crashed" in airflow_cluster.task_log(DAG_ID, run.run_id, "fails")
