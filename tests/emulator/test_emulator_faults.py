"""Injected faults: replaced responses, delays, dropped connections, broken bodies."""

from __future__ import annotations

import json

import httpx
import pytest
import requests

from airflow_provider_sim.emulator.control import EmulatorHandle

EXECUTE_V1 = "/api/workflows/echo/execute"
EXECUTE_V2 = "/api/v2/workflows/echo/execute"


def post(
    emulator: EmulatorHandle,
    path: str,
    body: object,
    timeout: float = 5,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}{path}",
        json=body,
        headers={**emulator.headers, **(headers or {})},
        timeout=timeout,
    )


def test_status_before_replaces_handling_and_creates_no_run(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(EXECUTE_V1, "status", status=503, method="POST")
    response = post(emulator, EXECUTE_V1, {"a": 1})
    assert response.status_code == 503 and "error" in response.json()
    assert response.headers["x-request-id"]
    assert emulator.control.executions() == []
    assert post(emulator, EXECUTE_V1, {"a": 1}).status_code == 200, "times defaults to 1"


def test_status_after_keeps_the_run_and_honours_body_and_headers(emulator: EmulatorHandle) -> None:
    body = {
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "ambiguous",
            "details": {"code": "ASYNC_ENQUEUE_AMBIGUOUS"},
        }
    }
    emulator.control.add_fault(
        EXECUTE_V2, "status", status=503, body=body, headers={"X-Custom": "1"}, when="after"
    )
    response = post(emulator, EXECUTE_V2, {"input": {}, "async": True}, headers={"X-Run-Id": "maybe-queued"})
    assert response.status_code == 503
    assert response.json() == body and response.headers["x-custom"] == "1"
    [run] = emulator.control.executions()
    assert run["id"] == "maybe-queued"
    again = post(emulator, EXECUTE_V2, {"input": {}, "async": True}, headers={"X-Run-Id": "maybe-queued"})
    assert again.status_code == 409 and len(emulator.control.executions()) == 1


def test_delay_after_times_out_the_client_but_the_run_exists(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(EXECUTE_V1, "delay", seconds=1.0, when="after")
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(emulator, EXECUTE_V1, {"a": 1}, timeout=0.3, headers={"X-Execution-Id": "slow-answer"})
    [run] = emulator.control.executions()
    assert run["id"] == "slow-answer" and run["status"] == "completed"


def test_delay_before_then_handles_normally(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(EXECUTE_V1, "delay", seconds=0.2)
    response = post(emulator, EXECUTE_V1, {"a": 1})
    assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.2


def test_reset_before_is_a_connection_error_for_requests(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(EXECUTE_V1, "reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        post(emulator, EXECUTE_V1, {"a": 1})
    assert emulator.control.executions() == []
    assert post(emulator, EXECUTE_V1, {"a": 1}).status_code == 200, "the server keeps serving"


def test_reset_after_is_a_transport_error_for_httpx_and_the_run_exists(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(EXECUTE_V2, "reset", when="after")
    url = f"{emulator.base_url}{EXECUTE_V2}"
    headers = {**emulator.headers, "X-Run-Id": "reset-after"}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(url, json={"input": {}}, headers=headers)
    [run] = emulator.control.executions()
    assert run["id"] == "reset-after" and run["status"] == "completed"
    assert httpx.post(url, json={"input": {}}, headers=headers).status_code == 409


def test_malformed_json(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(EXECUTE_V1, "malformed_json")
    response = post(emulator, EXECUTE_V1, {})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_html_proxy_page(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(EXECUTE_V2, "html", status=502)
    response = post(emulator, EXECUTE_V2, {"input": {}})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text and "502 Bad Gateway" in response.text


def test_times_glob_paths_and_method_filter(emulator: EmulatorHandle) -> None:
    emulator.control.add_fault("/api/v2/workflows/*/runs/*", "status", status=500, method="GET", times=2)
    run_id = post(emulator, EXECUTE_V2, {"input": {}}).json()["data"]["runId"]
    url = f"{emulator.base_url}/api/v2/workflows/echo/runs/{run_id}"
    codes = [requests.get(url, headers=emulator.headers, timeout=5).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    assert emulator.control.faults() == []


def test_bad_faults_are_rejected(emulator: EmulatorHandle) -> None:
    with pytest.raises(ValueError, match="kind"):
        emulator.control.add_fault(EXECUTE_V1, "explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        emulator.control.add_fault(EXECUTE_V1, "status")
    with pytest.raises(ValueError, match="seconds"):
        emulator.control.add_fault(EXECUTE_V1, "delay")
    assert emulator.control.faults() == []
