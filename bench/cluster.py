"""1,000 mapped deferred tasks through the production-shaped cluster (PostgreSQL, CeleryExecutor on
Redis with two workers, two triggerers: ``tests/cluster/production.py``) against an emulator metering
like Sim's pro plan: wall time against the floor the plan's quotas allow, tasks failed, executions.

The floor is :func:`bench._pipeline.plan_floor`: ``ceil(n / in-flight cap)`` rounds of runs back to
back, or reading each output once from the plan's read budget, whichever is longer. Nothing is
killed here (``tests/cluster/test_production_cluster.py`` does that); this measures throughput.

python -m bench.cluster [--smoke] [--tasks N] [--seconds S]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common
from bench._pipeline import plan_floor
from tests.cluster.airflow_cluster import NOT_AIRFLOW_3_3, SKIP_REASON, AirflowCluster
from tests.cluster.production import inputs_for, production_dag, production_settings

DAG_ID = "bench_cluster_deferred"
#: the pro plan's numbers (airflow_provider_sim/emulator/config.py, PLANS["pro"])
PRO_IN_FLIGHT, PRO_API_PER_MINUTE, WINDOW_SECONDS = 50, 100, 60.0


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0, help="length of each Sim run")
    args = p.parse_args(argv)
    started = time.monotonic()
    n, run_s = (20, 2.0) if args.smoke else (args.tasks, args.seconds)
    result = _common.Result(
        "cluster", f"{n} mapped deferred tasks, Celery + 2 triggerers, pro plan", args.smoke
    )
    if NOT_AIRFLOW_3_3:
        result.skipped = SKIP_REASON
        _common.finish(result, args.out, started)
        return 0
    with _common.emulator(plan="pro") as sim:
        with AirflowCluster(
            sim_base_url=sim.base_url, sim_api_key=_common.API_KEY, settings=production_settings()
        ) as cluster:
            cluster_start = time.monotonic() - started
            source = production_dag(DAG_ID, {"deferred": n}, seconds=run_s)
            cluster.add_dag(DAG_ID, source, timeout=180)
            run = cluster.run_dag(DAG_ID, timeout=3600, progress=lambda line: print(line, flush=True))
            races = cluster.stale_event_failures(DAG_ID, run.run_id)
        executions = sim.control.executions()
    floor = plan_floor(n, PRO_IN_FLIGHT, run_s, PRO_API_PER_MINUTE, WINDOW_SECONDS)
    failed = sum(1 for t in run.tasks if t.state != "success")
    per_input = Counter(e["input"]["i"] for e in executions)
    inputs = inputs_for("deferred", n, run_s)
    wrong = sum(1 for t in run.tasks if t.return_value != inputs[t.map_index])
    retried = sum(1 for t in run.tasks if t.try_number > 1)
    ratio = run.seconds / floor["floor"]
    result.add(
        f"{n} tasks, runs of {run_s:g} s: wall, trigger -> DAG run end",
        f"{floor['floor']:.0f} s (floor: runs {floor['runs']:.0f} s, reads {floor['reads']:.0f} s)",
        f"{run.seconds:.0f} s",
        ratio,
        "- (information: Airflow's own per-task cost on 2 cores is not in the floor)",
        None,
    )
    result.add(
        "tasks failed",
        "0",
        f"{failed} of {n} (retried: {retried}, {len(races)} owed to the stale-event race)",
        None,
        "0",
        failed == 0,
    )
    result.add(
        "executions seen by the emulator",
        str(n),
        f"{len(executions)} ({sum(1 for c in per_input.values() if c > 1)} inputs duplicated, "
        f"{n - len(per_input)} missing, {wrong} wrong return values)",
        None,
        f"exactly {n}",
        len(executions) == n and len(per_input) == n and wrong == 0,
    )
    result.notes.append(f"cluster start {cluster_start:.0f} s; DAG run state {run.state}")
    result.raw.update({"tasks": n, "run_seconds": run_s, "floor": floor, "wall": run.seconds})
    _common.finish(result, args.out, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
