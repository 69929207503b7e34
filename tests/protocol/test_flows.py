"""Flows, driven step by step: the logic both drivers share, without any transport."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_sim.exceptions import SimConflictError, SimWaitTimeoutError
from airflow_provider_sim.protocol import flows
from airflow_provider_sim.protocol.models import ApiVersion, HttpResponse, RequestSpec, RunStatus, Sleep


def ok(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {}, json.dumps(body).encode())


def conflict(attempt: int) -> SimConflictError:
    return SimConflictError("taken", run_id="r1", after_resend=attempt > 1, http_status=409)


def run_body(status: str, **extra: Any) -> dict[str, Any]:
    return {"data": {"runId": "r1", "workflowId": "wf", "status": status, **extra}}


def test_a_resend_that_finds_its_id_taken_reads_that_run_instead_of_starting_another() -> None:
    flow = flows.execute(ApiVersion.V2, "wf", {"a": 1}, run_id="r1", mode="sync", poll_interval=1)
    execute = next(flow)
    assert isinstance(execute, RequestSpec) and execute.is_execute
    read = flow.throw(conflict(attempt=2))
    assert isinstance(read, RequestSpec) and read.method == "GET" and read.path.endswith("/runs/r1")
    assert isinstance(flow.send(ok(run_body("running"))), Sleep)
    assert flow.send(None).method == "GET"  # type: ignore[union-attr]
    with pytest.raises(StopIteration) as done:
        flow.send(ok(run_body("completed", output={"a": 1})))
    assert done.value.value.status is RunStatus.COMPLETED and done.value.value.output == {"a": 1}


def test_a_first_attempt_conflict_is_raised() -> None:
    flow = flows.execute(ApiVersion.V2, "wf", run_id="r1")
    next(flow)
    with pytest.raises(SimConflictError):
        flow.throw(conflict(attempt=1))


def test_async_recovery_reads_the_run_once() -> None:
    flow = flows.execute(ApiVersion.V1, "wf", run_id="r1", mode="async")
    next(flow)
    read = flow.throw(conflict(attempt=3))
    assert read.path == "/api/workflows/wf/executions/r1"  # type: ignore[union-attr]
    with pytest.raises(StopIteration) as done:
        flow.send(ok({"executionId": "r1", "status": "running"}))
    assert done.value.value.status is RunStatus.RUNNING


def test_wait_stops_at_timeout_without_cancelling() -> None:
    flow = flows.wait_for_run(ApiVersion.V2, "wf", "r1", poll_interval=5, timeout=0)
    next(flow)
    with pytest.raises(SimWaitTimeoutError, match="still running"):
        flow.send(ok(run_body("running")))


def test_wait_reports_each_status_change_once() -> None:
    seen: list[str] = []
    flow = flows.wait_for_run(
        ApiVersion.V2, "wf", "r1", poll_interval=5, on_status=lambda r, _: seen.append(r.status)
    )
    next(flow)
    for status in ["queued", "running", "running"]:
        assert isinstance(flow.send(ok(run_body(status))), Sleep)
        next(flow)
    with pytest.raises(StopIteration):
        flow.send(ok(run_body("paused")))
    assert seen == ["queued", "running", "paused"]


def test_v1_cancel_of_a_finished_run_is_reported_not_raised() -> None:
    flow = flows.cancel(ApiVersion.V1, "wf", "r1")
    next(flow)
    with pytest.raises(StopIteration) as done:
        flow.throw(SimConflictError("finished", run_id="", after_resend=False, http_status=409))
    assert done.value.value.cancelled is False
