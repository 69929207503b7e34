"""Real 429s: v1 without any rate-limit headers, v2 with Retry-After and X-RateLimit-*."""

from __future__ import annotations

import time
from datetime import datetime

import httpx

from airflow_provider_sim.emulator.control import EmulatorHandle


def v1_execute(emulator: EmulatorHandle, **headers: str) -> httpx.Response:
    url = f"{emulator.base_url}/api/workflows/echo/execute"
    return httpx.post(url, json={}, headers={**emulator.headers, **headers})


def v2_execute(emulator: EmulatorHandle, **body: object) -> httpx.Response:
    url = f"{emulator.base_url}/api/v2/workflows/echo/execute"
    return httpx.post(url, json={"input": {}, **body}, headers=emulator.headers)


def test_v1_429_has_no_rate_limit_headers(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_sync=1, rate_limit_burst=2)
    assert [v1_execute(emulator).status_code for _ in range(2)] == [200, 200]
    refused = v1_execute(emulator, **{"X-Execution-Id": "after-429"})
    assert refused.status_code == 429
    assert refused.json() == {"error": "Rate limit exceeded. Please try again later."}
    assert "retry-after" not in refused.headers
    assert not [name for name in refused.headers if name.lower().startswith("x-ratelimit")]
    assert refused.headers["x-request-id"]
    assert len(emulator.control.executions()) == 2


def test_v1_charges_async_runs_to_the_sync_bucket(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_sync=1, rate_limit_burst=1, rate_limit_async=1000)
    assert v1_execute(emulator, **{"X-Execution-Mode": "async"}).status_code == 202
    assert v1_execute(emulator, **{"X-Execution-Mode": "async"}).status_code == 429


def test_v2_429_has_retry_after_and_iso_details(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_sync=2, rate_limit_burst=2)
    first = v2_execute(emulator)
    assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    datetime.fromisoformat(first.headers["x-ratelimit-reset"])
    assert v2_execute(emulator).headers["x-ratelimit-remaining"] == "0"
    refused = v2_execute(emulator)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    retry_at = datetime.fromisoformat(error["details"]["retryAfter"])
    assert retry_at.tzinfo is not None
    assert int(refused.headers["retry-after"]) == 60  # the next refill, a minute after the first call
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert len(emulator.control.executions()) == 2


def test_v2_async_uses_its_own_bucket(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_sync=1, rate_limit_burst=1, rate_limit_async=1)
    assert v2_execute(emulator).status_code == 200
    assert v2_execute(emulator).status_code == 429
    assert v2_execute(emulator, **{"async": True}).status_code == 202
    assert v2_execute(emulator, **{"async": True}).status_code == 429


def test_buckets_refill_at_the_end_of_the_window(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_sync=1, rate_limit_burst=1, rate_limit_window_seconds=0.3)
    assert v2_execute(emulator).status_code == 200
    # on a busy machine a window may end between two calls: call until the bucket is seen empty
    for _ in range(50):
        refused = v2_execute(emulator)
        if refused.status_code == 429:
            break
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"  # whole seconds, at least 1, as Sim rounds it
    time.sleep(0.35)  # more than a window: at least one refill has come
    assert v2_execute(emulator).status_code == 200


def test_reset_refills_buckets_and_restores_startup_settings(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_sync=1, rate_limit_burst=1)
    v2_execute(emulator)
    assert v2_execute(emulator).status_code == 429
    emulator.control.reset()
    assert emulator.control.settings()["rate_limit_sync"] is None
    assert v2_execute(emulator).status_code == 200
