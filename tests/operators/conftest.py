"""Fixtures for running DAGs through real Airflow (``dag.test()``) against the emulator.

The migrated DB and the ``dag.test()`` worker are shared by the whole session
(:func:`tests.dag_runner.shared_runner`); each test gets a freshly reset emulator.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.emulator.process import EmulatorProcess
from airflow_provider_sim.hooks.sim import SimHook
from tests.dag_runner import DagRunner, RunDag, shared_runner


@pytest.fixture(scope="session")
def dag_runner(sim_server: EmulatorProcess) -> DagRunner:
    """The session's ``dag.test()`` runner, with ``sim_default`` pointing at the emulator."""
    return shared_runner(sim_server.base_url, sim_server.api_key)


@pytest.fixture
def run_dag(dag_runner: DagRunner, emulator: EmulatorHandle, request: pytest.FixtureRequest) -> RunDag:
    """``run_dag(body, ...)``: run a DAG named after the test on a freshly reset emulator."""
    return RunDag(dag_runner, request.node.name)


@pytest.fixture
def sim_hook(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimHook:
    """A hook in the test process on the same ``sim_default`` connection, to start, cancel or resume runs."""
    conn = {"conn_type": "sim", "host": emulator.base_url, "password": emulator.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_SIM_DEFAULT", json.dumps(conn))
    return SimHook("sim_default")
