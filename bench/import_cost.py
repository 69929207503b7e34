"""4. DAG-parse cost: importing ``airflow_provider_sim.operators.sim`` vs ``airflow.sdk`` alone.

Each sample is a fresh interpreter that times one import statement (interpreter start-up is not
counted); within a sample the kinds run back to back, in alternating order. Extra cost = median
over samples of (operator module - airflow.sdk), which cancels most of the machine's drift; a
single import takes ~1.4 s of which the spread between samples is tens of ms. Goal: ≤ 30 ms.
``python -X importtime`` then lists the modules the operator adds on top of ``airflow.sdk`` and
their self times: the cost itself, without the noise of timing a whole Airflow import.

Airflow 3.x only (``airflow.sdk`` does not exist on 2.x): skipped there.

    python -m bench.import_cost [--smoke] [--samples K]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common

GOAL_MS = 30.0
BASELINE = "airflow.sdk"
OURS = "airflow_provider_sim.operators.sim"
# what any module defining a deferrable operator imports anyway: the operator and trigger bases
BASES = "airflow.sdk.bases.operator, airflow.triggers.base, airflow.exceptions"
SNIPPET = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(_common.REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time_import(module: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(mod=module)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def _importtime(module: str) -> dict[str, tuple[int, int]]:
    """module -> (self µs, cumulative µs) from ``-X importtime``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cum_us, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
            out[name.strip()] = (int(self_us), int(cum_us))
        except ValueError:
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=None, help="fresh processes per kind (default 16)")
    args = p.parse_args(argv)
    samples = args.samples or (1 if args.smoke else 16)
    started = time.monotonic()
    _common.prepare_airflow_env()
    result = _common.Result("import_cost", "4. DAG-parse cost (import time, fresh processes)", args.smoke)
    try:
        import airflow

        major = int(airflow.__version__.split(".")[0])
    except Exception as err:
        major = 0
        result.skipped = f"airflow not importable: {err!r}"
    if major and major < 3:
        result.skipped = f"Airflow {airflow.__version__}: airflow.sdk (the 3.x baseline) does not exist"
    if result.skipped:
        _common.finish(result, args.out, started)
        return 0

    if not args.smoke:
        _time_import(OURS)  # warm the bytecode caches of both
        _time_import(BASELINE)
    times: dict[str, list[float]] = {BASELINE: [], BASES: [], OURS: []}
    for i in range(samples):
        order = (BASELINE, BASES, OURS) if i % 2 == 0 else (OURS, BASES, BASELINE)
        for module in order:
            times[module].append(_time_import(module))
    base, ours = times[BASELINE], times[OURS]
    mb, mo, mbases = _common.median(base), _common.median(ours), _common.median(times[BASES])
    extra_ms = _common.median([o - b for o, b in zip(ours, base, strict=True)]) * 1000
    result.add(
        f"import time, median of {samples} fresh processes each",
        f"{mb * 1000:.1f} ms (import {BASELINE})",
        f"{mo * 1000:.1f} ms (import {OURS})",
        round(mo / mb, 3) if mb else None,
        f"extra <= {GOAL_MS:g} ms",
        extra_ms <= GOAL_MS,
    )
    result.add(
        "extra import time (median of the per-sample differences, ours - baseline)",
        "0 ms",
        f"{extra_ms:.1f} ms",
        None,
        f"<= {GOAL_MS:g} ms",
        extra_ms <= GOAL_MS,
    )

    bases_extra_ms = _common.median([o - b for o, b in zip(ours, times[BASES], strict=True)]) * 1000
    result.add(
        "extra over Airflow's own operator + trigger bases (what any operator module needs)",
        f"{mbases * 1000:.1f} ms (import {BASES})",
        f"{mo * 1000:.1f} ms",
        round(mo / mbases, 3) if mbases else None,
        f"<= {GOAL_MS:g} ms",
        bases_extra_ms <= GOAL_MS,
    )

    # what the operator module adds on top of airflow.sdk, from -X importtime
    # three runs each; per module the median, so one slow run (GC, another process) does not count
    runs = 1 if args.smoke else 3
    t_base = _importtime(BASELINE)
    ours_runs = [_importtime(OURS) for _ in range(runs)]
    added = {
        name: (
            round(_common.median([r[name][0] for r in ours_runs if name in r])),
            round(_common.median([r[name][1] for r in ours_runs if name in r])),
        )
        for name in ours_runs[0]
        if name not in t_base
    }
    top_level: dict[str, int] = {}
    for name, (self_us, _cum) in added.items():
        root = name.split(".")[0]
        top_level[root] = top_level.get(root, 0) + self_us
    heavy = sorted(top_level.items(), key=lambda kv: -kv[1])[:8]
    heaviest_cum = sorted(added.items(), key=lambda kv: -kv[1][1])[:8]
    added_self_ms = sum(v[0] for v in added.values()) / 1000
    result.add(
        f"self time of the modules the operator module adds on top of {BASELINE} (-X importtime)",
        "0 ms",
        f"{added_self_ms:.1f} ms ({len(added)} modules)",
        None,
        f"<= {GOAL_MS:g} ms",
        added_self_ms <= GOAL_MS,
    )
    spread = (_common.percentile(base, 90) - _common.percentile(base, 10)) * 1000
    result.notes.append(
        f"spread of one import of {BASELINE} between samples (p90 - p10): {spread:.0f} ms; "
        f"medians: {BASELINE} {mb * 1000:.0f} ms, {OURS} {mo * 1000:.0f} ms"
    )
    result.notes.append(
        f"-X importtime: {len(added)} modules added on top of {BASELINE}, "
        f"{sum(v[0] for v in added.values()) / 1000:.1f} ms self time in total; by package (self): "
        + ", ".join(f"{k} {v / 1000:.1f} ms" for k, v in heavy)
    )
    result.notes.append(
        "heaviest added imports (cumulative): "
        + ", ".join(f"{k} {v[1] / 1000:.1f} ms" for k, v in heaviest_cum)
    )
    result.raw.update(
        baseline_s=base,
        ours_s=ours,
        extra_ms=extra_ms,
        bases_s=times[BASES],
        extra_over_bases_ms=bases_extra_ms,
        added_by_package_us=dict(heavy),
        heaviest_added_cum_us={k: v[1] for k, v in heaviest_cum},
    )
    _common.finish(result, args.out, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
