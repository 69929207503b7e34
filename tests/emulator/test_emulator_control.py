"""The /_emulator/ control API: execution log, request log, settings, reset."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_sim.emulator.control import EmulatorHandle


def test_executions_log_lists_every_run_in_start_order(emulator: EmulatorHandle) -> None:
    base, headers = emulator.base_url, emulator.headers
    requests.post(f"{base}/api/workflows/echo/execute", json={"a": 1}, headers=headers, timeout=5)
    requests.post(
        f"{base}/api/v2/workflows/sleep/execute",
        json={"input": {"seconds": 0.01}, "async": True},
        headers={**headers, "X-Run-Id": "mine"},
        timeout=5,
    )
    requests.post(
        f"{base}/api/workflows/echo/execute",
        json={},
        headers={**headers, "X-Execution-Mode": "async"},
        timeout=5,
    )
    first, second, third = emulator.control.executions()
    assert first["workflowId"] == "echo" and first["apiVersion"] == "v1" and first["mode"] == "sync"
    assert first["input"] == {"a": 1} and first["clientChosenId"] is False and first["startedAt"]
    assert "jobId" not in first
    assert second["id"] == "mine" and second["apiVersion"] == "v2" and second["mode"] == "async"
    assert second["clientChosenId"] is True
    assert third["mode"] == "async" and third["jobId"]


def test_request_log_redacts_the_key_and_says_whether_it_matched(emulator: EmulatorHandle) -> None:
    url = f"{emulator.base_url}/api/v2/workflows/echo/runs/x"
    requests.get(url, headers=emulator.headers, params={"includeOutput": "true"}, timeout=5)
    requests.post(
        f"{emulator.base_url}/api/workflows/echo/execute",
        json={"k": 1},
        headers={"X-API-Key": "wrong"},
        timeout=5,
    )
    get, post = emulator.control.requests_received()
    assert get["method"] == "GET" and get["path"] == "/api/v2/workflows/echo/runs/x"
    assert get["query"] == {"includeOutput": "true"}
    assert get["headers"]["x-api-key"] == "<redacted>" and get["apiKeyMatched"] is True
    assert emulator.api_key not in repr(get)
    assert post["json"] == {"k": 1} and post["apiKeyMatched"] is False and post["apiKeyPresent"] is True
    assert all(not entry["path"].startswith("/_emulator") for entry in emulator.control.requests_received())


def test_settings_validate_and_reset_clears_everything(emulator: EmulatorHandle) -> None:
    with pytest.raises(ValueError, match="unknown"):
        emulator.control.settings(no_such_setting=1)
    with pytest.raises(ValueError, match="rate_limit_sync"):
        emulator.control.settings(rate_limit_sync=-1)
    assert emulator.control.settings(sync_timeout_seconds=12)["sync_timeout_seconds"] == 12
    requests.post(
        f"{emulator.base_url}/api/workflows/echo/execute", json={}, headers=emulator.headers, timeout=5
    )
    emulator.control.add_fault("/api/x", "status", status=500)
    emulator.control.reset()
    assert emulator.control.executions() == []
    assert emulator.control.requests_received() == []
    assert emulator.control.faults() == []
    assert emulator.control.settings()["sync_timeout_seconds"] == 300


def test_reset_cancels_unfinished_runs(emulator: EmulatorHandle) -> None:
    requests.post(
        f"{emulator.base_url}/api/v2/workflows/approval/execute",
        json={"input": {}},
        headers=emulator.headers,
        timeout=5,
    )
    requests.post(
        f"{emulator.base_url}/api/v2/workflows/hold/execute",
        json={"input": {"tag": 1}, "async": True},
        headers=emulator.headers,
        timeout=5,
    )
    emulator.control.reset()
    assert emulator.control.executions() == []


def test_every_response_carries_a_request_id(emulator: EmulatorHandle) -> None:
    for response in (
        requests.get(f"{emulator.base_url}/_emulator/health", timeout=5),
        requests.get(f"{emulator.base_url}/api/nowhere", timeout=5),
        requests.get(f"{emulator.base_url}/api/workflows/echo/execute", headers=emulator.headers, timeout=5),
    ):
        assert response.headers["x-request-id"]
