"""Run one Sim workflow per item with dynamic task mapping.

``.partial(...)`` holds what every run shares; ``.expand(input=[...])`` makes one task instance
per input. Each mapped instance names its own run, so retries re-attach per item and no item
runs twice.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

with DAG(
    dag_id="example_sim_mapped",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    SimExecuteWorkflowOperator.partial(
        task_id="summarise_ticket",
        sim_conn_id="sim_default",
        workflow_id="echo",
        async_execution=False,
    ).expand(
        input=[
            {"ticket": "T-101", "text": "Login fails on Safari"},
            {"ticket": "T-102", "text": "Export to CSV is slow"},
            {"ticket": "T-103", "text": "Typo on the pricing page"},
        ]
    )

if __name__ == "__main__":
    dag.test()
