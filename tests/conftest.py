"""Shared fixtures: one emulator subprocess per test session, reset before each test that uses it.

- ``sim_server`` (session): the :class:`EmulatorProcess`, API key :data:`TEST_API_KEY`.
- ``emulator`` (function): resets the server, then yields an
  :class:`~airflow_provider_sim.emulator.control.EmulatorHandle` with ``base_url``, ``api_key``,
  ``control`` (an :class:`EmulatorControl`) and ``headers`` (``{"X-API-Key": ...}``).
- ``dag_runner`` (session), ``run_dag``, ``sim_hook``: run DAGs through real Airflow (``dag.test()``)
  against the emulator, sharing one migrated DB and one worker per session (:mod:`tests.dag_runner`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_sim.emulator.control import EmulatorControl, EmulatorHandle
from airflow_provider_sim.emulator.process import EmulatorProcess
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.protocol.quota import forget_budgets
from tests.dag_runner import DagRunner, RunDag, shared_runner

TEST_API_KEY = "sk-sim-test-key"


@pytest.fixture(scope="session")
def sim_server() -> Iterator[EmulatorProcess]:
    """The emulator process shared by the whole session."""
    with EmulatorProcess(api_key=TEST_API_KEY, v2=True) as server:
        yield server


@pytest.fixture
def emulator(sim_server: EmulatorProcess) -> Iterator[EmulatorHandle]:
    """A freshly reset emulator (no runs, logs, faults; startup settings; full buckets), and no
    budget remembered from before the reset in this process."""
    control = EmulatorControl(sim_server.base_url)
    control.reset()
    forget_budgets()
    yield EmulatorHandle(
        base_url=sim_server.base_url,
        api_key=TEST_API_KEY,
        control=control,
        headers={"X-API-Key": TEST_API_KEY},
    )


@pytest.fixture(scope="session")
def dag_runner(sim_server: EmulatorProcess) -> DagRunner:
    """The session's ``dag.test()`` runner, with ``sim_default`` pointing at the emulator."""
    return shared_runner(sim_server.base_url, sim_server.api_key)


@pytest.fixture
def run_dag(dag_runner: DagRunner, emulator: EmulatorHandle, request: pytest.FixtureRequest) -> RunDag:
    """``run_dag(body, ...)``: run a DAG named after the test on a freshly reset emulator."""
    return RunDag(dag_runner, request.node.name, request.node.nodeid)


@pytest.fixture
def sim_hook(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimHook:
    """A hook in the test process on the same ``sim_default`` connection, to start, cancel or resume runs."""
    conn = {"conn_type": "sim", "host": emulator.base_url, "password": emulator.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_SIM_DEFAULT", json.dumps(conn))
    return SimHook("sim_default")
