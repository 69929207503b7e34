"""A workflow that pauses for a human (Sim's human-in-the-loop block).

``on_pause`` says what the task does when the run stops for input:
``"wait"`` (default) keeps waiting until someone answers in Sim, ``"succeed"`` ends the task
successfully at the pause (``sim_status`` is ``"paused"``), ``"fail"`` fails it. Here the task
succeeds at the pause, and the link to the paused run is in XCom (``sim_run_url``) for whoever
answers. To wait for the answer later, add a sensor on the same run::

    SimJobSensor(task_id="wait_for_answer", workflow_id="approval",
                 run_id="{{ ti.xcom_pull(task_ids='request_approval', key='sim_run_id') }}",
                 deferrable=True)
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

with DAG(
    dag_id="example_sim_paused",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    SimExecuteWorkflowOperator(
        task_id="request_approval",
        sim_conn_id="sim_default",
        workflow_id="approval",  # the emulator's workflow that pauses for a human decision
        input={"expense": {"amount": 1250, "currency": "EUR"}},
        on_pause="succeed",
        poll_interval=1,
    )

if __name__ == "__main__":
    dag.test()
