"""The same emulator in-process, behind ``httpx.ASGITransport`` (no sockets, no subprocess)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from emulator_helpers import sse_payloads

from airflow_provider_sim.emulator.app import create_app
from airflow_provider_sim.emulator.config import EmulatorConfig, EmulatorSettings

KEY = {"X-API-Key": "sk-sim-unit"}
CONFIG = EmulatorConfig(api_key="sk-sim-unit", settings=EmulatorSettings(v2_enabled=True))


@pytest.fixture
async def aclient() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CONFIG)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as c:
        yield c
    await app.state.emulator.shutdown()


async def test_async_transport_runs_an_async_execution_to_completion(aclient: httpx.AsyncClient) -> None:
    response = await aclient.post(
        "/api/v2/workflows/sleep/execute", json={"input": {"seconds": 0.05}, "async": True}, headers=KEY
    )
    assert response.status_code == 202
    receipt = response.json()["data"]
    assert receipt["statusUrl"] == f"http://sim.test/api/v2/workflows/sleep/runs/{receipt['runId']}"
    for _ in range(100):
        data = (
            await aclient.get(receipt["statusUrl"], params={"includeOutput": "true"}, headers=KEY)
        ).json()["data"]
        if data["status"] == "completed":
            break
        await asyncio.sleep(0.01)
    assert data["output"] == {"seconds": 0.05}


async def test_async_transport_streams_and_resets(aclient: httpx.AsyncClient) -> None:
    body = {"input": {"text": "x y", "delay": 0}, "stream": True}
    async with aclient.stream("POST", "/api/v2/workflows/stream/execute", json=body, headers=KEY) as response:
        frames = sse_payloads([line async for line in response.aiter_lines()])
    assert frames[-1] == "[DONE]" and frames[-2]["event"] == "final"
    fault = {"path": "/api/workflows/echo/execute", "kind": "reset"}
    assert (await aclient.post("/_emulator/faults", json=fault)).status_code == 200
    # no socket to reset in-process: the dropped connection is the client's error
    with pytest.raises(ConnectionResetError):
        await aclient.post("/api/workflows/echo/execute", json={}, headers=KEY)


async def test_v1_sync_and_streamed_runs_in_process(aclient: httpx.AsyncClient) -> None:
    response = await aclient.post("/api/workflows/echo/execute", json={"a": 1}, headers=KEY)
    assert response.status_code == 200 and response.json()["output"] == {"a": 1}
    body = {"stream": True, "text": "p q"}
    async with aclient.stream("POST", "/api/workflows/stream/execute", json=body, headers=KEY) as r:
        frames = sse_payloads([line async for line in r.aiter_lines()])
    assert [f["chunk"] for f in frames if isinstance(f, dict) and "chunk" in f] == ["p ", "q"]
    assert (await aclient.post("/api/workflows/echo/execute", json={})).status_code == 401
    assert len((await aclient.get("/_emulator/executions")).json()["executions"]) == 2
