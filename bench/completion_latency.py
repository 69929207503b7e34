"""5. Completion latency: from a run ending on the server to SimRunTrigger firing its event.

``sleep`` runs of known, staggered durations are started async; for each run one SimRunTrigger
(poll interval P) and one baseline poller (a bare ``httpx.AsyncClient`` loop: GET the run, sleep
P) wait on one event loop. Latency = local wall time the waiter noticed - the run's ``endedAt``
from the emulator (same machine, same clock). Goal: every trigger latency ≤ P + 0.5 s.

    python -m bench.completion_latency [--smoke] [--runs K] [--poll P]
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common

SLACK = 0.5


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _wait_all(base_url: str, runs: list[tuple[str, float]], poll: float, bound: float) -> dict:
    import httpx

    from airflow_provider_sim.triggers.sim import SimRunTrigger

    noticed: dict[str, dict[str, float]] = {"trigger": {}, "raw": {}}
    payloads: dict[str, Any] = {}

    async def via_trigger(run_id: str) -> None:
        trigger = SimRunTrigger(
            sim_conn_id=_common.CONN_ID, workflow_id="sleep", run_id=run_id, poll_interval=poll
        )
        async for event in trigger.run():
            noticed["trigger"][run_id] = time.time()
            payloads[run_id] = event.payload
            return

    async def via_raw(client: httpx.AsyncClient, run_id: str) -> None:
        while True:
            r = await client.get(f"/api/v2/workflows/sleep/runs/{run_id}", params={"includeOutput": "true"})
            r.raise_for_status()
            if (r.json().get("data") or {}).get("status") in ("completed", "failed", "cancelled"):
                noticed["raw"][run_id] = time.time()
                return
            await asyncio.sleep(poll)

    headers = {"X-API-Key": _common.API_KEY, "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        tasks = [asyncio.create_task(via_trigger(rid)) for rid, _ in runs]
        tasks += [asyncio.create_task(via_raw(client, rid)) for rid, _ in runs]
        _done, pending = await asyncio.wait(tasks, timeout=bound)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"noticed": noticed, "payloads": payloads, "timed_out": len(pending)}


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=None, help="sleep runs (default 10)")
    p.add_argument("--poll", type=float, default=None, help="poll interval P in seconds (default 1)")
    args = p.parse_args(argv)
    k = args.runs or (2 if args.smoke else 10)
    poll = args.poll or (0.5 if args.smoke else 1.0)
    # durations spread over a poll interval so the run ends fall at every phase of the polling
    durations = [round((1.0 if args.smoke else 3.0) + i * poll * 1.37 / k, 3) for i in range(k)]
    started = time.monotonic()
    _common.prepare_airflow_env()
    result = _common.Result("completion_latency", f"5. Completion latency (P = {poll:g} s)", args.smoke)

    from airflow_provider_sim.hooks.sim import SimHook

    with _common.emulator() as emu:
        emu.control.reset()
        hook = SimHook(_common.CONN_ID)
        runs = [
            (hook.execute_workflow("sleep", {"seconds": d}, async_execution=True).run_id, d)
            for d in durations
        ]
        out = asyncio.run(_wait_all(emu.base_url, runs, poll, bound=max(durations) + 5 * poll + 10))
        executions = {e["id"]: e for e in emu.control.executions()}
        emu.control.reset()

    lat: dict[str, list[float]] = {"trigger": [], "raw": []}
    missing = 0
    for run_id, _ in runs:
        ended = executions.get(run_id, {}).get("endedAt")
        for who in ("trigger", "raw"):
            at = out["noticed"][who].get(run_id)
            if ended is None or at is None:
                missing += 1
                continue
            lat[who].append(at - _epoch(ended))
    completed_events = sum(1 for pl in out["payloads"].values() if pl.get("status") == "completed")
    goal = poll + SLACK
    stats = (("median", _common.median), ("max", lambda v: max(v, default=0.0)))
    for stat, fn in stats:
        ours, base = fn(lat["trigger"]), fn(lat["raw"])
        result.add(
            f"run end -> noticed, {stat} over {len(lat['trigger'])} runs",
            f"{base:.3f} s (bare httpx poller)",
            f"{ours:.3f} s",
            round(ours / base, 2) if base > 0 else None,
            f"<= P + {SLACK:g} = {goal:g} s",
            ours <= goal if lat["trigger"] else False,
        )
    result.notes.append(
        f"{k} sleep runs of {durations[0]:g}-{durations[-1]:g} s; expected latency ~ uniform(0, P) plus one "
        f"request; {completed_events}/{k} trigger events say completed; {missing} waits missing; "
        f"{out['timed_out']} waiters timed out"
    )
    result.raw.update(poll=poll, durations=durations, latency_s=lat, missing=missing)
    _common.finish(result, args.out, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
