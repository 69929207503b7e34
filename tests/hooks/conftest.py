"""Hook fixtures: an Airflow ``sim`` connection (from the environment) pointing at the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.hooks.sim import SimHook

ConnFactory = Callable[..., str]


@pytest.fixture
def sim_conn(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnFactory]:
    """Define a connection as ``AIRFLOW_CONN_<ID>`` JSON; returns its conn id."""

    def define(
        conn_id: str = "sim_default", *, password: str | None = None, host: str | None = None, **extra: Any
    ) -> str:
        value = {
            "conn_type": "sim",
            "host": emulator.base_url if host is None else host,
            "password": emulator.api_key if password is None else password,
            "extra": extra,
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
        return conn_id

    yield define


@pytest.fixture(params=["v2", "v1"])
def api_version(request: pytest.FixtureRequest) -> str:
    """Both API generations."""
    return str(request.param)


@pytest.fixture
def hook(sim_conn: ConnFactory, api_version: str) -> SimHook:
    """A hook on the emulator, in each API generation, with fast backoff."""
    return SimHook(sim_conn(api_version=api_version, retry_initial_delay=0.05, retry_max_delay=0.2))
