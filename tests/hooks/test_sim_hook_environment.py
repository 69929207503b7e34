"""What both hooks take from the process environment: proxies (as requests reads them), never ~/.netrc."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConnectionError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from tests.hooks.conftest import ConnFactory

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_sync_hook_goes_through_the_proxy_unless_no_proxy_says_otherwise(
    sim_conn: ConnFactory, emulator: EmulatorHandle, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    run = SimHook(sim_conn()).execute_workflow("echo", {"via": "proxy?"})
    before = len(emulator.control.requests_received())
    clean_proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(SimConnectionError, match="could not connect") as caught:
        SimHook(sim_conn(max_retries=0)).get_run("echo", run.run_id)
    assert not caught.value.outcome_unknown
    assert len(emulator.control.requests_received()) == before  # it went to the proxy, not to Sim
    clean_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    assert SimHook(sim_conn()).get_run("echo", run.run_id).output == {"via": "proxy?"}


async def test_async_hook_goes_through_the_proxy_unless_no_proxy_says_otherwise(
    sim_conn: ConnFactory, emulator: EmulatorHandle, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    run = SimHook(sim_conn()).execute_workflow("echo", {"via": "proxy?"})
    before = len(emulator.control.requests_received())
    clean_proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    async with SimAsyncHook(sim_conn(max_retries=0)) as hook:
        with pytest.raises(SimConnectionError, match="could not connect") as caught:
            await hook.get_run("echo", run.run_id)
    assert not caught.value.outcome_unknown
    assert len(emulator.control.requests_received()) == before
    clean_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    async with SimAsyncHook(sim_conn()) as hook:
        assert (await hook.get_run("echo", run.run_id)).output == {"via": "proxy?"}


async def test_netrc_credentials_are_never_sent_to_sim(
    sim_conn: ConnFactory, emulator: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-sim\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    run = SimHook(sim_conn()).execute_workflow("echo", {})
    async with SimAsyncHook(sim_conn()) as hook:
        await hook.get_run("echo", run.run_id)
    requests_seen = emulator.control.requests_received()
    assert len(requests_seen) == 2
    assert all("authorization" not in r["headers"] for r in requests_seen)
