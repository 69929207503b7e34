"""Run every benchmark (each in its own process, bounded in time) and write bench/RESULTS.md.

python -m bench.run_all [--smoke] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common

#: (module, time bound in seconds for the full run)
BENCHMARKS = [
    ("hook_overhead", 150),
    ("deferred_waits", 200),
    ("rate_limited_fanout", 220),
    ("import_cost", 180),
    ("completion_latency", 60),
    ("quota_waits", 900),
    ("pipeline", 1500),
    # 1,000 mapped deferred tasks on PostgreSQL + Celery + 2 triggerers (tests/cluster/production.py)
    ("cluster", 2700),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--out", type=Path, default=_common.DEFAULT_RESULTS_DIR)
    p.add_argument("--results-md", type=Path, default=_common.BENCH_DIR / "RESULTS.md")
    args = p.parse_args(argv)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(_common.REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    started = time.monotonic()
    failed: list[str] = []
    for name, bound in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        # a result left from an earlier run must not stand in for one that fails now
        (args.out / f"{name}{'.smoke' if args.smoke else ''}.json").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", f"bench.{name}", "--out", str(args.out)]
        if args.smoke:
            cmd.append("--smoke")
        print(f"### {name}", flush=True)
        try:
            proc = subprocess.run(
                cmd, env=env, cwd=_common.REPO_ROOT, timeout=bound, capture_output=True, text=True
            )
            # the benchmark's own report, without Airflow's log lines
            for line in proc.stdout.splitlines():
                print(line)
            if proc.returncode != 0:
                failed.append(name)
                print(proc.stderr[-3000:])
        except subprocess.TimeoutExpired:
            failed.append(name)
            print(f"{name}: killed after {bound} s")
    write_markdown(args.out, args.results_md, args.smoke, failed)
    print(f"\nwrote {args.results_md} in {time.monotonic() - started:.0f} s; failed: {failed or 'none'}")
    return 1 if failed else 0


def write_markdown(out_dir: Path, md: Path, smoke: bool, failed: list[str]) -> None:
    m = _common.machine()
    lines = [
        "# Benchmark results" + (" (SMOKE: tiny counts, numbers not meaningful)" if smoke else ""),
        "",
        "Written by `make bench` (`python -m bench.run_all`); every figure below was measured in the "
        "same run.",
        "",
        f"- Date: {m['date']}",
        f"- Machine: {m['cores']} cores, {m['cpu_model']}; {m['platform']}",
        f"- Load average at the end (1/5/15 min): {m['loadavg_1m_5m_15m']} "
        "(other jobs on the machine add noise; the emulator itself runs in its own process)",
        f"- Python {m['python']}, Airflow {m['airflow']}",
        "",
        "| # | measure | baseline | ours | ratio | goal | met? |",
        "|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for index, (name, _) in enumerate(BENCHMARKS, start=1):
        path = out_dir / f"{name}{'.smoke' if smoke else ''}.json"
        if not path.exists():
            lines.append(f"| {index} | {name}: no result{' (failed)' if name in failed else ''} | | | | | |")
            continue
        data = json.loads(path.read_text())
        if data.get("skipped"):
            lines.append(f"| {index} | {data['title']}: skipped ({data['skipped']}) | | | | | |")
        for row in data["rows"]:
            ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
            met = "-" if row["met"] is None else ("yes" if row["met"] else "**NO**")
            cells = [str(index), row["measure"], row["baseline"], row["ours"], ratio, row["goal"], met]
            lines.append("| " + " | ".join(cells) + " |")
        notes.append(f"\n### {data['title']} ({data['wall_seconds']:.0f} s)\n")
        notes.extend(f"- {note}" for note in data["notes"])
    lines += ["", "## Notes", *notes, ""]
    md.write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
