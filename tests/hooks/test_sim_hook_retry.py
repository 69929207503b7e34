"""Backoff against a server that really answers 429, and resends that never run a workflow twice."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimRateLimitError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.protocol.models import RunStatus
from tests.hooks.conftest import ConnFactory


def execute_path(api_version: str, workflow_id: str = "echo") -> str:
    return (
        f"/api/v2/workflows/{workflow_id}/execute"
        if api_version == "v2"
        else f"/api/workflows/{workflow_id}/execute"
    )


def test_429_retry_after_is_honoured_by_the_clock(
    hook: SimHook, emulator: EmulatorHandle, api_version: str
) -> None:
    emulator.control.add_fault(
        execute_path(api_version),
        "status",
        status=429,
        headers={"Retry-After": "1"},
        body={"error": "Rate limit exceeded. Please try again later."},
    )
    started = time.monotonic()
    run = hook.execute_workflow("echo", {"n": 1})
    elapsed = time.monotonic() - started
    assert run.status is RunStatus.COMPLETED
    assert 1.0 <= elapsed < 3.0
    assert len(emulator.control.requests_received()) == 2
    assert len(emulator.control.executions()) == 1


def test_real_token_bucket_429_is_ridden_out(sim_conn: ConnFactory, emulator: EmulatorHandle) -> None:
    # one token, another at the end of each 0.5 s window; Retry-After says 1 s (whole seconds)
    emulator.control.settings(rate_limit_sync=1, rate_limit_burst=1, rate_limit_window_seconds=0.5)
    # someone else (not this process's budget) spends the token, so our call meets a real 429
    other = requests.post(
        f"{emulator.base_url}{execute_path('v2')}", json={"input": {}}, headers=emulator.headers, timeout=10
    )
    assert other.status_code == 200
    hook = SimHook(sim_conn(api_version="v2"))
    run = hook.execute_workflow("echo", {"n": 1})
    assert run.status is RunStatus.COMPLETED
    statuses = [r.get("status") for r in emulator.control.requests_received()]
    assert len(emulator.control.executions()) == 2
    assert statuses[0] == 200 and 429 in statuses[1:] and statuses[-1] == 200


def test_the_budget_sim_announces_is_spent_without_429s(
    sim_conn: ConnFactory, emulator: EmulatorHandle
) -> None:
    emulator.control.settings(rate_limit_sync=1, rate_limit_burst=1, rate_limit_window_seconds=0.5)
    hook = SimHook(sim_conn(api_version="v2"))
    started = time.monotonic()
    runs = [hook.execute_workflow("echo", {"n": n}) for n in range(3)]
    assert [r.status for r in runs] == [RunStatus.COMPLETED] * 3
    assert time.monotonic() - started >= 0.5  # the second waited for the refill Sim announced
    statuses = [r.get("status") for r in emulator.control.requests_received()]
    assert statuses == [200, 200, 200]


def test_v1_429_without_headers_backs_off_until_admitted_beyond_max_retries(
    sim_conn: ConnFactory, emulator: EmulatorHandle
) -> None:
    emulator.control.add_fault(
        execute_path("v1"),
        "status",
        status=429,
        times=5,
        body={"error": "Rate limit exceeded. Please try again later."},
    )
    hook = SimHook(sim_conn(api_version="v1", max_retries=2, retry_initial_delay=0.05, retry_max_delay=0.1))
    run = hook.execute_workflow("echo", {})
    assert run.status is RunStatus.COMPLETED
    assert len(emulator.control.requests_received()) == 6
    assert len(emulator.control.executions()) == 1


def test_a_bare_call_gives_up_at_max_rate_limit_wait_naming_the_limit(
    sim_conn: ConnFactory, emulator: EmulatorHandle
) -> None:
    emulator.control.add_fault(
        execute_path("v2"),
        "status",
        status=429,
        headers={"Retry-After": "3600"},
        body={"error": {"code": "RATE_LIMITED", "message": "API rate limit exceeded"}},
    )
    hook = SimHook(sim_conn(api_version="v2", max_rate_limit_wait=5))
    started = time.monotonic()
    with pytest.raises(SimRateLimitError) as caught:
        hook.execute_workflow("echo", {})
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert "3600 s" in message and "max_rate_limit_wait" in message and "Sim plan" in message
    assert caught.value.retry_after == 3600 and emulator.control.executions() == []


@pytest.mark.parametrize("fault", ["delay", "reset"])
def test_unknown_outcome_is_resent_under_the_same_id_and_runs_once(
    sim_conn: ConnFactory, emulator: EmulatorHandle, api_version: str, fault: str
) -> None:
    hook = SimHook(sim_conn(api_version=api_version, retry_initial_delay=0.05), sync_timeout=0.5)
    emulator.control.add_fault(
        execute_path(api_version), fault, when="after", seconds=2.0 if fault == "delay" else None
    )
    run = hook.execute_workflow("echo", {"only": "once"}, run_id="unknown-outcome")
    assert run.status is RunStatus.COMPLETED and run.output == {"only": "once"}
    executions = emulator.control.executions()
    assert [e["id"] for e in executions] == ["unknown-outcome"]
    execute_requests = [r for r in emulator.control.requests_received() if r["path"].endswith("/execute")]
    assert len(execute_requests) == 2


def test_async_enqueue_ambiguous_503_is_resent_and_runs_once(
    sim_conn: ConnFactory, emulator: EmulatorHandle
) -> None:
    hook = SimHook(sim_conn(api_version="v2", retry_initial_delay=0.05))
    body = {
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "enqueue outcome unknown",
            "details": {"code": "ASYNC_ENQUEUE_AMBIGUOUS", "runId": "amb-1"},
        }
    }
    emulator.control.add_fault(execute_path("v2"), "status", when="after", status=503, body=body)
    run = hook.execute_workflow("echo", {"x": 1}, run_id="amb-1", async_execution=True)
    assert run.run_id == "amb-1" and run.status is not RunStatus.FAILED
    assert [e["id"] for e in emulator.control.executions()] == ["amb-1"]


def test_reads_are_retried_on_gateway_errors(hook: SimHook, emulator: EmulatorHandle) -> None:
    emulator.control.add_fault("/api/users/me/usage-limits", "html", status=502)
    assert hook.get_usage_limits().sync is not None
    assert len(emulator.control.requests_received()) == 2
