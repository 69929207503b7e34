"""A Sim run that updates an Asset: the Asset event carries the run's id, status, duration and cost.

Give the task ``outlets``; when it succeeds, Airflow records an event for each Asset (a Dataset on
Airflow 2), and its ``extra`` holds the run's facts under the XCom names: ``sim_run_id``,
``sim_workflow_id``, ``sim_status``, ``sim_duration_ms``, ``sim_cost`` and ``sim_run_url`` (each key
there, ``None`` where Sim reported nothing). A DAG scheduled on the Asset reads them:
``example_sim_assets_downstream``. With OpenLineage on, the outlets are the task's output datasets.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

# what the workflow writes; Airflow only names it
WEEKLY_SUMMARY = Asset("s3://reports/weekly-summary.json")

with DAG(
    dag_id="example_sim_assets",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    SimExecuteWorkflowOperator(
        task_id="summarise_week",
        sim_conn_id="sim_default",
        workflow_id="echo",
        input={"report": "weekly-summary", "week_ending": "{{ ds }}"},
        outlets=[WEEKLY_SUMMARY],
    )

if __name__ == "__main__":
    dag.test()
