"""Shared fixtures: one emulator subprocess per test session, reset before each test that uses it.

- ``sim_server`` (session): the :class:`EmulatorProcess`, API key :data:`TEST_API_KEY`.
- ``emulator`` (function): resets the server, then yields an
  :class:`~airflow_provider_sim.emulator.control.EmulatorHandle` with ``base_url``, ``api_key``,
  ``control`` (an :class:`EmulatorControl`) and ``headers`` (``{"X-API-Key": ...}``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_sim.emulator.control import EmulatorControl, EmulatorHandle
from airflow_provider_sim.emulator.process import EmulatorProcess

TEST_API_KEY = "sk-sim-test-key"


@pytest.fixture(scope="session")
def sim_server() -> Iterator[EmulatorProcess]:
    """The emulator process shared by the whole session."""
    with EmulatorProcess(api_key=TEST_API_KEY) as server:
        yield server


@pytest.fixture
def emulator(sim_server: EmulatorProcess) -> Iterator[EmulatorHandle]:
    """A freshly reset emulator (no runs, logs, faults; startup settings; full buckets)."""
    control = EmulatorControl(sim_server.base_url)
    control.reset()
    yield EmulatorHandle(
        base_url=sim_server.base_url,
        api_key=TEST_API_KEY,
        control=control,
        headers={"X-API-Key": TEST_API_KEY},
    )
