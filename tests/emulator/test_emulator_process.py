"""The emulator as a process: ready line, --no-v2, clean SIGTERM/SIGINT, early death reported."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from airflow_provider_sim.emulator.process import EmulatorProcess, EmulatorStartError


def test_sigterm_exits_cleanly_after_one_ready_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_sim.emulator", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("Sim emulator listening on http://127.0.0.1:")
    base_url = line.split(" on ", 1)[1].strip()
    assert requests.get(f"{base_url}/_emulator/health", timeout=5).json() == {"status": "ok"}
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""


def test_sigint_and_no_v2_flag() -> None:
    server = EmulatorProcess(api_key="k", v2=False)
    with server:
        v2 = requests.post(f"{server.base_url}/api/v2/workflows/echo/execute", json={"input": {}}, timeout=5)
        assert v2.status_code == 404 and v2.json()["error"]["code"] == "NOT_FOUND"
        v1 = requests.post(
            f"{server.base_url}/api/workflows/echo/execute", json={}, headers={"X-API-Key": "k"}, timeout=5
        )
        assert v1.status_code == 200
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0


def test_early_death_is_reported_with_stderr() -> None:
    with pytest.raises(EmulatorStartError, match="unrecognized arguments"):
        EmulatorProcess(extra_args=["--no-such-flag"], startup_timeout=10).start()
