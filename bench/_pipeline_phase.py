"""One phase of the pipeline benchmark: set the emulator's plan, trigger the DAG, wait, read back.

Everything a phase reports is read after the DAG run ended: task states and tries and return
values from Airflow's REST API, stale-event races from the scheduler log, runs from the emulator
(``/_emulator/executions``), answers and 429 kinds from the recording proxy.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from bench import _common, _pipeline


@dataclass(frozen=True)
class PhaseSpec:
    """What to run: ``plan`` ``None`` is the baseline (no limits at all, per-IP bucket off too).

    :param run_s: each run's seconds (0 for the baseline).
    """

    label: str
    plan: str | None
    dag_id: str
    n: int
    k: float
    run_s: float


@dataclass
class Phase:
    """What one phase measured (see :func:`run_phase`)."""

    spec: PhaseSpec
    run_id: str = ""
    done: bool = False
    wall: float = 0.0
    parallelism: int = 0
    cap: int | None = None
    floor: dict[str, float] = field(default_factory=lambda: {"runs": 0.0, "reads": 0.0, "floor": 0.0})
    succeeded: int = 0
    states: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    race_retries: int = 0
    executions: int = 0
    duplicated: dict[int, int] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)
    not_completed: int = 0
    wrong_returns: int = 0
    peak_in_flight: int = 0
    requests: int = 0
    limits: dict[str, dict[str, int]] = field(default_factory=dict)
    concurrency_429s: int = 0
    rate_429s: int = 0
    where: dict[str, float] = field(default_factory=dict)
    cpu_busy: float = 0.0
    loadavg: list[float] = field(default_factory=list)
    #: ``runs``: ``[startedAt, endedAt, input i]``; ``execute``: ``[at, status, 429 kind]`` (epoch s)
    timeline: dict[str, list[list[Any]]] = field(default_factory=dict)

    def raw(self) -> dict[str, Any]:
        """The phase as JSON-ready numbers."""
        out = asdict(self)
        out["duplicated"] = {str(i): c for i, c in self.duplicated.items()}
        return out


def _settings(spec: PhaseSpec, window: float, retry_after: float) -> dict[str, Any]:
    if spec.plan is None:
        return {"plan": None, "rate_limit_ip": None, "rate_limit_window_seconds": window}
    return {
        "plan": spec.plan,
        "rate_limit_window_seconds": window,
        "concurrency_retry_after_seconds": retry_after,
    }


def run_phase(
    cluster: Any, emu: Any, proxy: _pipeline.RecordingProxy, spec: PhaseSpec, **clock: float
) -> Phase:
    """Reset the emulator to ``spec``'s plan, trigger ``spec.dag_id`` and measure its run.

    :param clock: ``window`` and ``retry_after`` (seconds, already compressed).
    """
    import time

    from airflow_provider_sim.emulator.config import PLANS
    from tests.cluster.airflow_cluster import ClusterError

    phase = Phase(spec, parallelism=cluster.parallelism)
    window = clock["window"]
    if spec.plan is not None:
        limits = PLANS[spec.plan]
        phase.cap = limits.in_flight
        phase.floor = _pipeline.plan_floor(spec.n, limits.in_flight, spec.run_s, limits.api, window)
    emu.control.reset()
    emu.control.settings(**_settings(spec, window, clock["retry_after"]))
    proxy.clear()
    bound = max(600.0, 4 * phase.floor["floor"] + 300.0)
    cluster.unpause(spec.dag_id)
    cpu0, t_trigger = _pipeline.cpu_times(), time.time()
    phase.run_id = cluster.trigger(spec.dag_id)
    path = f"/api/v2/dags/{quote(spec.dag_id)}/dagRuns/{quote(phase.run_id, safe='')}"
    try:
        cluster.wait_for_run(
            spec.dag_id, phase.run_id, timeout=bound, progress=lambda line: print(f"[pipeline] {line}")
        )
        phase.done = True
    except ClusterError as err:
        print(f"[pipeline] {spec.label}: {str(err)[:2000]}", flush=True)
        cluster.api("PATCH", path, json_body={"state": "failed"}, ok=(400, 409))
    cpu1 = _pipeline.cpu_times()
    ended = _pipeline.epoch(cluster.api("GET", path).get("end_date")) if phase.done else None
    dag_end = ended if ended is not None else time.time()
    phase.wall = dag_end - t_trigger
    phase.cpu_busy = _pipeline.busy_share(cpu0, cpu1)
    phase.loadavg = [round(x, 2) for x in os.getloadavg()]
    run = cluster.collect(spec.dag_id, phase.run_id)
    tis = cluster.task_instances(spec.dag_id, phase.run_id)
    races = cluster.stale_event_failures(spec.dag_id, phase.run_id)
    executions = emu.control.executions()
    answers = proxy.answers()
    _tasks(phase, run, races, spec)
    _runs(phase, executions, spec)
    _answers(phase, answers)
    _where(phase, executions, tis, answers, t_trigger, dag_end, clock["retry_after"])
    return phase


def _tasks(phase: Phase, run: Any, races: dict[tuple[str, int], list[str]], spec: PhaseSpec) -> None:
    tasks = run.mapped("run")
    phase.states = {str(k): v for k, v in Counter(t.state for t in tasks).items()}
    phase.succeeded = sum(1 for t in tasks if t.state == "success")
    phase.retried = sum(max(0, t.try_number - 1) for t in tasks)
    phase.race_retries = sum(
        min(max(0, t.try_number - 1), len(races.get(("run", t.map_index), []))) for t in tasks
    )
    expected = {i: {"seconds": spec.run_s, "i": i} for i in range(spec.n)}
    phase.wrong_returns = sum(
        1 for t in tasks if t.state == "success" and t.return_value != expected.get(t.map_index)
    )


def _input_index(run: dict[str, Any]) -> int | None:
    value = run.get("input")
    index = value.get("i") if isinstance(value, dict) else None
    return index if isinstance(index, int) else None


def _runs(phase: Phase, executions: list[dict[str, Any]], spec: PhaseSpec) -> None:
    phase.executions = len(executions)
    by_input = Counter(_input_index(e) for e in executions)
    phase.duplicated = {i: c for i, c in by_input.items() if i is not None and c > 1}
    phase.missing = [i for i in range(spec.n) if by_input.get(i, 0) == 0]
    phase.not_completed = sum(1 for e in executions if e.get("status") != "completed")
    phase.peak_in_flight = _pipeline.max_in_flight(executions)[0]


def _answers(phase: Phase, answers: list[_pipeline.Answer]) -> None:
    phase.requests = len(answers)
    phase.limits = _pipeline.limits_by_route(answers)
    phase.concurrency_429s = sum(c["concurrency"] for c in phase.limits.values())
    phase.rate_429s = sum(c["rate"] for c in phase.limits.values())


def _where(
    phase: Phase,
    executions: list[dict[str, Any]],
    tis: list[dict[str, Any]],
    answers: list[_pipeline.Answer],
    t_trigger: float,
    dag_end: float,
    retry_after: float,
) -> None:
    """Where the wall time went: to the first admission, admissions, the tail; lags and slot waits."""
    started: dict[str, float] = {}
    ends: dict[int, float] = {}
    for e in executions:
        if (start := _pipeline.epoch(e.get("startedAt"))) is not None:
            started[str(e["id"])] = start
        if (index := _input_index(e)) is not None and (end := _pipeline.epoch(e.get("endedAt"))) is not None:
            ends[index] = end
    lags = [
        done - ends[ti["map_index"]]
        for ti in tis
        if ti.get("map_index") in ends and (done := _pipeline.epoch(ti.get("end_date"))) is not None
    ]
    waits = _pipeline.admission_waits(answers, started)
    first = min(started.values(), default=t_trigger)
    last_end = max(ends.values(), default=t_trigger)
    if phase.cap is not None:
        spent = _pipeline.budget_spent_intervals(answers)
        # a waiting task asks again after the whole-second Retry-After plus up to 25 % (at most 1 s)
        hint = max(1.0, math.ceil(retry_after))
        asking = _pipeline.asking_intervals(answers, hint + min(0.25 * hint, 1.0) + 0.1)
        phase.where.update(_pipeline.cap_use(executions, phase.cap, spent, asking))
        phase.where["budget_spent_s"] = sum(b - a for a, b in spent)
    phase.timeline = {
        "runs": [
            [started.get(str(e["id"])), _pipeline.epoch(e.get("endedAt")), _input_index(e)]
            for e in executions
        ],
        "execute": [
            [a.at, a.status, a.limit] for a in answers if _pipeline.route_kind(a.method, a.path) == "execute"
        ],
    }
    phase.where |= {
        "first_admission_s": first - t_trigger,
        "admission_span_s": max(started.values(), default=first) - first,
        "last_end_s": last_end - t_trigger,
        "tail_s": dag_end - last_end,
        "completion_lag_median_s": _common.median(lags),
        "completion_lag_p95_s": _common.percentile(lags, 95),
        "admission_wait_median_s": _common.median(waits),
        "admission_wait_max_s": max(waits, default=0.0),
        "admission_wait_s": sum(waits),
    }
