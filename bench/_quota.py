"""Pieces of the quota-waits benchmark: the read floor, the request log by route, the loop process.

The loop process (:func:`child_main`) stands for a triggerer: it imports the provider, says it is
ready (a marker file), reads its orders from stdin (one JSON line, written once the runs are
started and the plan is set, so the waits begin the moment the runs exist), waits for every run on
one event loop and writes what it saw to ``$SIM_BENCH_RESULT_FILE``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import _common

#: route kinds of the request log; "other" is everything else
KINDS = ("execute", "runs.read", "runs.list", "other")


def read_floor(completions: Iterable[float], rate: float, window: float, poll: float) -> list[float]:
    """Least lag per run (sorted ascending by completion) that a read budget of ``rate`` allows.

    An ideal client learns each completion ``poll / 2`` after it on average and reads each output
    once; reads are granted first come first served by completion time from a bucket that follows
    Sim's rules: ``2 x rate`` tokens, full when it is first used (the first completion), ``rate``
    added at the end of every ``window``, never above ``2 x rate``. ``floor_i = poll / 2 + grant_i -
    completion_i``. List calls are not counted (a sweep of N runs costs N / 100 calls of their own
    operation).
    """
    order = sorted(completions)
    if not order:
        return []
    capacity = 2 * rate
    start, tokens, refills, now = order[0], capacity, 0, order[0]
    floors: list[float] = []
    for completed in order:
        now = max(now, completed)
        due = math.floor((now - start) / window)
        if due > refills:
            tokens = min(capacity, tokens + (due - refills) * rate)
            refills = due
        if tokens < 1:
            refills += 1
            now = start + refills * window
            tokens = min(capacity, tokens + rate)
        tokens -= 1
        floors.append(poll / 2 + now - completed)
    return floors


def route_kind(method: str, path: str) -> str:
    """``execute``, ``runs.read``, ``runs.list`` or ``other`` for one logged v2 request."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[:3] != ["api", "v2", "workflows"] or len(parts) < 5:
        return "other"
    if method == "POST" and len(parts) == 5 and parts[4] == "execute":
        return "execute"
    if method in ("GET", "HEAD") and parts[4] == "runs":
        return "runs.list" if len(parts) == 5 else "runs.read" if len(parts) == 6 else "other"
    return "other"


def by_route(requests: Iterable[dict[str, Any]], since: float) -> dict[str, dict[str, int]]:
    """Requests and 429s per route kind among those received at or after ``since`` (epoch)."""
    sent: Counter[str] = Counter()
    limited: Counter[str] = Counter()
    for entry in requests:
        if epoch(str(entry.get("receivedAt"))) < since:
            continue
        kind = route_kind(str(entry.get("method")), str(entry.get("path")))
        sent[kind] += 1
        limited[kind] += bool(entry.get("rateLimited"))
    return {kind: {"requests": sent[kind], "rate_limited": limited[kind]} for kind in KINDS}


def epoch(value: str) -> float:
    """Epoch seconds of an ISO 8601 instant as the emulator writes them (``...Z``); 0 if unreadable."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


async def _wait_all(mode: str, run_ids: list[str], poll: float, bound: float) -> dict[str, Any]:
    """Wait for every run on this loop: real triggers (``watcher``) or one hook poll loop each."""
    from airflow_provider_sim.hooks.run_watcher import RunWatcher
    from airflow_provider_sim.hooks.sim_async import SimAsyncHook
    from airflow_provider_sim.triggers.sim import SimRunTrigger

    arrived: dict[str, tuple[float, str]] = {}

    async def via_trigger(run_id: str) -> None:
        trigger = SimRunTrigger(
            sim_conn_id=_common.CONN_ID, workflow_id="sleep", run_id=run_id, poll_interval=poll
        )
        async for event in trigger.run():
            payload = event.payload
            ok = payload.get("event") == "run_finished"
            outcome = (
                str(payload.get("status")) if ok else f"{payload.get('event')}: {payload.get('message')}"
            )
            arrived[run_id] = (time.time(), outcome)
            return

    async def via_hook(run_id: str) -> None:
        async with SimAsyncHook(_common.CONN_ID) as hook:
            run = await hook.wait_for_run("sleep", run_id, poll_interval=poll)
        arrived[run_id] = (time.time(), run.status.value)

    async def guarded(run_id: str) -> None:
        try:
            await (via_trigger if mode == "watcher" else via_hook)(run_id)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            arrived[run_id] = (time.time(), f"exception: {err!r}"[:300])

    peak_rss = rss0 = _common.rss_mb()

    async def sample_rss() -> None:
        nonlocal peak_rss
        while True:
            await asyncio.sleep(0.25)
            peak_rss = max(peak_rss, _common.rss_mb())

    gc.collect()
    rss0 = peak_rss = _common.rss_mb()
    sampler = asyncio.create_task(sample_rss())
    cpu0, t0 = time.process_time(), time.time()
    tasks = [asyncio.create_task(guarded(run_id)) for run_id in run_ids]
    _done, pending = await asyncio.wait(tasks, timeout=bound)
    cpu1, t1 = time.process_time(), time.time()
    peak_rss = max(peak_rss, _common.rss_mb())
    sent: Counter[str] = Counter()
    for watcher in RunWatcher._shared.get(asyncio.get_running_loop(), {}).values():
        sent.update(watcher.sent)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sampler.cancel()
    return {
        "mode": mode,
        "started_at": t0,
        "ended_at": t1,
        "wall_s": t1 - t0,
        "cpu_s": cpu1 - cpu0,
        "cpu_pct": (cpu1 - cpu0) / max(t1 - t0, 1e-9) * 100,
        "rss_before_mb": rss0,
        "rss_peak_mb": peak_rss,
        "rss_growth_mb": peak_rss - rss0,
        "arrived": arrived,
        "not_done": len(pending),
        "watcher_sent": dict(sent),
    }


def child_main() -> int:
    """The loop process: import, say ready, read orders from stdin, wait, write the result."""
    _common.prepare_airflow_env(os.environ["SIM_BENCH_BASE_URL"])
    import airflow_provider_sim.hooks.run_watcher
    import airflow_provider_sim.hooks.sim_async
    import airflow_provider_sim.triggers.sim  # noqa: F401

    Path(os.environ["SIM_BENCH_READY_FILE"]).write_text("ready")
    orders = json.loads(sys.stdin.readline())
    out = asyncio.run(_wait_all(orders["mode"], orders["run_ids"], orders["poll"], orders["bound"]))
    Path(os.environ["SIM_BENCH_RESULT_FILE"]).write_text(json.dumps(out))
    return 0
