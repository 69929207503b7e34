"""Fixtures for the checks that go through a real Airflow web server and the CLI of this Airflow line."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

from tests.ui.airflow_server import AirflowServer, make_server

EMULATOR_API_KEY = "sk-sim-ui-test-key"
EMULATOR_START_TIMEOUT = 30.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "server: starts a real Airflow web server and runs the airflow CLI in subprocesses "
        "(slow; deselect with -m 'not server')",
    )


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """The web server of the Airflow line these tests run under, one per module, always stopped."""
    airflow_bin = Path(sys.executable).with_name("airflow")
    if not airflow_bin.exists():
        pytest.fail(f"no airflow executable next to {sys.executable}")
    server = make_server(airflow_bin, dist_version("apache-airflow"), tmp_path_factory.mktemp("airflow"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class Emulator:
    base_url: str
    api_key: str


@pytest.fixture(scope="module")
def sim_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The local Sim emulator on a free loopback port; skips when the emulator is not there (yet)."""
    if importlib.util.find_spec("airflow_provider_sim.emulator.__main__") is None:
        pytest.skip("airflow_provider_sim.emulator has no __main__ yet: cannot run the Test-button check")
    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "PYTHONWARNINGS": "ignore"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_provider_sim.emulator",
                "--port",
                "0",
                "--api-key",
                EMULATOR_API_KEY,
                "--v2",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    lines: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.decode(errors="replace").strip())

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT
        base_url = None
        while time.monotonic() < deadline and base_url is None and process.poll() is None:
            base_url = next(
                (ln.split(" on ", 1)[1] for ln in lines if ln.startswith("Sim emulator listening on ")), None
            )
            time.sleep(0.1)
        if base_url is None:
            pytest.fail(
                "the Sim emulator did not come up within "
                f"{EMULATOR_START_TIMEOUT:.0f} s (exit {process.poll()}): "
                f"{log_path.read_text(errors='replace')[-1500:]}"
            )
        yield Emulator(base_url=base_url, api_key=EMULATOR_API_KEY)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
