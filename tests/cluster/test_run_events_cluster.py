"""``example_sim_run_events`` on real Airflow 3.3 components: Sim runs that end — started here by
the test, as Sim's own schedule or another Airflow would — become Asset events through the
triggerer's SimRunEndedTrigger, and each event runs the DAG. A triggerer stopped (SIGTERM) once its
state is stored neither repeats a run's event nor loses one; one killed (SIGKILL) right after an
event loses none (it may repeat that last one: see the trigger's module docstring).

The test waits (bounded) for what Airflow records, never for a time.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.hooks.sim import SimHook
from tests.cluster.airflow_cluster import (
    NOT_AIRFLOW_3_3,
    SKIP_REASON,
    AirflowCluster,
    ClusterSettings,
    Component,
    wait_for,
)

DAG_ID = "example_sim_run_events"
ASSET_NAME = "sim_echo_runs_ended"
EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / f"{DAG_ID}.py"

pytestmark = [pytest.mark.skipif(NOT_AIRFLOW_3_3, reason=SKIP_REASON), pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster_settings() -> ClusterSettings:
    """A killed triggerer's triggers move to the next one after 10 s without a heartbeat (not 30)."""
    return ClusterSettings(
        extra_env={
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        }
    )


def list_calls(emulator: EmulatorHandle, workflow_id: str) -> int:
    path = f"/api/v2/workflows/{workflow_id}/runs"
    return sum(1 for r in emulator.control.requests_received() if r["path"] == path)


def asset_id(cluster: AirflowCluster) -> int:
    assets = cluster.api("GET", "/api/v2/assets", params={"name_pattern": ASSET_NAME})["assets"]
    (asset,) = [a for a in assets if a["name"] == ASSET_NAME]
    return int(asset["id"])


def fired(cluster: AirflowCluster) -> list[str]:
    """The Sim run ids of the Asset's events, one entry per event.

    Airflow 3.3 answers this list with 500 while a DAG run an event created is still queued (its
    ``start_date`` is null, which the answer's model does not allow); the next read, once the
    scheduler has started that run, succeeds. Such a read is repeated, a few times at most.
    """
    params = {"asset_id": asset_id(cluster), "limit": 100}
    for _ in range(30):
        body = cluster.api("GET", "/api/v2/assets/events", params=params, ok=(500,))
        if isinstance(body, dict) and "asset_events" in body:
            return [e["extra"]["payload"]["run_id"] for e in body["asset_events"]]
        time.sleep(1)
    raise AssertionError(f"GET /api/v2/assets/events answered 500 for 30 s: {body}")


def stored_reported(cluster: AirflowCluster) -> set[str]:
    """The runs the trigger's stored state counts as reported (the Asset's state store)."""
    path = f"/api/v2/assets/{asset_id(cluster)}/state-store/sim_run_events"
    entry = cluster.api("GET", path, ok=(404,))
    value = entry.get("value") if isinstance(entry, dict) else None
    return set((value or {}).get("reported", {}))


def the_triggerer(cluster: AirflowCluster) -> Component:
    (triggerer,) = [c for c in cluster.components if c.name.startswith("triggerer") and c.alive()]
    cluster.components.remove(triggerer)  # gone on purpose: not a death the cluster should report
    return triggerer


def reported(cluster: AirflowCluster) -> list[dict[str, Any]]:
    """What the DAG's ``report`` task returned, over every finished DAG run."""
    runs = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
    out: list[dict[str, Any]] = []
    for run in runs:
        if run["state"] == "success":
            out += cluster.xcom(DAG_ID, run["dag_run_id"], "report") or []
    return out


def wait(cluster: AirflowCluster, condition: Any, what: str) -> Any:
    return wait_for(condition, timeout=180, what=what, check=cluster.check_alive, details=cluster.diagnostics)


def test_each_ended_run_schedules_the_dag_once_through_a_triggerer_restart(
    airflow_cluster: AirflowCluster, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    cluster = airflow_cluster
    cluster.add_dag(DAG_ID, EXAMPLE.read_text())
    cluster.unpause(DAG_ID)
    wait(cluster, lambda: list_calls(emulator, "echo") >= 1, "the watcher's first list of echo's runs")

    before = [sim_hook.execute_workflow("echo", {"n": n}, run_id=f"before-{n}").run_id for n in (1, 2)]
    wait(cluster, lambda: sorted(fired(cluster)) == before, "an Asset event for each run")
    wait(cluster, lambda: set(before) <= stored_reported(cluster), "the state stored after those events")
    the_triggerer(cluster).stop()  # SIGTERM, as a deploy does
    while_down = sim_hook.execute_workflow("echo", {"n": 3}, run_id="while-down").run_id
    cluster.start_triggerer()
    listed = list_calls(emulator, "echo")
    wait(cluster, lambda: list_calls(emulator, "echo") >= listed + 1, "the new triggerer listing echo's runs")
    after = sim_hook.execute_workflow("echo", {"n": 4}, run_id="after").run_id
    expected = [*before, while_down, after]
    wait(cluster, lambda: sorted(fired(cluster)) == sorted(expected), "the events of the later runs")
    listed = list_calls(emulator, "echo")
    wait(cluster, lambda: list_calls(emulator, "echo") >= listed + 2, "two more lists after the last event")
    assert Counter(fired(cluster)) == dict.fromkeys(expected, 1)  # each run once: none repeated, none lost

    wait(cluster, lambda: len(reported(cluster)) >= len(expected), "a DAG run reporting each Sim run")
    reports = {r["run_id"]: r for r in reported(cluster)}
    assert set(reports) == set(expected)
    assert reports["after"]["status"] == "completed" and reports["after"]["output"] == {"n": 4}
    assert all(r["started_at"] and r["ended_at"] and r["duration_ms"] is not None for r in reports.values())

    # a crash right after an event: nothing is lost
    crashed = sim_hook.execute_workflow("echo", {"n": 5}, run_id="crash").run_id
    wait(cluster, lambda: crashed in fired(cluster), "the event of the run before the crash")
    killed = the_triggerer(cluster)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.proc.wait(timeout=30)
    while_dead = sim_hook.execute_workflow("echo", {"n": 6}, run_id="while-dead").run_id
    # its job counts as alive until its heartbeat is overdue; its trigger moves on only then
    wait(cluster, lambda: not cluster.alive_triggerer_jobs(), "the killed triggerer's heartbeat overdue")
    cluster.start_triggerer()
    wait(cluster, lambda: while_dead in fired(cluster), "the event of the run that ended while none ran")
    counts = Counter(fired(cluster))
    assert {run_id: counts[run_id] for run_id in expected} == dict.fromkeys(expected, 1)
    assert counts[crashed] in (1, 2) and counts[while_dead] == 1
