"""6. Waits within Sim's quota: many deferred waits on free- and pro-shaped accounts, watcher vs per-run.

Hosted Sim meters every v2 call per operation and account (free 30, pro 100 calls per 60 s window
per operation, capacity twice that, refilled all at once at each window end). Per plan, N (200 and
1,000 concurrent waits) and mode, in one fresh loop process (like a triggerer):

* ``watcher``: N real ``SimRunTrigger`` instances, iterated until each fires its one event; they
  wait through the process's shared run watcher (lists each workflow's runs, reads a run once
  it ended, paces every call to the budget Sim announces).
* ``per-run`` (the baseline, what triggers did before): N tasks each calling
  ``SimAsyncHook.wait_for_run`` with its own hook (``async with``).

Runs of 20-90 s with a 5 s poll interval make a long benchmark, so time is compressed by K
(default 10): window 60/K s, ``sleep`` runs uniform 20/K-90/K s, poll 5/K s. Lags are reported raw
and x K (the real-time equivalent); requests per window are requests per real minute.

The N runs are started with every limit lifted (plan none, no per-IP bucket), then the plan is
set (with ``max_runs_in_flight`` lifted: this measures waits, not admission) and the loop process,
already imported and waiting, starts its waits at once. A run's end is the emulator's ``endedAt``,
so every duration counts from the run's own start.

    python -m bench.quota_waits [--smoke] [-k K] [--plans free pro] [-n 200 1000] [--bound-factor F]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common, _quota

RUN_MIN_S, RUN_MAX_S, POLL_S, WINDOW_S = 20.0, 90.0, 5.0, 60.0  # real time
MODES = ("watcher", "per-run")
GOAL_429_PCT = 1.0
GOAL_FLOOR_FACTOR = 1.5
GOAL_PRO_200_SLACK_S = 2.0
GOAL_CPU_PCT = 10.0
#: the phase bound: this many times the ideal client's finish, plus this many windows
BOUND_FACTOR, BOUND_SLACK_WINDOWS = 2.0, 5
START_CONCURRENCY = 32


def _start_runs(base_url: str, durations: list[float]) -> list[str]:
    """Start one async ``sleep`` run per duration, ``START_CONCURRENCY`` at a time (plain aiohttp)."""

    async def start_all() -> list[str]:
        gate = asyncio.Semaphore(START_CONCURRENCY)
        headers = {"X-API-Key": _common.API_KEY}
        async with aiohttp.ClientSession(base_url, headers=headers) as session:

            async def start(seconds: float) -> str:
                body = {"input": {"seconds": seconds}, "async": True}
                async with gate, session.post("/api/v2/workflows/sleep/execute", json=body) as response:
                    response.raise_for_status()
                    return str((await response.json())["data"]["runId"])

            return list(await asyncio.gather(*(start(d) for d in durations)))

    return asyncio.run(start_all())


def _phase(emu: Any, plan: str, mode: str, durations: list[float], k: float, bound_factor: float) -> dict:
    """One measured phase in a fresh loop process; returns its summary."""
    from airflow_provider_sim.emulator.config import PLANS, EmulatorSettings

    window, poll, rate = WINDOW_S / k, POLL_S / k, float(PLANS[plan].api)
    control = emu.control
    control.reset()
    control.settings(plan=None, rate_limit_ip=None, max_runs_in_flight=None, rate_limit_window_seconds=window)
    tmp = Path(tempfile.mkdtemp(prefix="sim-bench-quota-"))
    ready, result_file, stderr_file = tmp / "ready", tmp / "result.json", tmp / "stderr.txt"
    env = dict(
        os.environ,
        SIM_BENCH_BASE_URL=emu.base_url,
        SIM_BENCH_READY_FILE=str(ready),
        SIM_BENCH_RESULT_FILE=str(result_file),
    )
    env["PYTHONPATH"] = str(_common.REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with stderr_file.open("w") as stderr:
        # stdout is Airflow's log (a line per event on 3.x): dropped, as a triggerer's would be shipped
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.quota_waits", "--phase"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env=env,
            cwd=_common.REPO_ROOT,
        )
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"loop process not ready ({child.poll()}):\n{stderr_file.read_text()}")
                time.sleep(0.05)
            t_start = time.time()
            run_ids = _start_runs(emu.base_url, durations)
            control.settings(
                plan=plan,
                rate_limit_window_seconds=window,
                max_runs_in_flight=None,
                rate_limit_ip=EmulatorSettings().rate_limit_ip,
            )
            t_plan = time.time()
            predicted = _quota.read_floor([t_start + d for d in durations], rate, window, poll)
            ideal_finish = max(t_start + d for d in durations) - t_plan + max(predicted)
            bound = bound_factor * ideal_finish + BOUND_SLACK_WINDOWS * window
            assert child.stdin is not None
            orders = {"mode": mode, "run_ids": run_ids, "poll": poll, "bound": bound}
            child.stdin.write(json.dumps(orders) + "\n")
            child.stdin.close()
            returncode = child.wait(timeout=bound + 120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    if returncode != 0:
        raise RuntimeError(
            f"{plan}/{mode} loop process failed ({returncode}):\n{stderr_file.read_text()[-3000:]}"
        )
    out = json.loads(result_file.read_text())
    ended = {e["id"]: _quota.epoch(e["endedAt"]) for e in control.executions() if e.get("endedAt")}
    routes = _quota.by_route(control.requests_received(), since=t_plan)
    control.reset()  # cancels whatever still runs
    arrived = out.pop("arrived")
    lags = [
        arrived[rid][0] - ended[rid]
        for rid in run_ids
        if rid in arrived and arrived[rid][1] == "completed" and rid in ended
    ]
    failures = [arrived[rid][1] for rid in run_ids if rid in arrived and arrived[rid][1] != "completed"]
    floors = _quota.read_floor([ended[rid] for rid in run_ids if rid in ended], rate, window, poll)
    wall = out["ended_at"] - t_plan
    total = sum(r["requests"] for r in routes.values())
    limited = sum(r["rate_limited"] for r in routes.values())
    return {
        **out,
        "plan": plan,
        "n": len(run_ids),
        "k": k,
        "window_s": window,
        "poll_s": poll,
        "rate": rate,
        "start_s": t_plan - t_start,
        "ended_before_waits": sum(1 for rid in run_ids if ended.get(rid, 1e18) < out["started_at"]),
        "bound_s": bound,
        "phase_wall_s": wall,
        "failed": len(run_ids) - len(lags),
        "failure_samples": failures[:3],
        "lag_median_s": _common.median(lags),
        "lag_p95_s": _common.percentile(lags, 95),
        "lag_mean_s": sum(lags) / max(len(lags), 1),
        "floor_median_s": _common.median(floors),
        "floor_mean_s": sum(floors) / max(len(floors), 1),
        "floor_p95_s": _common.percentile(floors, 95),
        "routes": routes,
        "requests": total,
        "rate_limited": limited,
        "per_window": {kind: r["requests"] / max(wall / window, 1e-9) for kind, r in routes.items()},
    }


def _report(result: _common.Result, watcher: dict, per_run: dict) -> None:
    """Rows for one plan and N: the watcher (ours) against per-run polling (baseline)."""
    plan, n, k = watcher["plan"], watcher["n"], watcher["k"]
    head = f"{plan}, {n} waits"

    def lag(p: dict, key: str) -> str:
        return f"{p[key] * k:.1f} s ({p[key]:.2f} s raw)"

    def share(p: dict) -> str:
        pct = p["rate_limited"] / max(p["requests"], 1) * 100
        return f"{p['rate_limited']} of {p['requests']} ({pct:.1f} %)"

    def ratio(key: str) -> float | None:
        return round(watcher[key] / per_run[key], 2) if per_run[key] > 0 else None

    result.add(
        f"{head}: tasks failed (error event, exception, not done within the phase bound)",
        f"{per_run['failed']} (bound {per_run['bound_s']:.0f} s)",
        f"{watcher['failed']} (bound {watcher['bound_s']:.0f} s)",
        None,
        "0",
        watcher["failed"] == 0,
    )
    pct = watcher["rate_limited"] / max(watcher["requests"], 1) * 100
    result.add(f"{head}: 429s of all requests", share(per_run), share(watcher), None, "<= 1 %", pct <= 1)
    floor = watcher["floor_median_s"]
    result.add(
        f"{head}: lag run end -> event, median (real-time eq., x{k:g})",
        lag(per_run, "lag_median_s"),
        lag(watcher, "lag_median_s"),
        ratio("lag_median_s"),
        f"<= {GOAL_FLOOR_FACTOR:g} x median floor {floor * k:.1f} s = {GOAL_FLOOR_FACTOR * floor * k:.1f} s",
        watcher["failed"] < n and watcher["lag_median_s"] <= GOAL_FLOOR_FACTOR * floor,
    )
    if plan == "pro" and n == 200:
        goal = POLL_S + GOAL_PRO_200_SLACK_S
        result.add(
            f"{head}: lag median, real-time eq.",
            lag(per_run, "lag_median_s"),
            lag(watcher, "lag_median_s"),
            ratio("lag_median_s"),
            f"<= poll + {GOAL_PRO_200_SLACK_S:g} s = {goal:g} s",
            watcher["failed"] < n and watcher["lag_median_s"] * k <= goal,
        )
    result.add(
        f"{head}: lag p95 (real-time eq.)",
        lag(per_run, "lag_p95_s"),
        lag(watcher, "lag_p95_s"),
        ratio("lag_p95_s"),
        f"- (floor p95 {watcher['floor_p95_s'] * k:.1f} s)",
        None,
    )
    big = n >= 1000
    result.add(
        f"{head}: CPU of the loop process, % of one core",
        f"{per_run['cpu_pct']:.1f} %",
        f"{watcher['cpu_pct']:.1f} %",
        ratio("cpu_pct"),
        f"< {GOAL_CPU_PCT:g} %" if big else "- (information)",
        watcher["cpu_pct"] < GOAL_CPU_PCT if big else None,
    )
    result.add(
        f"{head}: RSS growth of the loop process",
        f"{per_run['rss_growth_mb']:.1f} MB",
        f"{watcher['rss_growth_mb']:.1f} MB",
        ratio("rss_growth_mb"),
        "- (information)",
        None,
    )
    result.notes.append(
        f"{head}: mean lag (real-time eq.) watcher {watcher['lag_mean_s'] * k:.1f} s, per-run "
        f"{per_run['lag_mean_s'] * k:.1f} s; mean floor {watcher['floor_mean_s'] * k:.1f} s"
    )
    for p in (watcher, per_run):
        rates = ", ".join(f"{kind} {v:.0f}" for kind, v in p["per_window"].items())
        limited = ", ".join(
            f"{kind} {r['rate_limited']}" for kind, r in p["routes"].items() if r["rate_limited"]
        )
        result.notes.append(
            f"{head}, {p['mode']}: requests per real minute (per window) {rates}; 429s by route: "
            f"{limited or 'none'}; phase {p['phase_wall_s']:.1f} s raw (bound {p['bound_s']:.0f} s), CPU "
            f"{p['cpu_s']:.2f} s over {p['wall_s']:.1f} s"
            + (f"; watcher sent {p['watcher_sent']}" if p["watcher_sent"] else "")
            + (f"; failures e.g. {p['failure_samples']}" if p["failure_samples"] else "")
            + f"; {p['n']} runs started in {p['start_s']:.1f} s, "
            f"{p['ended_before_waits']} ended before the waits began"
        )


FLOOR_NOTE = (
    "FLOOR: the least lag the plan's read budget allows, simulated: an ideal client learns each "
    "completion poll/2 after it on average and reads each output once; reads are granted first come "
    "first served by completion time (the emulator's endedAt) from a bucket following Sim's rules "
    "(capacity 2R, full when first used, i.e. at the first completion, as Sim and the emulator create "
    "an operation's bucket on its first call; R added at each window end; capped at 2R); "
    "floor_i = poll/2 + (grant_i - completion_i). List costs are ignored (<= 100 runs a page: a sweep "
    "of N runs is <= N/100 calls of runs.list, a bucket of its own). FIFO gives the least tail; the "
    "mean of (grant - completion) is the same for any order that never leaves a token unused, so the "
    "mean floor bounds every client (less up to poll/2, which a client waiting for a token does not "
    "pay on top), while a non-FIFO client may beat the floor's median at the cost of its tail"
)


def _notes(k: float, bound_factor: float) -> list[str]:
    """The notes that say how the benchmark measures."""
    return [
        f"time compressed x{k:g}: window {WINDOW_S / k:g} s, runs uniform {RUN_MIN_S / k:g}-"
        f"{RUN_MAX_S / k:g} s, poll {POLL_S / k:g} s; lags are shown x{k:g} (real-time equivalent), "
        "requests per window = per real minute; plan numbers are Sim's (free 30, pro 100 calls per "
        "window per operation, capacity 2x)",
        FLOOR_NOTE,
        "runs started with every limit lifted (plan none, per-IP bucket off), then the plan set with "
        "max_runs_in_flight lifted (this measures waits, not admission) and Sim's per-IP bucket (300 "
        "per window) back on; every bucket starts full at that moment; each phase runs in a fresh loop "
        "process, imported before the runs start; CPU and RSS are that process's (the emulator's are "
        "not counted); a wait fails on an error event, an exception, or not being done within the "
        f"phase bound ({bound_factor:g} x the ideal client's finish + {BOUND_SLACK_WINDOWS} windows)",
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phase"]:
        return _quota.child_main()
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("-k", type=float, default=None, help="time compression factor (default 10; smoke 30)")
    p.add_argument("--plans", nargs="*", default=None, help="plans (default free pro; smoke free)")
    p.add_argument("-n", nargs="*", type=int, default=None, help="concurrent waits (default 200 1000)")
    p.add_argument("--bound-factor", type=float, default=BOUND_FACTOR, help="phase bound / ideal finish")
    args = p.parse_args(argv)
    k = args.k or (30.0 if args.smoke else 10.0)
    plans = args.plans or (["free"] if args.smoke else ["free", "pro"])
    ns = args.n or ([20] if args.smoke else [200, 1000])
    started = time.monotonic()
    _common.prepare_airflow_env()
    result = _common.Result(
        "quota_waits", "6. Waits within Sim's quota (watcher vs per-run polling)", args.smoke
    )
    phases: list[dict] = []
    with _common.emulator() as emu:
        for n in ns:
            rng = random.Random(n)  # the same runs for every plan and mode
            durations = [round(rng.uniform(RUN_MIN_S / k, RUN_MAX_S / k), 3) for _ in range(n)]
            for plan in plans:
                pair = {mode: _phase(emu, plan, mode, durations, k, args.bound_factor) for mode in MODES}
                phases += pair.values()
                _report(result, pair["watcher"], pair["per-run"])
    result.notes[:0] = _notes(k, args.bound_factor)
    result.raw.update(k=k, phases=phases)
    _common.finish(result, args.out, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
