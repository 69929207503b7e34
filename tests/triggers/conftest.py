"""Trigger fixtures: the ``sim_default`` connection (from the environment) on the emulator."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.hooks.sim import SimHook


@pytest.fixture
def sim_conn(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    """``sim_default`` as ``AIRFLOW_CONN_SIM_DEFAULT`` JSON; returns the connection id."""
    conn = {"conn_type": "sim", "host": emulator.base_url, "password": emulator.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_SIM_DEFAULT", json.dumps(conn))
    return "sim_default"


@pytest.fixture
def sim_hook(sim_conn: str) -> SimHook:
    """A sync hook on the same connection, to start, cancel and resume runs from the test."""
    return SimHook(sim_conn)
