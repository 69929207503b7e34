"""Pieces of the pipeline benchmark: a recording proxy, the plan's floor, runs in flight, CPU use.

The proxy sits between the Airflow cluster's ``sim_default`` connection and the emulator and
records every answer's status and, for a 429, its kind: ``concurrency`` (Sim's in-flight cap,
``EXECUTION_CONCURRENCY_LIMIT``) or ``rate`` (an operation's, the per-IP or the async execution
bucket). The emulator's own request log marks both ``rateLimited`` alike, as it keeps no answer
bodies.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

#: headers that belong to one hop, not to the request or answer (``Host`` is passed on: the emulator
#: builds its ``statusUrl`` from it)
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te", "trailer"}
)
#: route kinds of :func:`route_kind`, in report order
ROUTES = ("execute", "runs.read", "runs.list", "workflow.read", "other")


@dataclass(frozen=True)
class Answer:
    """One request the proxy passed on: when, what, the status, the 429's kind, the run id asked for."""

    at: float
    method: str
    path: str
    status: int
    limit: str | None
    run_id: str | None


class RecordingProxy:
    """An HTTP proxy to ``target`` on 127.0.0.1, in a thread of its own, recording every answer.

    :param target: the emulator's base URL.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = 0
        self._answers: list[Answer] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        """The proxy's base URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        connector = aiohttp.TCPConnector(limit=256)
        timeout = aiohttp.ClientTimeout(total=600)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, trust_env=False
        )
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method,
            self.target + request.rel_url.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as answer:
            data = await answer.read()
            status = answer.status
            out = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS]
        limit = None
        if status == 429:
            limit = "concurrency" if b"EXECUTION_CONCURRENCY_LIMIT" in data else "rate"
        self._answers.append(
            Answer(time.time(), request.method, request.path, status, limit, request.headers.get("x-run-id"))
        )
        response = web.Response(status=status, body=None if request.method == "HEAD" else data)
        for key, value in out:
            response.headers.add(key, value)
        return response

    def answers(self) -> list[Answer]:
        """Everything recorded since the last :meth:`clear`, in answer order."""
        return list(self._answers)

    def clear(self) -> None:
        """Forget what was recorded."""
        self._answers = []


def route_kind(method: str, path: str) -> str:
    """One of :data:`ROUTES` for a v2 request."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[:3] != ["api", "v2", "workflows"] or len(parts) < 4:
        return "other"
    if len(parts) == 4 and method in ("GET", "HEAD"):
        return "workflow.read"
    if method == "POST" and len(parts) == 5 and parts[4] == "execute":
        return "execute"
    if method in ("GET", "HEAD") and parts[4] == "runs":
        return "runs.list" if len(parts) == 5 else "runs.read" if len(parts) == 6 else "other"
    return "other"


def limits_by_route(answers: Iterable[Answer]) -> dict[str, dict[str, int]]:
    """``{route: {"requests", "concurrency", "rate"}}`` (429s by kind) for every route seen."""
    out: dict[str, Counter[str]] = {}
    for answer in answers:
        counts = out.setdefault(route_kind(answer.method, answer.path), Counter())
        counts["requests"] += 1
        if answer.limit is not None:
            counts[answer.limit] += 1
    return {
        route: {key: out[route][key] for key in ("requests", "concurrency", "rate")}
        for route in ROUTES
        if route in out
    }


def epoch(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 instant (``...Z`` or with an offset); ``None`` if absent."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def max_in_flight(executions: Iterable[dict[str, Any]], now: float | None = None) -> tuple[int, float]:
    """Most runs queued or running at one instant, from ``startedAt``/``endedAt``, and when.

    A run that ends at the instant another starts is not counted with it (an end frees its slot
    before the next admission). A run without ``endedAt`` counts until ``now``.
    """
    events: list[tuple[float, int]] = []
    end_of_time = time.time() if now is None else now
    for run in executions:
        start = epoch(run.get("startedAt"))
        if start is None:
            continue
        end = epoch(run.get("endedAt"))
        events += [(start, 1), (end_of_time if end is None else end, -1)]
    peak, at, current = 0, 0.0, 0
    for instant, step in sorted(events):  # -1 sorts before +1 at the same instant
        current += step
        if current > peak:
            peak, at = current, instant
    return peak, at


def plan_floor(n: int, cap: int, run_s: float, rate: float, window: float) -> dict[str, float]:
    """The least wall time a plan allows ``n`` runs of ``run_s`` seconds, each output read once.

    ``runs``: ``ceil(n / cap)`` batches of runs back to back under the in-flight cap. ``reads``:
    ``n`` reads from a bucket of capacity ``2 x rate`` that gets ``rate`` at each window's end:
    ``window x ceil(max(0, n - 2 rate) / rate)``. The floor is the larger.
    """
    runs = math.ceil(n / cap) * run_s
    reads = window * math.ceil(max(0.0, n - 2 * rate) / rate)
    return {"runs": runs, "reads": reads, "floor": max(runs, reads)}


def cpu_times() -> tuple[float, float]:
    """``(busy, total)`` jiffies of the whole machine, from ``/proc/stat`` (``(0, 0)`` if unreadable)."""
    try:
        with open("/proc/stat") as handle:
            fields = [float(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Share (0-1) of all cores busy between two :func:`cpu_times` readings."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


def admission_waits(answers: Iterable[Answer], started: dict[str, float]) -> list[float]:
    """Per run id: seconds from its first execute attempt to its admission (the run's ``startedAt``),
    i.e. how long its start waited for its turn (in the triggerer, where deferrable tasks start)."""
    first: dict[str, float] = {}
    for answer in answers:
        if answer.run_id and route_kind(answer.method, answer.path) == "execute":
            first.setdefault(answer.run_id, answer.at)
    return [max(0.0, started[rid] - at) for rid, at in first.items() if rid in started]


def budget_spent_intervals(answers: Iterable[Answer]) -> list[tuple[float, float]]:
    """When the execute budget was known spent: from a rate 429 on execute to the next admission
    (a 2xx execute answer), merged; an interval still open at the end closes at the last answer."""
    spans: list[tuple[float, float]] = []
    opened: float | None = None
    last = 0.0
    for answer in answers:
        if route_kind(answer.method, answer.path) != "execute":
            continue
        last = answer.at
        if answer.limit == "rate" and opened is None:
            opened = answer.at
        elif 200 <= answer.status < 300 and opened is not None:
            spans.append((opened, answer.at))
            opened = None
    if opened is not None:
        spans.append((opened, last))
    return spans


def asking_intervals(answers: Iterable[Answer], retry_s: float) -> list[tuple[float, float]]:
    """When some task was waiting for its turn: ``retry_s`` after each concurrency 429 on execute
    (a waiting task asks again within that: the whole-second Retry-After plus its jitter)."""
    return [
        (a.at, a.at + retry_s)
        for a in answers
        if a.limit == "concurrency" and route_kind(a.method, a.path) == "execute"
    ]


def _inside(at: float, spans: list[tuple[float, float]]) -> bool:
    return any(a <= at < b for a, b in spans)


def cap_use(
    executions: Iterable[dict[str, Any]],
    cap: int,
    spent: list[tuple[float, float]],
    asking: list[tuple[float, float]],
) -> dict[str, float]:
    """How much of the in-flight cap went unused between the first and the last admission, and why.

    ``unused_cap_s`` is the integral of ``cap - runs in flight`` over that span (run-seconds the plan
    would have admitted), split by what held at the instant: ``unused_while_spent_s`` the execute
    budget was spent (:func:`budget_spent_intervals`); else ``unused_while_asking_s`` a task was
    waiting for its turn and had not asked again yet (:func:`asking_intervals`: the retry's
    granularity); else ``unused_none_asking_s`` no task was asking (Airflow had no execute under way).
    ``mean_in_flight``: the mean number of runs in flight over the span.
    """
    runs: list[tuple[float, float]] = []
    for run in executions:
        start, end = epoch(run.get("startedAt")), epoch(run.get("endedAt"))
        if start is not None:
            runs.append((start, end if end is not None else math.inf))
    out = dict.fromkeys(
        ("span_s", "unused_cap_s", "unused_while_spent_s", "unused_while_asking_s", "unused_none_asking_s"),
        0.0,
    )
    out["mean_in_flight"] = 0.0
    if not runs:
        return out
    lo, hi = min(r[0] for r in runs), max(r[0] for r in runs)
    edges = {lo, hi}
    for a, b in [*runs, *spent, *asking]:
        edges.update(x for x in (a, b) if lo < x < hi)
    points = sorted(edges)
    busy = 0.0
    for a, b in itertools.pairwise(points):
        mid = (a + b) / 2  # nothing changes between two edges
        current = sum(1 for start, end in runs if start <= mid < end)
        busy += current * (b - a)
        free = max(0, cap - current) * (b - a)
        if not free:
            continue
        out["unused_cap_s"] += free
        if _inside(mid, spent):
            out["unused_while_spent_s"] += free
        elif _inside(mid, asking):
            out["unused_while_asking_s"] += free
        else:
            out["unused_none_asking_s"] += free
    out["span_s"] = hi - lo
    out["mean_in_flight"] = busy / (hi - lo) if hi > lo else 0.0
    return out
