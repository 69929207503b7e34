"""A client written only from Sim's docs works unchanged against the emulator.

v2: Sim's official Python SDK (``simstudio-sdk``, from PyPI, unmodified). v1: the calls exactly as
Sim's v1 API docs and OpenAPI spec show them, with plain ``requests``.
"""

from __future__ import annotations

import time

import requests
from simstudio import SimStudioClient, SimStudioError

from airflow_provider_sim.emulator.control import EmulatorHandle


def test_official_sdk_v2_execute_status_async_and_limits(emulator: EmulatorHandle) -> None:
    client = SimStudioClient(api_key=emulator.api_key, base_url=emulator.base_url)
    result = client.execute_workflow("echo", {"message": "hi"})
    assert result.success and result.output == {"message": "hi"} and result.status == "completed"
    assert client.get_workflow_status("echo").is_deployed
    assert not client.validate_workflow("undeployed")
    queued = client.execute_workflow("sleep", {"seconds": 0.1}, async_execution=True)
    assert queued.status_url.endswith(f"/runs/{queued.run_id}")
    deadline = time.monotonic() + 10
    while (run := client.get_workflow_run("sleep", queued.run_id, include_output=True))[
        "status"
    ] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert run["output"] == {"seconds": 0.1}
    failed = client.execute_workflow("fail", {"message": "boom"})
    assert not failed.success and failed.status == "failed" and "boom" in (failed.error or "")
    assert client.get_usage_limits().rate_limit
    try:
        SimStudioClient(api_key="sk-sim-wrong", base_url=emulator.base_url).execute_workflow("echo", {})
    except SimStudioError as err:
        assert err.status == 401 and err.code == "UNAUTHORIZED"
    else:
        raise AssertionError("a wrong key must be rejected")


def test_v1_calls_as_documented(emulator: EmulatorHandle) -> None:
    headers = {"X-API-Key": emulator.api_key, "Content-Type": "application/json"}
    base = emulator.base_url
    sync = requests.post(
        f"{base}/api/workflows/echo/execute", json={"message": "hi"}, headers=headers, timeout=10
    )
    assert sync.status_code == 200 and sync.json()["success"] and sync.json()["output"] == {"message": "hi"}
    queued = requests.post(
        f"{base}/api/workflows/echo/execute",
        json={"a": 1},
        headers={**headers, "X-Execution-Mode": "async"},
        timeout=10,
    )
    assert queued.status_code == 202
    job_url = queued.json()["statusUrl"]
    deadline = time.monotonic() + 10
    while (job := requests.get(job_url, headers=headers, timeout=10).json())["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["output"]["output"] == {"a": 1}
    status = requests.get(f"{base}/api/workflows/echo/status", headers=headers, timeout=10).json()
    assert status["isDeployed"] is True
