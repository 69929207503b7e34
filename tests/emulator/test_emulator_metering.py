"""Metering over real HTTP: per-IP bucket before auth, one bucket per v2 operation, unmetered v1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.emulator.ratelimit import UNLIMITED

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
def v2(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{emulator.base_url}/api/v2", headers=emulator.headers, timeout=5) as c:
        yield c


def assert_api_429(response: httpx.Response, capacity: int) -> None:
    """Sim's ``v2RateLimitError``: RATE_LIMITED, ISO retryAfter, Retry-After >= 1, X-RateLimit-*."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMITED" and error["message"] == "API rate limit exceeded"
    assert set(error["details"]) == {"retryAfter"}
    assert datetime.fromisoformat(error["details"]["retryAfter"]).tzinfo is not None
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-ratelimit-limit"] == str(capacity)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == error["details"]["retryAfter"]


def test_each_operation_has_its_own_bucket(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_api=1)  # capacity 2 per operation
    calls = {
        "workflows.runs.read": lambda: v2.get("/workflows/echo/runs/nope"),
        "workflows.runs.list": lambda: v2.get("/workflows/echo/runs"),
        "workflows.runs.cancel": lambda: v2.post("/workflows/echo/runs/nope/cancel"),
        "workflows.runs.resume": lambda: v2.post("/workflows/echo/runs/nope/resume", json={"contextId": "c"}),
        "workflows.execute": lambda: v2.post("/workflows/echo/execute", json={"input": {}}),
    }
    for operation, call in calls.items():
        first, second, third = call(), call(), call()
        assert first.status_code != 429 and second.status_code != 429, operation
        assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
        assert second.headers["x-ratelimit-remaining"] == "0", operation
        assert_api_429(third, capacity=2)
    # the workflow and its deployment share workflows.read, untouched so far
    assert v2.get("/workflows/echo").status_code == 200
    assert v2.get("/workflows/echo/deployment").status_code == 200
    assert_api_429(v2.get("/workflows/echo"), capacity=2)
    assert_api_429(v2.get("/workflows/echo/deployment"), capacity=2)


def test_head_costs_the_same_as_get_and_has_no_body(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_api=1)
    head = v2.head("/workflows/echo")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["x-ratelimit-remaining"] == "1"
    assert v2.get("/workflows/echo").headers["x-ratelimit-remaining"] == "0"
    refused = v2.head("/workflows/echo/deployment")
    assert refused.status_code == 429 and refused.content == b"" and refused.headers["retry-after"]
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert v2.head("/workflows/echo/execute").status_code == 405  # no GET there: nothing to alias


def test_refused_operation_starts_nothing_and_bad_requests_still_cost(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.control.settings(rate_limit_api=1)
    assert v2.post("/workflows/echo/execute", json={"nope": 1}).status_code == 400  # charged before parsing
    assert v2.post("/workflows/echo/execute", json={"input": {}}).status_code == 200
    refused = v2.post("/workflows/echo/execute", json={"input": {}}, headers={"X-Run-Id": "not-claimed"})
    assert_api_429(refused, capacity=2)
    assert len(emulator.control.executions()) == 1
    emulator.control.settings(rate_limit_api=None)
    assert v2.post(
        "/workflows/echo/execute", json={"input": {}}, headers={"X-Run-Id": "not-claimed"}
    ).is_success


def test_execute_passes_both_buckets_and_reports_the_stricter(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.control.settings(rate_limit_api=2, rate_limit_sync=1, rate_limit_burst=1)
    first = v2.post("/workflows/echo/execute", json={"input": {}})
    assert first.status_code == 200
    # operation bucket: 4 - 1 = 3 left; sync bucket: 1 - 1 = 0 left, so the sync bucket is reported
    assert first.headers["x-ratelimit-limit"] == "1" and first.headers["x-ratelimit-remaining"] == "0"
    refused = v2.post("/workflows/echo/execute", json={"input": {}})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "RATE_LIMITED" and error["details"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert refused.headers["x-ratelimit-limit"] == "1" and int(refused.headers["retry-after"]) >= 1
    # the operation bucket was charged too: 2 left, then 1, then refused by it
    emulator.control.settings(rate_limit_sync=None)  # rebuilds every bucket full: 4 operation tokens
    remaining = [v2.post("/workflows/echo/execute", json={"input": {}}) for _ in range(5)]
    assert [r.headers["x-ratelimit-remaining"] for r in remaining[:4]] == ["3", "2", "1", "0"]
    assert_api_429(remaining[4], capacity=4)


def test_unlimited_buckets_report_sims_unlimited_figures(v2: httpx.Client) -> None:
    response = v2.get("/workflows/echo/runs")
    assert response.headers["x-ratelimit-limit"] == str(UNLIMITED)
    assert response.headers["x-ratelimit-remaining"] == str(UNLIMITED)
    datetime.fromisoformat(response.headers["x-ratelimit-reset"])


def test_a_bad_key_costs_only_the_ip_bucket(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_api=1, rate_limit_ip=3)  # operation: 2 tokens; IP: 6
    for _ in range(3):
        denied = v2.get("/workflows/echo/runs", headers={"X-API-Key": "wrong"})
        assert denied.status_code == 401
        assert not [name for name in RATE_HEADERS if name in denied.headers]
    assert [v2.get("/workflows/echo/runs").status_code for _ in range(3)] == [200, 200, 429]
    # six IP tokens spent (3 refused keys + 3 keyed calls): the seventh is refused before auth
    by_ip = v2.get("/workflows/echo/runs", headers={"X-API-Key": "wrong"})
    assert_api_429(by_ip, capacity=6)


def test_ip_bucket_spares_unknown_paths_v1_and_control(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_ip=1)  # capacity 2
    base = emulator.base_url
    for _ in range(5):
        assert v2.get("/workflows/echo/nothing/here").status_code == 404
        assert v2.delete("/workflows/echo").status_code == 405
        assert httpx.get(f"{base}/api/workflows/echo/status", headers=emulator.headers).status_code == 200
        emulator.control.settings()
    assert [v2.get("/workflows/echo").status_code for _ in range(2)] == [200, 200]
    assert_api_429(v2.get("/workflows/echo", headers={"X-API-Key": "wrong"}), capacity=2)
    emulator.control.reset()  # refills the per-IP bucket too
    assert v2.get("/workflows/echo").status_code == 200


def test_unmetered_v1_routes_carry_no_headers_and_never_429(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_api=1, rate_limit_ip=1, rate_limit_sync=1, rate_limit_burst=1)
    base, headers = emulator.base_url, emulator.headers
    started = httpx.post(f"{base}/api/workflows/echo/execute", json={}, headers=headers)
    assert started.status_code == 200 and not [n for n in RATE_HEADERS if n in started.headers]
    run_id = started.json()["executionId"]
    urls = [
        f"{base}/api/workflows/echo/status",
        f"{base}/api/workflows/echo/executions/{run_id}",
        f"{base}/api/jobs/no-such-job",
        f"{base}/api/users/me/usage-limits",
    ]
    for _ in range(4):
        for url in urls:
            response = httpx.get(url, headers=headers)
            assert response.status_code in (200, 404), (url, response.text)
            assert not [name for name in RATE_HEADERS if name in response.headers], url
        cancel = httpx.post(f"{base}/api/workflows/echo/executions/{run_id}/cancel", headers=headers)
        assert cancel.status_code == 409  # finished: v1 says so, unmetered
    # v1 execute still answers its own 429: no headers at all
    refused = httpx.post(f"{base}/api/workflows/echo/execute", json={}, headers=headers)
    assert refused.status_code == 429 and refused.json() == {
        "error": "Rate limit exceeded. Please try again later."
    }
    assert "retry-after" not in refused.headers and not [n for n in RATE_HEADERS if n in refused.headers]


def test_request_log_shows_each_answer(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_api=1)
    statuses = [v2.get("/workflows/echo/runs/nope").status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    v2.get("/workflows/echo/runs", headers={"X-API-Key": "wrong"})
    with v2.stream("POST", "/workflows/stream/execute", json={"input": {}, "stream": True}) as streamed:
        streamed.read()
    logged = emulator.control.requests_received()
    assert [(entry["status"], entry["rateLimited"]) for entry in logged] == [
        (404, False),
        (404, False),
        (429, True),
        (401, False),
        (200, False),
    ]


def test_request_log_shows_faulted_answers(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.add_fault("/api/v2/workflows/echo", status=503)
    emulator.control.add_fault("/api/v2/workflows/echo", kind="reset")
    assert v2.get("/workflows/echo").status_code == 503
    with pytest.raises(httpx.TransportError):
        v2.get("/workflows/echo")
    assert [entry["status"] for entry in emulator.control.requests_received()] == [503, None]
