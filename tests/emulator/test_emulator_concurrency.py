"""The per-account in-flight cap: 429 EXECUTION_CONCURRENCY_LIMIT, nothing started, held runs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_helpers import poll

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.emulator.views import CONCURRENCY_MESSAGE


@pytest.fixture
def v2(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{emulator.base_url}/api/v2", headers=emulator.headers, timeout=10) as c:
        yield c


def v2_hold(v2: httpx.Client, **headers: str) -> httpx.Response:
    return v2.post("/workflows/hold/execute", json={"input": {}, "async": True}, headers=headers)


def v1_execute(emulator: EmulatorHandle, workflow: str = "hold", **headers: str) -> httpx.Response:
    url = f"{emulator.base_url}/api/workflows/{workflow}/execute"
    return httpx.post(url, json={}, headers={**emulator.headers, "X-Execution-Mode": "async", **headers})


def test_free_plan_admits_ten_runs_in_flight_then_429(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(plan="free")
    held = [v2_hold(v2) for _ in range(6)] + [v1_execute(emulator) for _ in range(4)]
    assert [r.status_code for r in held] == [202] * 10
    refused = v2_hold(v2, **{"X-Run-Id": "eleventh"})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
    assert refused.json() == {
        "error": {
            "code": "RATE_LIMITED",
            "message": CONCURRENCY_MESSAGE,
            "details": {"code": "EXECUTION_CONCURRENCY_LIMIT", "retryAfterSeconds": 5, "retryable": True},
        }
    }
    assert refused.headers["x-ratelimit-limit"] == "60"  # the workflows.execute bucket: 2 x 30
    assert "x-run-id" not in refused.headers
    refused_v1 = v1_execute(emulator, **{"X-Execution-Id": "eleventh"})
    assert refused_v1.status_code == 429 and refused_v1.headers["retry-after"] == "5"
    assert refused_v1.json() == {
        "error": CONCURRENCY_MESSAGE,
        "code": "EXECUTION_CONCURRENCY_LIMIT",
        "retryAfterSeconds": 5,
        "retryable": True,
    }
    assert not [name for name in refused_v1.headers if name.startswith("x-ratelimit")]
    assert len(emulator.control.executions()) == 10  # nothing started, no id claimed
    logged = emulator.control.requests_received()
    assert [entry["rateLimited"] for entry in logged[-2:]] == [True, True]

    emulator.control.release()
    poll(emulator.control.executions, lambda runs: all(run["status"] == "completed" for run in runs))
    admitted = v2_hold(v2, **{"X-Run-Id": "eleventh"})
    assert admitted.status_code == 202 and admitted.json()["data"]["runId"] == "eleventh"


def test_sync_and_queued_runs_count_paused_and_finished_do_not(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.control.settings(max_runs_in_flight=2, async_queue="external", async_queue_delay_seconds=30)
    assert v2.post("/workflows/approval/execute", json={"input": {}}).json()["data"]["status"] == "paused"
    assert v2.post("/workflows/echo/execute", json={"input": {}}).json()["data"]["status"] == "completed"
    queued = v2.post("/workflows/echo/execute", json={"input": {}, "async": True})
    assert queued.status_code == 202  # queued for 30 s: in flight
    assert v1_execute(emulator, "echo").status_code == 202
    assert v2.post("/workflows/echo/execute", json={"input": {}}).status_code == 429
    v2.post(f"/workflows/echo/runs/{queued.json()['data']['runId']}/cancel")
    assert v2.post("/workflows/echo/execute", json={"input": {}}).status_code == 200


def test_the_rate_limit_token_is_taken_before_the_cap_refuses(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    # Sim's preprocessing takes the execution token first and reserves the slot last
    emulator.control.settings(max_runs_in_flight=1, rate_limit_async=1)  # 2 async tokens
    assert v2_hold(v2).status_code == 202
    capped = v2_hold(v2)
    assert (
        capped.status_code == 429
        and capped.json()["error"]["details"]["code"] == "EXECUTION_CONCURRENCY_LIMIT"
    )
    assert capped.headers["x-ratelimit-remaining"] == "0"  # the async bucket, the stricter one
    emulator.control.release()
    poll(emulator.control.executions, lambda runs: runs[0]["status"] == "completed")
    rate_limited = v2_hold(v2)
    assert rate_limited.status_code == 429
    assert rate_limited.json()["error"]["details"]["code"] == "RATE_LIMIT_EXCEEDED"


def test_a_fractional_wait_rounds_the_header_up_and_keeps_the_exact_value(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.control.settings(max_runs_in_flight=1, concurrency_retry_after_seconds=0.5)
    assert v2_hold(v2).status_code == 202
    refused = v2_hold(v2)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["details"]["retryAfterSeconds"] == 0.5
    assert v1_execute(emulator).json()["retryAfterSeconds"] == 0.5
