"""Every benchmark runs in ``--smoke`` mode and reports its numbers. Never asserts a timing.

On the Airflow line ``make bench`` runs on (the newest, 3.3) only: the benchmarks run nowhere else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_sim.version_compat import AIRFLOW_V_3_3_PLUS

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="make bench runs on the newest Airflow line (3.3) only; so does its smoke"
)


def _run(name: str, out: Path, timeout: float = 60) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / f"{name}.smoke.json").read_text())
    assert result["name"] == name and result["smoke"] is True
    return result


def _assert_reported(result: dict) -> None:
    assert result["rows"], result
    for row in result["rows"]:
        assert row["measure"] and row["ours"] and row["goal"]


@pytest.mark.parametrize(
    "name", ["hook_overhead", "deferred_waits", "rate_limited_fanout", "completion_latency", "quota_waits"]
)
def test_benchmark_smoke(name: str, tmp_path: Path) -> None:
    _assert_reported(_run(name, tmp_path))


def test_import_cost_smoke(tmp_path: Path) -> None:
    _assert_reported(_run("import_cost", tmp_path))


def test_pipeline_smoke(tmp_path: Path) -> None:
    """Without ``--cluster`` the smoke starts no Airflow: it says so, checks its proxy, reports floors."""
    result = _run("pipeline", tmp_path)
    _assert_reported(result)
    assert result["skipped"], result
    proxy = next(row for row in result["rows"] if "proxy" in row["measure"])
    assert proxy["met"] is True, proxy


def test_results_markdown_from_smoke(tmp_path: Path) -> None:
    from bench import run_all

    _run("completion_latency", tmp_path)
    md = tmp_path / "RESULTS.md"
    run_all.write_markdown(tmp_path, md, smoke=True, failed=[])
    text = md.read_text()
    assert "| # | measure | baseline | ours | ratio | goal | met? |" in text
    assert "Completion latency" in text and "cores" in text
