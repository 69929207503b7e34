"""300 mapped tasks on a production-shaped Airflow 3.3 — PostgreSQL, CeleryExecutor on Redis with two
workers, two triggerers — against an emulator metering like Sim's pro plan, while the test kills
components under them.

The DAG maps 40 inputs over Sim's synchronous call, 60 over polling in the worker and 200 over
deferring to a triggerer, each a ``sleep`` run of 10-60 s; it is triggered through the REST API.
The tasks that wait in a worker share a pool of half the workers' slots, polling ones first, so the
deferred ones keep moving beside them (as the README advises for a Sim plan).
Meanwhile, each kill only once the victim demonstrably holds work:

1. SIGKILL the triggerer holding the most pending triggers (rows of ``trigger`` assigned to its job):
   the other one must start every one of them (its log: ``trigger ... (ID n) starting``);
2. SIGKILL a Celery worker whose process tree runs a polling task whose Sim run is still going for
   10 s more (a replacement worker is started, as a supervisor would): the scheduler fails the
   orphaned tries after the heartbeat timeout, and the retry re-attaches to the run;
3. restart the api-server (SIGTERM, a new one on the same port).

Then: every task succeeded, the emulator saw exactly 300 executions (one per input, all completed,
no cancel), each task returned its input, no trigger row (read raw and decrypted) nor XCom row holds
the API key. The phases' times are printed. Retries: as in ``test_mapped_deferred_free_plan``,
Airflow's own stale-event race may cost a deferred task a try; the one-execution-per-input check holds
every retry to re-attaching instead of starting another run.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorControl
from airflow_provider_sim.emulator.process import EmulatorProcess
from tests.cluster.airflow_cluster import NOT_AIRFLOW_3_3, SKIP_REASON, AirflowCluster, Component, wait_for
from tests.cluster.production import (
    TASK_COUNTS,
    create_worker_wait_pool,
    inputs_for,
    pending_triggers,
    production_dag,
    production_settings,
    started_trigger_ids,
    trigger_rows_holding,
    triggers_by_triggerer,
    xcom_rows_holding,
)

DAG_ID = "cluster_production_mixed"
TOTAL = sum(TASK_COUNTS.values())
#: the DAG run alone, with room for a 2-core machine shared with other suites (README, "Running at scale")
RUN_TIMEOUT = 1800.0
#: a killed worker's task runs on only if its run has at least this many seconds to go
MIN_RUN_LEFT = 10.0
#: the triggerer is killed once it holds this many triggers
MIN_TRIGGERS_HELD = 10
API_KEY = f"sk-sim-production-{secrets.token_hex(12)}"

pytestmark = [pytest.mark.skipif(NOT_AIRFLOW_3_3, reason=SKIP_REASON), pytest.mark.timeout(3000)]


class Phases:
    """Named wall-clock phases, printed at the end."""

    def __init__(self) -> None:
        self.began = self.last = time.monotonic()
        self.rows: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.rows.append((name, now - self.last))
        self.last = now
        print(f"[{DAG_ID}] {name}: {self.rows[-1][1]:.1f} s (wall so far {now - self.began:.1f} s)")


PHASES = Phases()


@pytest.fixture(scope="module")
def pro_sim() -> Iterator[EmulatorProcess]:
    """An emulator of its own, metering like Sim's pro plan (``--plan pro``)."""
    with EmulatorProcess(api_key=API_KEY, plan="pro") as server:
        yield server


@pytest.fixture(scope="module")
def cluster(pro_sim: EmulatorProcess) -> Iterator[AirflowCluster]:
    """The production-shaped cluster, its ``sim_default`` pointing at :func:`pro_sim`."""
    PHASES.mark("(before the cluster)")
    with AirflowCluster(
        sim_base_url=pro_sim.base_url, sim_api_key=API_KEY, settings=production_settings()
    ) as started:
        PHASES.mark("cluster start (PostgreSQL, Redis, migrate, 7 components)")
        yield started


def _busiest_triggerer(cluster: AirflowCluster) -> tuple[Component, set[int]]:
    """Wait until a triggerer holds :data:`MIN_TRIGGERS_HELD` triggers; it and their ids."""

    def busiest() -> tuple[Component, set[int]] | None:
        held = triggers_by_triggerer(cluster)
        ranked = sorted(
            ((len(held.get(t.job_id, set())), t) for t in cluster.alive("triggerer")), key=lambda x: -x[0]
        )
        if ranked and ranked[0][0] >= MIN_TRIGGERS_HELD:
            return ranked[0][1], held[ranked[0][1].job_id]
        return None

    found: tuple[Component, set[int]] = wait_for(
        busiest, timeout=300, what=f"a triggerer holding {MIN_TRIGGERS_HELD} triggers", interval=1.0
    )
    return found


def _polling_task_on_a_worker(
    cluster: AirflowCluster, control: EmulatorControl, run_id: str
) -> tuple[Component, dict[str, Any], str] | None:
    """A Celery worker, a ``polled`` task instance running in its process tree, and that task's
    Sim run, which has at least :data:`MIN_RUN_LEFT` seconds to go."""
    running = [
        ti
        for ti in cluster.task_instances(DAG_ID, run_id)
        if ti["task_id"] == "polled" and ti["state"] == "running" and ti.get("pid")
    ]
    if not running:
        return None
    executions = {e["id"]: e for e in control.executions()}
    for worker in cluster.alive("celery"):
        pids = worker.process_ids()
        for ti in running:
            sim_run = cluster.xcom(DAG_ID, run_id, "polled", "sim_run_id", ti["map_index"])
            execution = executions.get(sim_run) if sim_run else None
            if ti["pid"] not in pids or execution is None or execution["status"] != "running":
                continue
            age = time.time() - _epoch(execution["startedAt"])
            if execution["input"]["seconds"] - age >= MIN_RUN_LEFT:
                return worker, ti, str(sim_run)
    return None


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_production_cluster_survives_kills(cluster: AirflowCluster, pro_sim: EmulatorProcess) -> None:
    """300 mapped sync/polled/deferred tasks through a triggerer kill, a worker kill and an api-server
    restart: all succeed, one execution each, outputs right, no API key in trigger or XCom rows."""
    control = pro_sim.control
    control.reset()
    create_worker_wait_pool(cluster)
    source = production_dag(DAG_ID, TASK_COUNTS)
    cluster.add_dag(DAG_ID, source, timeout=180)
    cluster.unpause(DAG_ID)
    PHASES.mark("DAG parsed")
    run_id = cluster.trigger(DAG_ID)
    run_began = time.monotonic()

    # 1. a triggerer dies holding pending triggers; the other must take them all
    victim, held = _busiest_triggerer(cluster)
    rows, leaking = trigger_rows_holding(cluster, API_KEY)
    cluster.kill(victim)
    moved = pending_triggers(cluster, held)
    PHASES.mark(f"trigger -> {victim.name} (job {victim.job_id}) killed holding {len(moved)} pending")
    rows_after_kill, leaking_after_kill = trigger_rows_holding(cluster, API_KEY)
    wait_for(
        lambda: not triggers_by_triggerer(cluster).get(victim.job_id),
        timeout=120,
        what=f"the triggers of the dead {victim.name} reassigned",
        details=cluster.diagnostics,
    )
    survivor = cluster.alive("triggerer")[0]
    PHASES.mark(f"{victim.name}'s triggers reassigned to {survivor.name}")

    # 2. a worker dies while one of its tasks polls a run that is still going
    found = wait_for(
        lambda: _polling_task_on_a_worker(cluster, control, run_id),
        timeout=300,
        what="a polling task whose run has 10 s to go",
        interval=1.0,
    )
    worker, polled_ti, polled_run = found
    orphans = [
        (ti["task_id"], ti["map_index"])
        for ti in cluster.task_instances(DAG_ID, run_id)
        if ti["state"] == "running" and ti.get("pid") in worker.process_ids()
    ]
    cluster.kill(worker)
    replacement = cluster.start_celery_worker()
    PHASES.mark(f"-> {worker.name} killed running {len(orphans)} tasks; {replacement.name} started")
    polled_index = int(polled_ti["map_index"])

    def retried() -> bool:
        ti = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/polled/{polled_index}")
        return int(ti["try_number"]) > int(polled_ti["try_number"]) or ti["state"] == "success"

    wait_for(retried, timeout=420, what=f"polled[{polled_index}] retried", interval=2.0)
    PHASES.mark(f"polled[{polled_index}] retried after the heartbeat timeout")

    # 3. the api-server goes away and comes back
    _, api_gone = cluster.restart_api_server()
    PHASES.mark(f"api-server restarted ({api_gone:.1f} s without API)")

    state = cluster.wait_for_run(
        DAG_ID, run_id, timeout=RUN_TIMEOUT, progress=lambda line: print(f"[{DAG_ID}] {line}")
    )
    run_seconds = time.monotonic() - run_began
    PHASES.mark(f"-> DAG run {state}")
    run = cluster.collect(DAG_ID, run_id, xcom_keys=("return_value",), seconds=run_seconds)
    executions = control.executions()
    received = control.requests_received()
    PHASES.mark("read back")

    tries = Counter((t.task_id, t.try_number) for t in run.tasks)
    print(f"[{DAG_ID}] DAG run {run_seconds:.1f} s, states {run.state_counts()}, tries {dict(tries)}")
    print(f"[{DAG_ID}] wall {time.monotonic() - PHASES.began:.1f} s; phases {PHASES.rows}")
    print(f"[{DAG_ID}] worker kill orphaned {orphans}")

    assert state == "success" and len(run.tasks) == TOTAL, cluster.explain(run)
    assert all(t.state == "success" for t in run.tasks), cluster.explain(run)

    # exactly one execution per input, each completed, none cancelled
    seen = Counter((e["input"]["task"], e["input"]["i"]) for e in executions)
    assert len(executions) == TOTAL, f"{len(executions)} executions for {TOTAL} inputs: {seen.most_common(5)}"
    assert set(seen) == {(task, i) for task, n in TASK_COUNTS.items() for i in range(n)}
    assert all(e["status"] == "completed" for e in executions), [
        (e["id"], e["status"]) for e in executions if e["status"] != "completed"
    ]
    assert not [r for r in received if str(r.get("path", "")).endswith("/cancel")]

    wrong = [
        (t.task_id, t.map_index, t.return_value)
        for t in run.tasks
        if t.return_value != inputs_for(t.task_id)[t.map_index]
    ]
    assert not wrong, f"return values that are not the task's input: {wrong[:5]}"

    # the kills did what they are for
    assert survivor.job_id is not None
    missing = moved - started_trigger_ids(cluster, survivor.job_id)
    assert moved and not missing, f"{survivor.name} never started moved triggers {sorted(missing)}"
    polled_final = run.task("polled", polled_index)
    assert polled_final.try_number > int(polled_ti["try_number"])
    log = cluster.task_log(DAG_ID, run_id, "polled", polled_index, lines=400)
    assert f"Re-attaching to Sim run {polled_run}" in log, log
    assert all(run.task(task, index).try_number > 1 for task, index in orphans)

    # no secret at rest
    assert rows and rows_after_kill, "no trigger rows were read: the secrets check saw nothing"
    assert not leaking + leaking_after_kill, (
        f"trigger rows holding the API key: {leaking + leaking_after_kill}"
    )
    assert not xcom_rows_holding(cluster, API_KEY)
