"""Fifty mapped deferrable runs on real Airflow components, against an emulator shaped like Sim's
free plan.

``SimExecuteWorkflowOperator.partial(deferrable=True).expand(input=[...50 inputs...])``: each mapped
task starts an async run of the ``sleep`` workflow (2 s) in a LocalExecutor worker, defers, and the
one real triggerer then waits for all of them at once, polling every second, while the emulator
enforces the free plan's rate limits (5 s windows here, to keep the test short). Every task must end
``success`` with its input echoed back, and the emulator must have seen each input run exactly once —
no run lost, none started twice by a retry. The number of 429 answers per kind of request is printed.

Retries: Airflow 3.3.2 itself sometimes fails a task that resumes after deferring when its trigger
fires within seconds (a stale executor event; :meth:`AirflowCluster.stale_event_failures`; a plain
``TimeDeltaTrigger(2 s)`` DAG loses 1-4 of 50 tasks the same way on this harness; one occurrence
can cost two tries, as the resumed attempt then fails against the retry as well). The DAG allows
:data:`RETRIES` retries so that race does not decide the test — a retry must re-attach to the run of
the try before instead of starting another, which the one-execution-per-input check holds it to —
and the test fails if any task needed a retry for another reason (the task logs are in the message).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from tests.cluster.airflow_cluster import NOT_AIRFLOW_3_3, SKIP_REASON, AirflowCluster
from tests.dag_runner import dag_source

DAG_ID = "cluster_mapped_deferred_free_plan"
COUNT = 50
SLEEP_SECONDS = 2
INPUTS = [{"seconds": SLEEP_SECONDS, "i": i} for i in range(COUNT)]
#: bound for the DAG run alone (the cluster's start is bounded on its own)
RUN_TIMEOUT = 300.0
#: retries per task, for Airflow's own stale-event race only (see the module docstring)
RETRIES = 3

DAG_BODY = f"""
SimExecuteWorkflowOperator.partial(
    task_id="run", workflow_id="sleep", deferrable=True, poll_interval=1.0
).expand(input=[{{"seconds": {SLEEP_SECONDS}, "i": i}} for i in range({COUNT})])
"""

pytestmark = [pytest.mark.skipif(NOT_AIRFLOW_3_3, reason=SKIP_REASON), pytest.mark.timeout(600)]

#: path segments kept as they are when a path is turned into its kind; any other segment is an id
_LITERAL_SEGMENTS = frozenset(
    {"api", "v2", "workflows", "runs", "execute", "cancel", "resume", "jobs", "executions", "status"}
    | {"deployment", "users", "me", "usage-limits"}
)


def path_kind(method: str, path: str) -> str:
    """``POST /api/v2/workflows/{}/execute``-style: the request with its ids blanked out."""
    segments = [s if s in _LITERAL_SEGMENTS else "{}" for s in path.split("?")[0].strip("/").split("/")]
    return f"{method.upper()} /{'/'.join(segments)}"


def status_counts(received: list[dict[str, Any]]) -> dict[str, Counter[Any]]:
    """``{path kind: Counter(status)}``; ``status`` is ``None`` where the emulator records none."""
    kinds: dict[str, Counter[Any]] = {}
    for entry in received:
        kind = path_kind(str(entry.get("method", "?")), str(entry.get("path", "?")))
        kinds.setdefault(kind, Counter())[entry.get("status")] += 1
    return kinds


def _report(run_seconds: float, run_summary: str, received: list[dict[str, Any]]) -> None:
    print(f"\n[{DAG_ID}] DAG run took {run_seconds:.1f} s; {run_summary}")
    if received and "status" not in received[0]:
        print(f"[{DAG_ID}] (the emulator records no response status yet: 429 counts unknown)")
    unusual = [e for e in received if not 200 <= int(e.get("status") or 200) < 300]
    for entry in unusual[:30]:
        headers = {str(k).lower(): v for k, v in (entry.get("headers") or {}).items()}
        print(
            f"[{DAG_ID}]   #{entry.get('seq')} {entry.get('receivedAt')} "
            f"{path_kind(str(entry.get('method')), str(entry.get('path')))} -> {entry.get('status')}"
            f" run {headers.get('x-run-id', '?')} rateLimited={entry.get('rateLimited')}"
        )
    for kind, statuses in sorted(status_counts(received).items()):
        print(
            f"[{DAG_ID}] {kind}: {sum(statuses.values())} requests, {statuses.get(429, 0)} answered 429"
            f" (statuses {dict(sorted(statuses.items(), key=lambda kv: str(kv[0])))})"
        )


def test_mapped_deferred_runs_on_free_plan(airflow_cluster: AirflowCluster, emulator: EmulatorHandle) -> None:
    """All 50 mapped deferred tasks succeed, each run exactly once, each returning its input."""
    emulator.control.settings(plan="free", rate_limit_window_seconds=5)
    retries = f'{{"retries": {RETRIES}, "retry_delay": timedelta(seconds=1)}}'
    dag_kwargs = f"max_active_tasks=64, default_args={retries}"
    airflow_cluster.add_dag(DAG_ID, dag_source(DAG_ID, DAG_BODY, dag_kwargs=dag_kwargs))

    started = time.monotonic()
    run = airflow_cluster.run_dag(
        DAG_ID, timeout=RUN_TIMEOUT, progress=lambda line: print(f"[{DAG_ID}] {line}")
    )
    seconds = time.monotonic() - started
    received = emulator.control.requests_received()
    executions = emulator.control.executions()
    tasks = run.mapped("run")
    tries = Counter(t.try_number for t in tasks)
    races = airflow_cluster.stale_event_failures(DAG_ID, run.run_id)
    _report(seconds, f"{run.state}, task states {run.state_counts()}, tries {dict(tries)}", received)
    if races:
        hits = {f"{task}[{index}]": states for (task, index), states in sorted(races.items())}
        print(f"[{DAG_ID}] Airflow's stale-event race failed {len(races)} task(s) (states seen): {hits}")

    # every retry must be owed to one occurrence of the race, not to the provider
    retried = [t for t in tasks if t.try_number - 1 > len(races.get(("run", t.map_index), []))]
    assert not retried, "tasks retried for another reason than Airflow's stale-event race:\n" + "\n".join(
        f"===== run[{t.map_index}] {t.state} (try {t.try_number}) =====\n"
        + airflow_cluster.task_log(DAG_ID, run.run_id, "run", t.map_index, lines=80)
        for t in retried[:3]
    )

    assert [t.map_index for t in tasks] == list(range(COUNT)), airflow_cluster.explain(run)
    assert all(t.state == "success" for t in tasks), airflow_cluster.explain(run)
    assert run.state == "success", airflow_cluster.explain(run)

    by_input = Counter(e["input"].get("i") if isinstance(e.get("input"), dict) else None for e in executions)
    duplicated = {i: n for i, n in by_input.items() if n > 1}
    assert not duplicated, f"inputs run more than once: {duplicated}"
    assert len(executions) == COUNT, f"{len(executions)} runs for {COUNT} inputs: {sorted(by_input, key=str)}"
    assert sorted(e["input"]["i"] for e in executions) == list(range(COUNT))
    assert all(e["input"] == INPUTS[e["input"]["i"]] for e in executions)
    assert all(e["workflowId"] == "sleep" and e["status"] == "completed" for e in executions), [
        (e["id"], e["workflowId"], e["status"]) for e in executions if e["status"] != "completed"
    ]

    wrong = {t.map_index: t.return_value for t in tasks if t.return_value != INPUTS[t.map_index]}
    assert not wrong, f"return values that are not the task's input: {wrong}"


def test_path_kind() -> None:
    """Ids are blanked, the route's words kept."""
    assert path_kind("post", "/api/v2/workflows/sleep/execute") == "POST /api/v2/workflows/{}/execute"
    assert path_kind("GET", "/api/v2/workflows/sleep/runs/af-x-try1") == "GET /api/v2/workflows/{}/runs/{}"
    assert path_kind("GET", "/api/jobs/j-1?x=1") == "GET /api/jobs/{}"
    assert path_kind("GET", "/api/users/me/usage-limits") == "GET /api/users/me/usage-limits"
