"""SimAsyncHook: the same flows over httpx, with the connection read through the async-safe API."""

from __future__ import annotations

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimAuthError, SimConfigurationError, SimNotFoundError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.hooks.sim_async import SimAsyncHook, _LoopPool
from airflow_provider_sim.protocol.models import RunStatus
from tests.hooks.conftest import ConnFactory


async def test_reads_and_cancels_like_the_sync_hook(sim_conn: ConnFactory, api_version: str) -> None:
    conn_id = sim_conn(api_version=api_version)
    queued = SimHook(conn_id).execute_workflow("sleep", {"seconds": 30}, async_execution=True)
    async with SimAsyncHook(conn_id) as hook:
        run = await hook.get_run("sleep", queued.run_id, job_id=queued.job_id)
        assert run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
        assert (await hook.cancel_run("sleep", queued.run_id)).cancelled
        assert (await hook.get_run("sleep", queued.run_id)).status is RunStatus.CANCELLED
        assert not (await hook.cancel_run("sleep", queued.run_id)).cancelled


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


async def test_one_client_for_the_hooks_life(sim_conn: ConnFactory) -> None:
    hook = SimAsyncHook(sim_conn())
    async with hook:
        run = SimHook(sim_conn()).execute_workflow("echo", {})
        await hook.get_run("echo", run.run_id)
        client = hook._client
        await hook.get_run("echo", run.run_id)
        assert hook._client is client and client is not None
    assert hook._client is None


async def test_missing_connection_names_the_fix() -> None:
    with pytest.raises(SimConfigurationError, match="AIRFLOW_CONN_SIM_NOWHERE_ASYNC"):
        async with SimAsyncHook("sim_nowhere_async"):
            pass


async def test_hooks_on_one_loop_share_one_pool_and_the_last_closes_it(
    sim_conn: ConnFactory, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    run = SimHook(sim_conn()).execute_workflow("echo", {"shared": True})
    first, second = SimAsyncHook(sim_conn()), SimAsyncHook(sim_conn("sim_wrong_key", password="sk-sim-bad"))
    async with first, second:
        for _ in range(3):
            assert (await first.get_run("echo", run.run_id)).output == {"shared": True}
            with pytest.raises(SimAuthError):  # each client still sends its own key
                await second.get_run("echo", run.run_id)
        pool = first._client._transport  # type: ignore[union-attr]
        assert isinstance(pool, _LoopPool) and second._client._transport is pool  # type: ignore[union-attr]
        assert pool.users == 2
        # six sequential requests from two hooks went over one reused connection
        assert len(pool._transport._pool.connections) == 1
    assert pool.users == 0 and pool._transport._pool.connections == []
    async with SimAsyncHook(sim_conn()) as later:
        await later.get_run("echo", run.run_id)
        assert later._client._transport is not pool  # type: ignore[union-attr]
    matched = [r["apiKeyMatched"] for r in emulator.control.requests_received() if "/runs/" in r["path"]]
    assert matched == [True, False] * 3 + [True]


async def test_a_proxy_in_the_environment_gets_a_client_of_its_own(
    sim_conn: ConnFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    async with SimAsyncHook(sim_conn()) as hook:
        await hook.settings()
        client = await hook._client_for(await hook.settings())
        assert not isinstance(client._transport, _LoopPool)
        assert any(transport is not None for transport in client._mounts.values())  # the proxy is used
