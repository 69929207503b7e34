"""Start a Sim run, do other work, and wait for it later with SimJobSensor.

``wait_for_completion=False`` returns as soon as Sim has queued the run; its id is in XCom
(``sim_run_id``, also the return value). The sensor waits for that run and returns its output;
``mode="reschedule"`` frees the worker slot between checks (or use ``deferrable=True``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator
from airflow_provider_sim.sensors.sim import SimJobSensor

with DAG(
    dag_id="example_sim_fire_and_forget",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    start = SimExecuteWorkflowOperator(
        task_id="start_workflow",
        sim_conn_id="sim_default",
        workflow_id="sleep",
        input={"seconds": 2},
        wait_for_completion=False,
    )

    wait = SimJobSensor(
        task_id="wait_for_workflow",
        sim_conn_id="sim_default",
        workflow_id="sleep",
        run_id="{{ ti.xcom_pull(task_ids='start_workflow', key='sim_run_id') }}",
        mode="reschedule",
        poke_interval=1,
        timeout=3600,
    )
    start >> wait

if __name__ == "__main__":
    dag.test()
