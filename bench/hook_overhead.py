"""1. Hook call overhead: SimHook vs a raw ``requests.Session`` with the same headers, same emulator.

Each iteration does one sync ``echo`` execute and one run-status read through each client; the
order of the clients rotates every iteration so drift (GC, CPU boost, the emulator's own state
growing) hits all alike. Reported: median seconds per call, per kind. Goal: hook ≤ 1.10x raw.

A third client, ``requests.Session`` with ``trust_env=False``, is the floor under the hook's own
layers: SimHook reads the proxy / CA-bundle environment once per session, where a default session
re-reads the whole environment on every call; the hook-vs-floor ratio is reported for information.

The emulator runs in its own process on the same 2 cores, so per-call times include its work
(identical for both clients). A cProfile pass over the hook's calls says where the time goes.
It runs with no limits at all (per-IP bucket off too: 12,000 calls would meet its 300 a minute):
this measures the cost of a call, not the quota.

    python -m bench.hook_overhead [--smoke] [--calls N]
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import sys
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common

GOAL = 1.10


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=None, help="calls of each kind per client (default 2000)")
    args = p.parse_args(argv)
    calls = args.calls or (40 if args.smoke else 2000)
    started = time.monotonic()
    _common.prepare_airflow_env()
    result = _common.Result("hook_overhead", "1. Hook call overhead (SimHook vs raw requests)", args.smoke)

    import requests

    from airflow_provider_sim.hooks.sim import SimHook

    with _common.emulator(rate_limit_ip="none") as emu:
        base = emu.base_url
        hook = SimHook(_common.CONN_ID)
        headers = dict(hook.settings.headers)
        timeout = (10.0, hook.settings.sync_timeout)
        read_timeout = (10.0, hook.settings.timeout)
        raw = requests.Session()
        raw.headers.update(headers)
        exec_url = f"{base}/api/v2/workflows/echo/execute"

        # the same client without requests' per-call reading of the environment (proxies, CA
        # bundle, ~/.netrc), which SimHook also skips: the floor under the hook's own layers
        bare = requests.Session()
        bare.headers.update(headers)
        bare.trust_env = False

        def raw_execute(payload: dict[str, int], raw: requests.Session = raw) -> str:
            run_id = str(uuid.uuid4())
            r = raw.post(
                exec_url,
                json={"input": payload},
                headers={"X-Run-Id": run_id},
                timeout=timeout,
                allow_redirects=False,
            )
            r.raise_for_status()
            r.json()
            return run_id

        def raw_read(run_id: str, raw: requests.Session = raw) -> None:
            r = raw.get(
                f"{base}/api/v2/workflows/echo/runs/{run_id}",
                params={"includeOutput": "true"},
                timeout=read_timeout,
                allow_redirects=False,
            )
            r.raise_for_status()
            r.json()

        def hook_execute(payload: dict[str, int]) -> str:
            run = hook.execute_workflow("echo", payload)
            return run.run_id

        def hook_read(run_id: str) -> None:
            hook.get_run("echo", run_id)

        # warm-up: connections open, caches filled, both sides
        for i in range(min(50, calls)):
            hook_read(hook_execute({"i": -i}))
            raw_read(raw_execute({"i": -i}))
        emu.control.reset()

        clients = {
            "hook": (hook_execute, hook_read),
            "raw": (raw_execute, raw_read),
            "bare": (lambda payload: raw_execute(payload, bare), lambda run_id: raw_read(run_id, bare)),
        }
        times: dict[str, list[float]] = {f"{who}_{kind}": [] for who in clients for kind in ("exec", "read")}
        pc = time.perf_counter
        gc.collect()
        deadline = time.monotonic() + (60 if args.smoke else 300)
        for i in range(calls):
            if time.monotonic() > deadline:
                result.notes.append(f"stopped at {i} iterations: time bound reached")
                break
            names = list(clients)
            order = names[i % 3 :] + names[: i % 3]  # rotate, so each client follows each other alike
            for who in order:
                execute, read = clients[who]
                t0 = pc()
                run_id = execute({"i": i})
                t1 = pc()
                read(run_id)
                t2 = pc()
                times[f"{who}_exec"].append(t1 - t0)
                times[f"{who}_read"].append(t2 - t1)
            if i % 500 == 499:
                emu.control.reset()  # keep the emulator's run table small for both alike

        med = {k: _common.median(v) for k, v in times.items()}
        mean = {k: (sum(v) / len(v) if v else 0.0) for k, v in times.items()}
        for kind, label in (("exec", "sync execute of echo"), ("read", "run-status read")):
            ratio = med[f"hook_{kind}"] / med[f"raw_{kind}"]
            result.add(
                f"{label}, median per call (n={len(times[f'hook_{kind}'])})",
                _common.fmt_ms(med[f"raw_{kind}"]),
                _common.fmt_ms(med[f"hook_{kind}"]),
                round(ratio, 3),
                f"<= {GOAL:.2f}x",
                ratio <= GOAL,
            )
            floor = med[f"hook_{kind}"] / med[f"bare_{kind}"]
            result.add(
                f"{label}: vs requests.Session(trust_env=False) (our own layers' cost)",
                _common.fmt_ms(med[f"bare_{kind}"]),
                _common.fmt_ms(med[f"hook_{kind}"]),
                round(floor, 3),
                "- (information)",
                None,
            )
            result.notes.append(
                f"{label}: mean hook {_common.fmt_ms(mean[f'hook_{kind}'])} vs raw "
                f"{_common.fmt_ms(mean[f'raw_{kind}'])}; extra per call (median) "
                f"{_common.fmt_ms(med[f'hook_{kind}'] - med[f'raw_{kind}'])}"
            )
        result.raw["median_s"] = med
        result.raw["mean_s"] = mean
        result.raw["p90_s"] = {k: _common.percentile(v, 90) for k, v in times.items()}

        # where the hook's time goes: a profile of hook calls only
        n_prof = min(300, calls)
        prof = cProfile.Profile()
        prof.enable()
        for i in range(n_prof):
            hook_read(hook_execute({"p": i}))
        prof.disable()
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(15)
        result.raw["profile_top_tottime"] = buf.getvalue()
        total = sum(s[2] for s in stats.stats.values())  # type: ignore[attr-defined]
        own = {
            "airflow_provider_sim": 0.0,
            "tenacity": 0.0,
            "requests/urllib3/http.client": 0.0,
            "socket I/O (waiting for the emulator)": 0.0,
        }
        for (filename, _line, func), s in stats.stats.items():  # type: ignore[attr-defined]
            tt = s[2]
            if "airflow_provider_sim" in filename:
                own["airflow_provider_sim"] += tt
            elif "tenacity" in filename:
                own["tenacity"] += tt
            elif any(x in filename for x in ("requests", "urllib3", "http/client", "email/")):
                own["requests/urllib3/http.client"] += tt
            elif "recv_into" in func or "sendall" in func or "poll" in func or "select" in func:
                own["socket I/O (waiting for the emulator)"] += tt
        share = ", ".join(f"{k} {v / total * 100:.0f}%" for k, v in own.items()) if total else "n/a"
        result.raw["profile_share"] = {k: v / total if total else 0.0 for k, v in own.items()}
        result.notes.append(f"cProfile of {n_prof} hook execute+read pairs, self time by area: {share}")
        emu.control.reset()

    _common.finish(result, args.out, started)
    if any(row.met is False for row in result.rows):
        print(result.raw["profile_top_tottime"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
