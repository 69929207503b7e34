"""A DAG scheduled on the Asset a Sim run updated, reading that run's facts from the Asset event.

It runs whenever ``example_sim_assets`` updates the weekly summary. ``inlet_events[asset]`` lists
the Asset's events, oldest first (Airflow 2.10+ and 3 alike); the last one's ``extra`` names the
Sim run that produced the summary, its status, duration and cost, which this DAG hands to a
follow-up workflow. Run by hand before any event, it hands on an empty dict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Asset, task

from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

WEEKLY_SUMMARY = Asset("s3://reports/weekly-summary.json")  # the Asset example_sim_assets updates

with DAG(
    dag_id="example_sim_assets_downstream",
    schedule=[WEEKLY_SUMMARY],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:

    @task(inlets=[WEEKLY_SUMMARY], multiple_outputs=False)  # one XCom, not one per key
    def upstream_sim_run(inlet_events: Any = None) -> dict[str, Any]:
        """The latest event's Sim run: id, status, duration (ms) and cost."""
        events = inlet_events[WEEKLY_SUMMARY]
        if not len(events):
            return {}
        extra = events[-1].extra
        return {key: extra.get(key) for key in ("sim_run_id", "sim_status", "sim_duration_ms", "sim_cost")}

    SimExecuteWorkflowOperator(
        task_id="review_summary",
        sim_conn_id="sim_default",
        workflow_id="echo",
        input={"review": "weekly-summary", "produced_by": upstream_sim_run()},
    )

if __name__ == "__main__":
    dag.test()
