"""3. Rate-limited fan-out: N sync ``echo`` executes through SimHook from W threads, emulator limited.

The emulator's sync bucket refills at L per minute and holds ``burst`` tokens (full at start), so
no client can finish faster than ``ideal = max(0, N - burst) / (L / 60)`` seconds: the baseline.
Every worker thread has its own SimHook; the hook retries 429 answers honouring ``Retry-After``.
Goal: wall ≤ 1.10 x ideal, no lost call (each returned a completed run), no duplicate run (the
emulator's ``executions()`` holds exactly N distinct ids whose inputs match the N calls).

``max_retries`` is raised for this run (hook argument): with W workers sharing L/min, a call can
be refused far more often than the default 3 retries allow; that is configuration, not a bug.

    python -m bench.rate_limited_fanout [--smoke] [-n N] [--rate L] [--burst B] [--workers W]
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common

GOAL = 1.10


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=None, help="executions (default 300)")
    p.add_argument("--rate", type=float, default=None, help="sync limit per minute (default 300)")
    p.add_argument("--burst", type=float, default=None, help="bucket capacity (default 1)")
    p.add_argument("--workers", type=int, default=None, help="threads, each with its own hook (default 16)")
    args = p.parse_args(argv)
    n = args.n or (6 if args.smoke else 300)
    rate = args.rate or (600.0 if args.smoke else 300.0)
    burst = args.burst or (4.0 if args.smoke else 1.0)
    workers = args.workers or (2 if args.smoke else 16)
    ideal = max(0.0, n - int(burst)) / (rate / 60.0)
    started = time.monotonic()
    _common.prepare_airflow_env()
    result = _common.Result("rate_limited_fanout", f"3. Rate-limited fan-out ({n} calls)", args.smoke)

    from airflow_provider_sim import retry as retry_mod
    from airflow_provider_sim.hooks.sim import SimHook

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

    with _common.emulator(rate_limit_sync=rate, rate_limit_burst=burst) as emu:
        emu.control.reset()
        work: queue.Queue[int] = queue.Queue()
        for i in range(n):
            work.put(i)
        returned: dict[int, Any] = {}
        failures: dict[int, str] = {}
        lock = threading.Lock()
        deadline = time.monotonic() + max(ideal * 2, 10.0)  # no new call after this

        def worker() -> None:
            hook = SimHook(_common.CONN_ID, max_retries=1000, retry_max_delay=30.0)
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

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic() + 60))
        wall = time.monotonic() - t0
        with lock:
            attempted = len(returned) + len(failures)
            snapshot = dict(returned)
        not_attempted = work.qsize()
        in_flight = n - attempted - not_attempted
        executions = emu.control.executions()
        emu.control.reset()

    completed = {i: r for i, r in snapshot.items() if r.status.value == "completed"}
    lost = attempted - len(completed) + in_flight
    ids = [e["id"] for e in executions]
    distinct = set(ids)
    by_id = {e["id"]: e for e in executions}
    mismatched = sum(
        1
        for i, r in completed.items()
        if r.run_id not in by_id or (by_id[r.run_id].get("input") or {}).get("i") != i
    )
    inputs = Counter((e.get("input") or {}).get("i") for e in executions)
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
        f"wall time, {n} calls, {workers} workers, L={rate:g}/min, burst {burst:g}",
        f"{ideal:.1f} s (ideal)",
        ours_text,
        round(ratio, 3) if ratio else None,
        f"<= {GOAL:.2f}x ideal",
        ratio is not None and ratio <= GOAL,
    )
    result.add(
        "lost calls (no completed run returned)",
        "0",
        f"{lost} of {attempted + in_flight} attempted ({not_attempted} never started: time bound "
        f"{max(ideal * 2, 10.0):.0f} s reached)",
        None,
        "0",
        lost == 0,
    )
    result.add(
        "duplicate runs on the server",
        "0",
        f"{duplicates} (executions {len(ids)}, distinct {len(distinct)}, input mismatches {mismatched})",
        None,
        "0, one distinct id per call",
        duplicates == 0 and len(distinct) == len(completed) and mismatched == 0,
    )
    hinted = [w for w in waits if w[0] is not None]
    honoured = sum(
        1 for hint, wait, _ in hinted if wait >= min(hint, retry_mod.MAX_SERVER_WAIT_SECONDS) - 1e-6
    )
    kinds = Counter(k for _, _, k in waits)
    hints = Counter(h for h, _, _ in waits)
    total_wait = sum(w for _, w, _ in waits)
    result.add(
        "retry waits honour Retry-After",
        "-",
        f"{honoured}/{len(hinted)} hinted waits >= the hint; {len(waits) - len(hinted)} unhinted",
        None,
        "all hinted waits >= Retry-After",
        honoured == len(hinted),
    )
    result.notes.append(
        f"{len(waits)} retries ({dict(kinds)}), Retry-After hints {dict(sorted(hints.items(), key=str))}, "
        f"total time spent waiting {total_wait:.0f} thread-seconds; "
        f"achieved {len(completed) / wall * 60:.0f}/min of {rate:g}/min"
    )
    result.notes.append(
        "the emulator (like Sim) sends Retry-After in whole seconds, at least 1, while a token comes every "
        f"{60 / rate:.2f} s: refused workers sleep up to 1 s, and a token that arrives while the bucket "
        "(capacity = burst) is full is wasted, so wall time is bounded by how many workers are awake"
    )
    if not_attempted:
        result.notes.append(
            f"only {len(completed)} of {n} calls completed within the bound; at the achieved rate all {n} "
            f"would take ~{n / max(len(completed), 1) * wall:.0f} s = "
            f"{n / max(len(completed), 1) * wall / ideal:.1f}x ideal"
        )
    if failures:
        result.notes.append(f"failures (first 3): {list(failures.values())[:3]}")
    result.raw.update(
        n=n,
        rate=rate,
        burst=burst,
        workers=workers,
        ideal_s=ideal,
        wall_s=wall,
        retries=len(waits),
        total_wait_s=total_wait,
        lost=lost,
        not_attempted=not_attempted,
        completed=len(completed),
        duplicates=duplicates,
        executions=len(ids),
    )
    _common.finish(result, args.out, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
