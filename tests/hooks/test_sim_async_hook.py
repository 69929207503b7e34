"""SimAsyncHook: the same flows over httpx, with the connection read through the async-safe API."""

from __future__ import annotations

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimApiError, SimAuthError, SimConfigurationError, SimNotFoundError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from airflow_provider_sim.protocol.models import RunStatus
from tests.hooks.conftest import ConnFactory


async def test_reads_and_cancels_like_the_sync_hook(sim_conn: ConnFactory, api_version: str) -> None:
    conn_id = sim_conn(api_version=api_version)
    queued = SimHook(conn_id).execute_workflow("hold", {"tag": 1}, async_execution=True)  # until released
    async with SimAsyncHook(conn_id) as hook:
        run = await hook.get_run("hold", queued.run_id, job_id=queued.job_id)
        assert run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
        assert (await hook.cancel_run("hold", queued.run_id)).cancelled
        assert (await hook.get_run("hold", queued.run_id)).status is RunStatus.CANCELLED
        assert not (await hook.cancel_run("hold", queued.run_id)).cancelled


async def test_bodies_go_out_as_utf8_not_escapes(sim_conn: ConnFactory, emulator: EmulatorHandle) -> None:
    text = "漢字" * 50_000
    async with SimAsyncHook(sim_conn()) as hook:
        queued = await hook.execute_workflow("echo", {"text": text}, run_id="utf8-1")
        assert (await hook.get_run("echo", queued.run_id)).status is not RunStatus.FAILED
    execute = emulator.control.requests_received()[0]
    assert execute["json"]["input"] == {"text": text}
    assert execute["headers"]["content-type"] == "application/json"
    assert len(text.encode()) < execute["bodyBytes"] < len(text.encode()) + 200
    with pytest.raises(SimConfigurationError, match="NaN and Infinity"):
        async with SimAsyncHook(sim_conn()) as hook:
            await hook.execute_workflow("echo", {"score": float("nan")}, run_id="nan-1")


async def test_errors_and_retries_match_the_sync_side(
    sim_conn: ConnFactory, emulator: EmulatorHandle
) -> None:
    async with SimAsyncHook(sim_conn(retry_initial_delay=0.05)) as hook:
        with pytest.raises(SimNotFoundError):
            await hook.get_run("echo", "missing-run")
        emulator.control.add_fault(
            "/api/v2/workflows/echo/runs/*",
            "status",
            status=503,
            headers={"Retry-After": "0"},
            body={"error": {"code": "SERVICE_UNAVAILABLE"}},
        )
        run = SimHook(sim_conn()).execute_workflow("echo", {"a": 1})
        assert (await hook.get_run("echo", run.run_id)).output == {"a": 1}
    async with SimAsyncHook(sim_conn("sim_bad", password="sk-sim-bad")) as bad:
        with pytest.raises(SimAuthError):
            await bad.get_run("echo", run.run_id)


async def test_one_session_and_one_kept_alive_connection_for_the_hooks_life(sim_conn: ConnFactory) -> None:
    hook = SimAsyncHook(sim_conn())
    async with hook:
        run = SimHook(sim_conn()).execute_workflow("echo", {})
        await hook.get_run("echo", run.run_id)
        session = hook._session
        for _ in range(3):
            await hook.get_run("echo", run.run_id)
        assert hook._session is session and session is not None
        connector = session.connector
        assert connector is not None
        # four sequential reads, one connection, idle in the pool between them
        assert sum(len(conns) for conns in connector._conns.values()) == 1
    assert hook._session is None and session.closed


async def test_missing_connection_names_the_fix() -> None:
    with pytest.raises(SimConfigurationError, match="AIRFLOW_CONN_SIM_NOWHERE_ASYNC"):
        async with SimAsyncHook("sim_nowhere_async"):
            pass


async def test_redirects_are_not_followed(sim_conn: ConnFactory, emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(
        "/api/v2/workflows/echo/runs/*",
        "status",
        status=307,
        headers={"Location": "http://127.0.0.2:9/steal"},
    )
    async with SimAsyncHook(sim_conn()) as hook:
        with pytest.raises(SimApiError, match="redirects are not followed") as caught:
            await hook.get_run("echo", "some-run")
    assert caught.value.code == "REDIRECT"
    assert len(emulator.control.requests_received()) == 1
