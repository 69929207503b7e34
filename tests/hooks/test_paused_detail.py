"""Sim's paused-execution detail through both hooks, in both API generations, over real HTTP."""

from __future__ import annotations

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimNotFoundError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from tests.hooks.conftest import ConnFactory


def test_each_pause_is_detailed_with_sims_form_and_the_open_one_found(hook: SimHook) -> None:
    paused = hook.execute_workflow("approval", {"doc": 3, "pauses": 2}, async_execution=False)
    detail = hook.get_paused_execution("approval", paused.run_id)
    assert (detail.run_id, detail.status) == (paused.run_id, "paused")
    point = detail.waiting_at("approval")
    assert point is not None and point.kind == "human"
    assert point.response["data"]["inputFormat"][0]["name"] == "approved"
    assert point.response == paused.output  # the same block output a sync answer carries

    hook.resume_run("approval", paused.run_id, "approval", {"approved": True})
    detail = hook.get_paused_execution("approval", paused.run_id)
    assert detail.status == "partially_resumed"
    assert detail.waiting_at("approval") is None  # answered
    second = detail.waiting_at("approval-2")
    assert second is not None and second.response["data"]["responseStructure"][0]["name"] == "approved"


def test_a_run_that_never_paused_is_not_found(hook: SimHook) -> None:
    run = hook.execute_workflow("echo", {"a": 1}, async_execution=False)
    with pytest.raises(SimNotFoundError):
        hook.get_paused_execution("echo", run.run_id)


async def test_the_async_hook_reads_the_same_detail(
    sim_conn: ConnFactory, api_version: str, emulator: EmulatorHandle
) -> None:
    conn_id = sim_conn(api_version=api_version)
    paused = SimHook(conn_id).execute_workflow("approval", {"doc": 4}, async_execution=False)
    async with SimAsyncHook(conn_id) as hook:
        detail = await hook.get_paused_execution("approval", paused.run_id)
    assert detail == SimHook(conn_id).get_paused_execution("approval", paused.run_id)
    assert detail.waiting_at("approval") is not None
    [request] = [r for r in emulator.control.requests_received() if "/paused/" in r["path"]][:1]
    assert request["path"] == f"/api/workflows/approval/paused/{paused.run_id}"
