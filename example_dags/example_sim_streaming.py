"""Stream a Sim run: each chunk is written to the task log as the workflow produces it.

``stream=True`` uses Sim's synchronous call with Server-Sent Events, so it runs in the worker
(it cannot defer) and returns the final output like the other modes.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

with DAG(
    dag_id="example_sim_streaming",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:
    SimExecuteWorkflowOperator(
        task_id="stream_answer",
        sim_conn_id="sim_default",
        workflow_id="stream",  # the emulator's agent: streams the words of input.text
        input={"text": "Streaming keeps the task log alive while the agent writes"},
        stream=True,
    )

if __name__ == "__main__":
    dag.test()
