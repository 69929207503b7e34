"""Write Sim tasks as TaskFlow functions with ``@task.sim``.

The decorated function returns the workflow input; the task returns the workflow output, so the
next task takes it like any TaskFlow value. The decorator takes the operator's arguments
(``workflow_id``, ``deferrable``, ``timeout``, ...); the function's arguments are templated and map
with ``.partial()`` / ``.expand()`` like any ``@task``. Here: one deferred Sim run per ticket,
then one Python task over all the outputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

with DAG(
    dag_id="example_sim_taskflow",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:

    @task
    def fetch_tickets() -> list[str]:
        return ["Login fails on Safari", "Export to CSV is slow", "Typo on the pricing page"]

    @task.sim(workflow_id="echo", deferrable=True, poll_interval=1, timeout=600)
    def triage(text: str, day: str) -> dict[str, str]:
        return {"text": text, "received": day}

    @task
    def report(triaged: list[dict[str, Any]]) -> list[str]:
        return [f"{t['received']}: {t['text']}" for t in triaged]

    report(triage.partial(day="{{ ds }}").expand(text=fetch_tickets()))

if __name__ == "__main__":
    dag.test()
