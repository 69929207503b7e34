"""3. Rate-limited fan-out: N sync ``echo`` executes through SimHook from W threads, emulator limited.

The emulator limits like sim.ai: a bucket of ``burst`` tokens (full at the start) that gets
``rate`` tokens at the end of every window, never above ``burst``. So no client can start the
N-th run before ``ideal = window * ceil(max(0, N - burst) / rate)`` seconds: the baseline (the
issue's N / L, with the burst the server grants counted in). Two shapes, 300 calls each:

* sim.ai's own: 100 per 60 s window, burst 200 (2 x rate): 200 at once, the last 100 a minute
  later; the client must sleep out a ~60 s ``Retry-After`` and not much longer.
* steady: 5 per 1 s window (300/min; Sim's ``RATE_LIMIT_WINDOW_MS``), burst 10: tokens arrive
  all the time, ``Retry-After`` is always 1 s, refused workers must keep every window used.

Every worker thread has its own SimHook; the hook retries 429 answers honouring ``Retry-After``.
Goal: wall <= 1.10 x ideal, no lost call (each returned a completed run), no duplicate run (the
emulator's ``executions()`` holds exactly N distinct ids whose inputs match the N calls).

A 429 is retried until the call's deadline (never counted against ``max_retries``); outside a
task that deadline is the hook's ``max_rate_limit_wait`` (default 90 s), raised here to the
phase's time bound (hook argument) so a call queued behind the whole burst is not cut short.
Calls are also held to the budget Sim announces (``X-RateLimit-Remaining``/``-Reset``); those
holds are not 429s and are not among the recorded retry waits.

    python -m bench.rate_limited_fanout [--smoke] [-n N] [--workers W]
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common

GOAL = 1.10


@dataclass(frozen=True)
class Shape:
    """One rate-limit configuration of the emulator."""

    label: str
    rate: float
    window_seconds: float
    burst: float

    def ideal_seconds(self, n: int) -> float:
        return self.window_seconds * math.ceil(max(0.0, n - math.floor(self.burst)) / self.rate)

    def describe(self) -> str:
        per_minute = self.rate * 60 / self.window_seconds
        return (
            f"{self.label}: {self.rate:g} per {self.window_seconds:g} s window "
            f"(L={per_minute:g}/min), burst {self.burst:g}"
        )


SHAPES = [Shape("sim.ai shape", 100, 60.0, 200), Shape("steady", 5, 1.0, 10)]
SMOKE_SHAPES = [Shape("smoke", 2, 0.5, 2)]


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=None, help="executions per shape (default 300)")
    p.add_argument("--workers", type=int, default=None, help="threads, each with its own hook (default 16)")
    args = p.parse_args(argv)
    n = args.n or (6 if args.smoke else 300)
    workers = args.workers or (2 if args.smoke else 16)
    shapes = SMOKE_SHAPES if args.smoke else SHAPES
    started = time.monotonic()
    _common.prepare_airflow_env()
    result = _common.Result("rate_limited_fanout", f"3. Rate-limited fan-out ({n} calls)", args.smoke)

    from airflow_provider_sim import retry as retry_mod

    # observe every backoff decision (read-only wrapper, in this process only)
    waits: list[tuple[float | None, float, str]] = []
    waits_lock = threading.Lock()
    original_call = retry_mod.WaitForSim.__call__

    def recording_call(self: Any, retry_state: Any) -> float:
        wait = original_call(self, retry_state)
        error = retry_state.outcome.exception() if retry_state.outcome else None
        with waits_lock:
            waits.append((getattr(error, "retry_after", None), wait, type(error).__name__))
        return float(wait)

    retry_mod.WaitForSim.__call__ = recording_call  # type: ignore[method-assign]

    with _common.emulator() as emu:
        for shape in shapes:
            waits.clear()
            _measure(result, emu, shape, n, workers, waits)
    _common.finish(result, args.out, started)
    return 0


def _fan_out(emu: Any, shape: Shape, n: int, workers: int) -> dict[str, Any]:
    """Run ``n`` executes from ``workers`` threads against a freshly configured bucket."""
    from airflow_provider_sim.hooks.sim import SimHook
    from airflow_provider_sim.protocol.quota import forget_budgets

    ideal = shape.ideal_seconds(n)
    work: queue.Queue[int] = queue.Queue()
    for i in range(n):
        work.put(i)
    returned: dict[int, Any] = {}
    failures: dict[int, str] = {}
    lock = threading.Lock()
    bound = max(ideal * 2, 10.0)

    def worker() -> None:
        hook = SimHook(_common.CONN_ID, retry_max_delay=30.0, max_rate_limit_wait=bound)
        while time.monotonic() < deadline:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            try:
                run = hook.execute_workflow("echo", {"i": i, "bench": "fanout"})
                with lock:
                    returned[i] = run
            except Exception as err:
                with lock:
                    failures[i] = repr(err)

    emu.control.reset()
    # the budget this process keeps per account (what Sim last announced) belongs to the server as it
    # was: after a reset and a new window length it would hold callers to the old shape's reset time
    forget_budgets()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    # the bucket starts full now; its windows are counted from this moment
    emu.control.settings(
        rate_limit_sync=shape.rate,
        rate_limit_burst=shape.burst,
        rate_limit_window_seconds=shape.window_seconds,
    )
    t0 = time.monotonic()
    deadline = t0 + bound  # no new call after this
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic() + 60))
    wall = time.monotonic() - t0
    with lock:
        attempted = len(returned) + len(failures)
        snapshot = dict(returned)
        failed = dict(failures)
    not_attempted = work.qsize()
    executions = emu.control.executions()
    emu.control.reset()
    return {
        "ideal": ideal,
        "bound": bound,
        "wall": wall,
        "attempted": attempted,
        "returned": snapshot,
        "failures": failed,
        "not_attempted": not_attempted,
        "in_flight": n - attempted - not_attempted,
        "executions": executions,
    }


def _measure(
    result: _common.Result,
    emu: Any,
    shape: Shape,
    n: int,
    workers: int,
    waits: list[tuple[float | None, float, str]],
) -> None:
    out = _fan_out(emu, shape, n, workers)
    ideal, wall = out["ideal"], out["wall"]
    completed = {i: r for i, r in out["returned"].items() if r.status.value == "completed"}
    lost = out["attempted"] - len(completed) + out["in_flight"]
    ids = [e["id"] for e in out["executions"]]
    distinct = set(ids)
    by_id = {e["id"]: e for e in out["executions"]}
    mismatched = sum(
        1
        for i, r in completed.items()
        if r.run_id not in by_id or (by_id[r.run_id].get("input") or {}).get("i") != i
    )
    inputs = Counter((e.get("input") or {}).get("i") for e in out["executions"])
    duplicates = len(ids) - len(distinct) + sum(c - 1 for c in inputs.values() if c > 1)
    # when the time bound stopped the run, project the wall time of all n at the achieved rate
    full_wall = wall if len(completed) == n else wall * n / max(len(completed), 1)
    ratio = full_wall / ideal if ideal > 0 else None
    ours_text = (
        f"{wall:.1f} s"
        if len(completed) == n
        else (f"{full_wall:.0f} s projected ({len(completed)}/{n} done in {wall:.1f} s)")
    )
    result.add(
        f"wall time, {n} calls, {workers} workers; {shape.describe()}",
        f"{ideal:.1f} s (ideal)",
        ours_text,
        round(ratio, 3) if ratio else None,
        f"<= {GOAL:.2f}x ideal",
        ratio is not None and ratio <= GOAL,
    )
    result.add(
        f"{shape.label}: lost calls (no completed run returned)",
        "0",
        f"{lost} of {out['attempted'] + out['in_flight']} attempted ({out['not_attempted']} never "
        f"started: time bound {out['bound']:.0f} s reached)",
        None,
        "0",
        lost == 0,
    )
    result.add(
        f"{shape.label}: duplicate runs on the server",
        "0",
        f"{duplicates} (executions {len(ids)}, distinct {len(distinct)}, input mismatches {mismatched})",
        None,
        "0, one distinct id per call",
        duplicates == 0 and len(distinct) == len(completed) and mismatched == 0,
    )
    hinted = [w for w in waits if w[0] is not None]
    honoured = sum(1 for hint, wait, _ in hinted if wait >= hint - 1e-6)
    kinds = Counter(k for _, _, k in waits)
    hints = Counter(h for h, _, _ in waits)
    total_wait = sum(w for _, w, _ in waits)
    result.add(
        f"{shape.label}: retry waits honour Retry-After",
        "-",
        f"{honoured}/{len(hinted)} hinted waits >= the hint; {len(waits) - len(hinted)} unhinted",
        None,
        "all hinted waits >= Retry-After",
        honoured == len(hinted),
    )
    per_minute = shape.rate * 60 / shape.window_seconds
    result.notes.append(
        f"{shape.label}: {len(waits)} retries ({dict(kinds)}), Retry-After hints "
        f"{dict(sorted(hints.items(), key=str))}, total time spent waiting {total_wait:.0f} thread-seconds; "
        f"achieved {len(completed) / wall * 60:.0f}/min (limit {per_minute:g}/min after a burst of "
        f"{shape.burst:g}); the issue's N/L = {n / per_minute * 60:.0f} s"
    )
    if out["not_attempted"]:
        result.notes.append(
            f"{shape.label}: only {len(completed)} of {n} calls completed within the bound; at the "
            f"achieved rate all {n} would take ~{full_wall:.0f} s"
        )
    if out["failures"]:
        result.notes.append(f"{shape.label}: failures (first 3): {list(out['failures'].values())[:3]}")
    result.raw[shape.label] = {
        "n": n,
        "rate": shape.rate,
        "window_s": shape.window_seconds,
        "burst": shape.burst,
        "workers": workers,
        "ideal_s": ideal,
        "wall_s": wall,
        "retries": len(waits),
        "total_wait_s": total_wait,
        "lost": lost,
        "not_attempted": out["not_attempted"],
        "completed": len(completed),
        "duplicates": duplicates,
        "executions": len(ids),
    }


if __name__ == "__main__":
    raise SystemExit(main())
