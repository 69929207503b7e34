"""Wait for a long Sim run in the triggerer instead of a worker slot (``deferrable=True``).

The task starts the run asynchronously, pushes its id and link, then defers: the triggerer polls
Sim until the run ends and the task resumes with the result. No worker slot is held meanwhile,
and a restarted triggerer resumes the wait from the run id (it never starts a second run).
``timeout`` bounds the wait; when it passes, the run is cancelled on Sim and the task fails.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

with DAG(
    dag_id="example_sim_deferrable",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    SimExecuteWorkflowOperator(
        task_id="run_workflow",
        sim_conn_id="sim_default",
        workflow_id="sleep",  # the emulator's slow workflow: waits input.seconds, then echoes
        input={"seconds": 3, "report": "weekly-summary"},
        deferrable=True,
        poll_interval=1,  # seconds between status reads in the triggerer
        timeout=600,  # seconds to wait before cancelling the run
    )

if __name__ == "__main__":
    dag.test()
