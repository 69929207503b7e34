"""Shared plumbing for the benchmarks: environment, emulator, machine facts, result files.

Import this before anything from Airflow: :func:`prepare_airflow_env` must set ``AIRFLOW_HOME``
and the ``sim_default`` connection before Airflow reads its configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_RESULTS_DIR = BENCH_DIR / "results"
API_KEY = "sk-sim-bench-key"
CONN_ID = "sim_default"


@dataclass
class Row:
    """One line of a results table; ``ratio`` is ours / baseline (``None`` when not meaningful)."""

    measure: str
    baseline: str
    ours: str
    ratio: float | None
    goal: str
    met: bool | None


@dataclass
class Result:
    """What one benchmark reports: its table, free-form notes and the raw numbers."""

    name: str
    title: str
    smoke: bool
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    skipped: str | None = None

    def add(
        self, measure: str, baseline: str, ours: str, ratio: float | None, goal: str, met: bool | None
    ) -> None:
        self.rows.append(Row(measure, baseline, ours, ratio, goal, met))

    def print(self) -> None:
        print(f"\n== {self.title}{' (smoke)' if self.smoke else ''} ==")
        if self.skipped:
            print(f"skipped: {self.skipped}")
        for row in self.rows:
            ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
            met = "-" if row.met is None else ("MET" if row.met else "MISSED")
            print(
                f"  {row.measure}: baseline {row.baseline} | ours {row.ours} | ratio {ratio} | "
                f"goal {row.goal} | {met}"
            )
        for note in self.notes:
            print(f"  note: {note}")
        sys.stdout.flush()

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.name}{'.smoke' if self.smoke else ''}.json"
        path.write_text(json.dumps(asdict(self), indent=2, default=str))
        return path


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny counts, a few seconds; numbers not meaningful")
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS_DIR, help="directory for the JSON result")
    return p


def prepare_airflow_env(base_url: str = "http://127.0.0.1:1") -> None:
    """A throwaway AIRFLOW_HOME (unless one is set) and the ``sim_default`` connection as env var."""
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="sim-bench-airflow-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
    set_connection(base_url)


def set_connection(base_url: str) -> None:
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "sim", "host": base_url, "password": API_KEY, "extra": {"api_version": "v2"}}
    )


@contextmanager
def emulator(**kwargs: Any) -> Iterator[Any]:
    """A fresh emulator subprocess (own process: its CPU is never counted in ours)."""
    from airflow_provider_sim.emulator.process import EmulatorProcess

    with EmulatorProcess(api_key=API_KEY, **kwargs) as proc:
        set_connection(proc.base_url)
        yield proc


def rss_mb() -> float:
    """Current resident set size of this process in MB (from /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import airflow

        airflow_version = airflow.__version__
    except Exception:
        airflow_version = "not importable"
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "airflow": airflow_version,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
    }


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def finish(result: Result, out_dir: Path, started: float) -> None:
    result.wall_seconds = round(time.monotonic() - started, 2)
    result.raw.setdefault("machine", machine())
    result.print()
    path = result.write(out_dir)
    print(f"  result: {path}  ({result.wall_seconds:.1f} s)")
