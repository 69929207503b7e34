"""2. Many concurrent deferred waits: real SimRunTrigger instances on one event loop vs plain sleeps.

Like the triggerer: every trigger's ``run()`` async generator is iterated by its own task on one
asyncio loop. The runs are real ``sleep`` runs (``seconds=600``) started async on the emulator
beforehand, so every run stays "running" for the whole window. Baseline: the same number of
tasks that only ``asyncio.sleep(poll_interval)`` in a loop. Each phase runs in a fresh
subprocess with the same modules imported, so RSS growth is not polluted by the other phase.

The triggers wait through the process's one shared run watcher (``RunWatcher``): each registers
its run, and the watcher lists the workflow's runs (one call per 100 runs) about once per poll
interval; no run is read, since none ends. So the figures are the loop cost of N registered waits
plus one list sweep per interval, not of N status reads per interval (what triggers did before
the watcher); "CPU per wait" is the process CPU divided by N x the poll intervals in the window.
The emulator runs with no limits at all (per-IP bucket off too): this measures loop cost, not quota
(that is ``quota_waits``), and starting 1,000 runs twice would otherwise wait for the per-IP bucket.

Measured over the window: event-loop lag (a probe sleeps 10 ms and records the overshoot), CPU %
of one core (process CPU time / wall; the emulator is a separate process and is NOT counted),
RSS growth (peak RSS in the window minus RSS just before the triggers start).

    python -m bench.deferred_waits [--smoke] [--triggers N] [--runs R] [--window S] [--poll P]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common

GOAL_LAG_P99_MS = 50.0
GOAL_CPU_PCT = 25.0
GOAL_RSS_MB = 150.0
PROBE_INTERVAL = 0.010


def _triggers(run_ids: list[str], n: int, poll: float) -> list[Any]:
    """``n`` real triggers over the sleep runs, as the operator would defer them."""
    from airflow_provider_sim.triggers.sim import SimRunTrigger

    return [
        SimRunTrigger(
            sim_conn_id=_common.CONN_ID,
            workflow_id="sleep",
            run_id=run_ids[i % len(run_ids)],
            poll_interval=poll,
        )
        for i in range(n)
    ]


async def _phase(kind: str, run_ids: list[str], n: int, window: float, poll: float) -> dict[str, Any]:
    import gc

    gc.collect()
    lags: list[tuple[float, float]] = []
    peak_rss = rss0 = _common.rss_mb()
    events: list[Any] = []
    errors: list[str] = []
    stop = asyncio.Event()

    async def probe() -> None:
        nonlocal peak_rss
        start = time.perf_counter()
        last_rss = start
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(PROBE_INTERVAL)
            now = time.perf_counter()
            lags.append((t - start, now - t - PROBE_INTERVAL))
            if now - last_rss > 0.5:
                peak_rss = max(peak_rss, _common.rss_mb())
                last_rss = now

    async def drive(trigger: Any) -> None:
        try:
            async for event in trigger.run():
                events.append(event.payload)
                return
        except asyncio.CancelledError:
            raise
        except Exception as err:
            errors.append(repr(err))

    async def sleeper() -> None:
        while True:
            await asyncio.sleep(poll)

    if kind == "triggers":
        triggers = _triggers(run_ids, n, poll)
    probe_task = asyncio.create_task(probe())
    await asyncio.sleep(0.2)  # probe settled
    lags.clear()
    cpu0, t0 = time.process_time(), time.monotonic()
    if kind == "triggers":
        tasks = [asyncio.create_task(drive(t)) for t in triggers]
    else:
        tasks = [asyncio.create_task(sleeper()) for _ in range(n)]
    await asyncio.sleep(min(poll, window))
    cpu_first, t_first = time.process_time(), time.monotonic()
    await asyncio.sleep(max(0.0, window - poll))
    cpu1, t1 = time.process_time(), time.monotonic()
    peak_rss = max(peak_rss, _common.rss_mb())
    stop.set()
    await probe_task
    for task in tasks:
        task.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=60)
    all_lags = [lag for _, lag in lags]
    steady = [lag for at, lag in lags if at >= window / 2] or all_lags
    return {
        "kind": kind,
        "n": n,
        "window_s": t1 - t0,
        "cpu_s": cpu1 - cpu0,
        "cpu_pct": (cpu1 - cpu0) / (t1 - t0) * 100,
        "cpu_pct_first_interval": (cpu_first - cpu0) / (t_first - t0) * 100,
        "cpu_pct_after_first_interval": (cpu1 - cpu_first) / max(t1 - t_first, 1e-9) * 100,
        "cpu_per_poll_ms": (cpu1 - cpu0) / max((t1 - t0) * n / poll, 1e-9) * 1000,
        "lag_p50_ms": _common.percentile(all_lags, 50) * 1000,
        "lag_p99_ms": _common.percentile(all_lags, 99) * 1000,
        "lag_max_ms": max(all_lags, default=0.0) * 1000,
        "lag_p99_steady_ms": _common.percentile(steady, 99) * 1000,
        "probe_samples": len(all_lags),
        "rss_before_mb": rss0,
        "rss_peak_mb": peak_rss,
        "rss_growth_mb": peak_rss - rss0,
        "events_fired": len(events),
        "event_samples": events[:3],
        "errors": len(errors),
        "error_samples": errors[:3],
    }


#: where a poll's CPU goes, by the file a function lives in (first match wins)
PROFILE_AREAS = {
    "HTTP client (aiohttp, yarl, multidict)": ("/aiohttp/", "/yarl/", "/multidict/"),
    "retry (tenacity)": ("/tenacity/",),
    "this provider": ("/airflow_provider_sim/",),
    "event loop (asyncio, selectors)": ("/asyncio/", "selectors.py", "<method 'poll'"),
}


async def _profile(run_ids: list[str], n: int, poll: float) -> dict[str, Any]:
    """Where the steady CPU goes: ``n`` triggers waiting (poll interval ``poll`` s), past their start-up.

    CPU per wait and interval is measured without the profiler; the split by area comes from
    cProfile (which slows everything down about equally, so only the shares are used).
    """
    import cProfile
    import pstats

    async def drive(trigger: Any) -> None:
        async for _ in trigger.run():
            return

    tasks = [asyncio.create_task(drive(t)) for t in _triggers(run_ids, n, poll)]
    await asyncio.sleep(max(poll * 1.5, 2.0))  # every trigger has started and polled once
    c0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(poll * 3)
    cpu, wall = time.process_time() - c0, time.monotonic() - t0
    prof = cProfile.Profile()
    prof.enable()
    await asyncio.sleep(poll * 2)
    prof.disable()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    areas = dict.fromkeys([*PROFILE_AREAS, "other"], 0.0)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        where = f"{filename} {name}"
        area = next((a for a, keys in PROFILE_AREAS.items() if any(k in where for k in keys)), "other")
        areas[area] += tottime
    idle = sum(
        v[2] for (f, _l, name), v in stats.items() if name == "<method 'poll' of 'select.epoll' objects>"
    )
    areas["event loop (asyncio, selectors)"] -= idle  # waiting in epoll is not CPU
    busy = sum(areas.values()) or 1.0
    return {
        "n": n,
        "poll_s": poll,
        "cpu_pct": cpu / wall * 100,
        "cpu_per_poll_ms": cpu / (wall * n / poll) * 1000,
        "shares_pct": {area: round(t / busy * 100, 1) for area, t in areas.items()},
    }


def _child(args: list[str]) -> int:
    """``--phase KIND``: one measured phase; its JSON result goes to ``$SIM_BENCH_RESULT_FILE``."""
    kind, n, window, poll = args[0], int(args[1]), float(args[2]), float(args[3])
    run_ids = json.loads(os.environ.get("SIM_BENCH_RUN_IDS", "[]"))
    _common.prepare_airflow_env(os.environ["SIM_BENCH_BASE_URL"])
    import airflow_provider_sim.hooks.sim_async
    import airflow_provider_sim.triggers.sim  # noqa: F401

    if kind == "profile":
        out = asyncio.run(_profile(run_ids, n, poll))
    else:
        out = asyncio.run(_phase(kind, run_ids, n, window, poll))
    Path(os.environ["SIM_BENCH_RESULT_FILE"]).write_text(json.dumps(out))
    return 0


def _run_child(kind: str, n: int, window: float, poll: float, base_url: str, run_ids: list[str]) -> dict:
    # the result goes to a file: Airflow logs to stdout too (3.0 logs every connection lookup there)
    result_file = Path(tempfile.mkdtemp(prefix="sim-bench-")) / f"{kind}.json"
    env = dict(
        os.environ,
        SIM_BENCH_BASE_URL=base_url,
        SIM_BENCH_RUN_IDS=json.dumps(run_ids),
        SIM_BENCH_RESULT_FILE=str(result_file),
    )
    env["PYTHONPATH"] = str(_common.REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "bench.deferred_waits", "--phase", kind, str(n), str(window), str(poll)]
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=window + 180, cwd=_common.REPO_ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"phase {kind} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(result_file.read_text()))


def _start_runs(count: int, seconds: float) -> list[str]:
    from airflow_provider_sim.hooks.sim import SimHook

    def start(chunk: range) -> list[str]:
        hook = SimHook(_common.CONN_ID, max_retries=5)
        return [
            hook.execute_workflow("sleep", {"seconds": seconds}, async_execution=True).run_id for _ in chunk
        ]

    workers = min(8, count)
    chunks = [range(i, count, workers) for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        return [rid for ids in pool.map(start, chunks) for rid in ids]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phase"]:
        return _child(argv[1:])
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--triggers", type=int, default=None, help="concurrent triggers (default 1000)")
    p.add_argument("--runs", type=int, default=None, help="real sleep runs (default = triggers)")
    p.add_argument("--window", type=float, default=None, help="measured seconds (default 60)")
    p.add_argument("--poll", type=float, default=None, help="poll interval seconds (default 5)")
    args = p.parse_args(argv)
    n = args.triggers or (20 if args.smoke else 1000)
    runs = args.runs or n
    window = args.window or (3.0 if args.smoke else 60.0)
    poll = args.poll or (0.5 if args.smoke else 5.0)
    started = time.monotonic()
    _common.prepare_airflow_env()
    result = _common.Result("deferred_waits", f"2. {n} concurrent deferred waits (SimRunTrigger)", args.smoke)

    with _common.emulator(rate_limit_ip="none") as emu:
        t = time.monotonic()
        run_ids = _start_runs(runs, 600.0)
        result.notes.append(
            f"{len(run_ids)} real `sleep` runs (seconds=600) started async in {time.monotonic() - t:.1f} s; "
            f"{n} triggers ({n / len(run_ids):.0f} per run), poll interval {poll:g} s, window {window:g} s"
        )
        base = _run_child("baseline", n, window, poll, emu.base_url, run_ids)
        emu.control.reset()  # forget requests logged so far ... but reset also cancels runs: restart them
        run_ids = _start_runs(runs, 600.0)
        ours = _run_child("triggers", n, window, poll, emu.base_url, run_ids)
        served = [r for r in emu.control.requests_received() if r.get("method") == "GET"]
        lists = sum(1 for r in served if str(r.get("path", "")).rstrip("/").endswith("/runs"))
        polls = len(served)
        running = sum(1 for e in emu.control.executions() if e.get("status") in ("running", "queued"))
        # fresh runs for the profile: the watcher looks at a run every poll interval only while it is
        # young (< 10 intervals), then every tenth of its age; the trigger phase's runs are past that
        emu.control.reset()  # cancels all the sleep runs
        prof_poll = 0.2 if args.smoke else 1.0
        prof_ids = _start_runs(min(n, 200), 600.0)
        prof = _run_child("profile", len(prof_ids), 1.0, prof_poll, emu.base_url, prof_ids)
        emu.control.reset()  # cancels all the sleep runs
        after = len(emu.control.executions())

    result.add(
        "event-loop lag p99 (10 ms probe), whole window",
        f"{base['lag_p99_ms']:.1f} ms",
        f"{ours['lag_p99_ms']:.1f} ms",
        _ratio(ours["lag_p99_ms"], base["lag_p99_ms"]),
        f"< {GOAL_LAG_P99_MS:g} ms",
        ours["lag_p99_ms"] < GOAL_LAG_P99_MS,
    )
    result.add(
        f"event-loop lag p99, second half of the window (after {window / 2:g} s)",
        f"{base['lag_p99_steady_ms']:.1f} ms",
        f"{ours['lag_p99_steady_ms']:.1f} ms",
        _ratio(ours["lag_p99_steady_ms"], base["lag_p99_steady_ms"]),
        f"< {GOAL_LAG_P99_MS:g} ms",
        ours["lag_p99_steady_ms"] < GOAL_LAG_P99_MS,
    )
    result.add(
        "CPU % of one core (process time / wall; emulator not counted)",
        f"{base['cpu_pct']:.1f} %",
        f"{ours['cpu_pct']:.1f} %",
        _ratio(ours["cpu_pct"], base["cpu_pct"]),
        f"< {GOAL_CPU_PCT:g} %",
        ours["cpu_pct"] < GOAL_CPU_PCT,
    )
    result.add(
        "RSS growth (peak in window - before start)",
        f"{base['rss_growth_mb']:.1f} MB",
        f"{ours['rss_growth_mb']:.1f} MB",
        _ratio(ours["rss_growth_mb"], base["rss_growth_mb"]),
        f"< {GOAL_RSS_MB:g} MB",
        ours["rss_growth_mb"] < GOAL_RSS_MB,
    )
    result.notes.append(
        f"trigger phase: {polls} requests served by the emulator ({lists} run-list pages, "
        f"{polls - lists} run reads; ~{polls / max(ours['window_s'], 1e-9):.1f}/s, where per-run polling "
        f"would send {n / poll:.0f}/s), {ours['events_fired']} "
        f"events fired early (expected 0), {ours['errors']} trigger errors, {running} runs still running at "
        f"the end; reset left {after} executions (all cancelled)"
    )
    result.notes.append(
        f"lag max: baseline {base['lag_max_ms']:.1f} ms, triggers {ours['lag_max_ms']:.1f} ms; "
        f"RSS before: baseline {base['rss_before_mb']:.0f} MB, triggers {ours['rss_before_mb']:.0f} MB"
    )
    result.notes.append(
        "the emulator shares the machine's 2 cores and answers every request; its CPU is not in the figures"
    )
    shares = ", ".join(f"{area} {pct:g} %" for area, pct in prof["shares_pct"].items())
    result.notes.append(
        f"CPU per wait and poll interval (process CPU / (N x intervals)): "
        f"{ours['cpu_per_poll_ms']:.3f} ms over the window; "
        f"{prof['cpu_per_poll_ms']:.3f} ms in steady state ({prof['n']} triggers with poll interval "
        f"{prof['poll_s']:g} s, past start-up: "
        f"{prof['cpu_pct']:.1f} % of a core); start-up (first {poll:g} s of the window: connection "
        f"lookup, session, registering with the watcher, its first list) "
        f"{ours['cpu_pct_first_interval']:.1f} % of a core, after it "
        f"{ours['cpu_pct_after_first_interval']:.1f} %"
    )
    result.notes.append(f"where the steady CPU goes (cProfile self time): {shares}")
    result.raw.update(baseline=base, triggers=ours, polls_served=polls, profile=prof)
    _common.finish(result, args.out, started)
    return 0


def _ratio(ours: float, base: float) -> float | None:
    return round(ours / base, 2) if base > 0 else None


if __name__ == "__main__":
    raise SystemExit(main())
