"""Schedule a DAG on "Sim workflow X finished" (Airflow 3.0+): an Asset watched by SimRunEndedTrigger.

Every run of the workflow that ends — started by Sim's own schedule, a webhook, chat, the API or
another Airflow — becomes one event of the Asset ``sim://workflows/echo/runs``, and each event runs
this DAG. The event's ``extra["payload"]`` carries the run's id, status, start and end times,
duration and cost; Sim's run list has no output, so ``report`` reads it from the run where needed.
The trigger lists the workflow's runs every ``poll_interval`` seconds in the triggerer (one list per
interval for every watcher of the workflow there) and keeps where it was in Airflow, so a restarted
triggerer reports the runs that ended meanwhile, once each.

On Airflow 2 this file defines no DAG (there are no event triggers before 3.0).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airflow_provider_sim.hooks.sim import SimHook
    from airflow_provider_sim.triggers.run_events import SimRunEndedTrigger

    echo_runs_ended = Asset(
        name="sim_echo_runs_ended",
        uri="sim://workflows/echo/runs",
        watchers=[
            AssetWatcher(
                name="sim_echo_runs_ended",
                trigger=SimRunEndedTrigger(workflow_id="echo", sim_conn_id="sim_default", poll_interval=2),
            )
        ],
    )

    with DAG(
        dag_id="example_sim_run_events",
        schedule=[echo_runs_ended],
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["example", "sim"],
    ) as dag:

        @task
        def report(**context: Any) -> list[dict[str, Any]]:
            """One line per Sim run whose end triggered this DAG run, with the output of completed ones."""
            hook = SimHook("sim_default")
            reports = []
            for events in context["triggering_asset_events"].values():
                for event in events:
                    run = event.extra["payload"]
                    if run["status"] == "completed":
                        run = {**run, "output": hook.get_run(run["workflow_id"], run["run_id"]).output}
                    print(f"Sim run {run['run_id']}: {run['status']}, cost {run['cost']}")
                    reports.append(run)
            return reports

        report()

if __name__ == "__main__":
    dag.test()
