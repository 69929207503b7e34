"""Answer a Sim run paused for a person from the DAG itself (``SimResumeRunOperator``).

The workflow pauses at its Human in the Loop block; the first task ends at the pause
(``on_pause="succeed"``), a Python task decides from the request, and ``SimResumeRunOperator``
sends that decision as the resume form's input to the pause the run waits at now, then waits for
the run to finish and returns its output. Works on every Airflow line. To have a *person* answer in
Airflow's Required Actions instead (Airflow 3.1+), give the workflow task ``on_pause="airflow"``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_sim.operators.resume import SimResumeRunOperator
from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

EXPENSE = {"request": "team offsite", "amount": 1250}

with DAG(
    dag_id="example_sim_resume",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    request = SimExecuteWorkflowOperator(
        task_id="request_approval",
        sim_conn_id="sim_default",
        workflow_id="approval",  # the emulator's workflow that pauses for a human decision
        input=EXPENSE,
        on_pause="succeed",  # end this task at the pause; the run waits in Sim
        poll_interval=1,
    )

    @task
    def decide() -> dict[str, Any]:
        """The policy that answers instead of a person."""
        approved = EXPENSE["amount"] <= 2000
        return {"approved": approved, "comment": "within budget" if approved else "over budget"}

    answer = SimResumeRunOperator(
        task_id="answer",
        sim_conn_id="sim_default",
        workflow_id="approval",
        run_id="{{ ti.xcom_pull(task_ids='request_approval', key='sim_run_id') }}",
        input="{{ ti.xcom_pull(task_ids='decide') | tojson }}",
        wait_for_completion=True,
        poll_interval=1,
    )
    request >> decide() >> answer

if __name__ == "__main__":
    dag.test()
