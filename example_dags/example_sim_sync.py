"""Run a Sim workflow with Sim's synchronous call and use its output downstream.

``async_execution=False`` sends one request and gets the finished run back: simplest for short
workflows (Sim caps synchronous runs at 300 s on free plans, 3,000 s on paid ones). The workflow
ids in these examples are the local emulator's (``make demo`` starts it); use your own with a
``sim_default`` connection (type Sim: host = base URL, password = API key).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

with DAG(
    dag_id="example_sim_sync",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    # The return value (XCom "return_value") is the workflow's output; "sim_run_id", "sim_status",
    # "sim_duration_ms" and "sim_run_url" (the "Sim run" button) are pushed too.
    ask = SimExecuteWorkflowOperator(
        task_id="run_workflow",
        sim_conn_id="sim_default",
        workflow_id="echo",
        input={"question": "What changed in yesterday's sales?", "run_date": "{{ ds }}"},
        async_execution=False,
    )

    # Any templated field can read it, e.g. the next workflow's input.
    follow_up = SimExecuteWorkflowOperator(
        task_id="follow_up",
        sim_conn_id="sim_default",
        workflow_id="echo",
        input="{{ ti.xcom_pull(task_ids='run_workflow') | tojson }}",
        async_execution=False,
    )
    ask >> follow_up

if __name__ == "__main__":
    dag.test()
