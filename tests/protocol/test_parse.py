"""Reading answers: one status vocabulary, one error tree, both API generations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_sim.exceptions import (
    SimApiError,
    SimAuthError,
    SimBadRequestError,
    SimConflictError,
    SimInvalidResponseError,
    SimNotDeployedError,
    SimNotFoundError,
    SimRateLimitError,
    SimServerError,
    SimServiceUnavailableError,
    SimUsageLimitError,
)
from airflow_provider_sim.protocol.build import build_execute, build_get_run
from airflow_provider_sim.protocol.models import ApiVersion, HttpResponse, RunStatus
from airflow_provider_sim.protocol.parse import (
    parse_execute,
    parse_job,
    raise_for_response,
)
from airflow_provider_sim.protocol.quota import parse_rate_limit, parse_reset, retry_after_seconds

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
GET = build_get_run(ApiVersion.V2, "wf", "r1")
EXEC_V1 = build_execute(ApiVersion.V1, "wf", {}, run_id="r1")
EXEC_V2 = build_execute(ApiVersion.V2, "wf", {}, run_id="r1")


def answer(status: int, body: Any, headers: dict[str, str] | None = None, attempt: int = 1) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, {"x-request-id": "req-9", **(headers or {})}, raw, attempt)


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("pending", "queued"),
        ("queued", "queued"),
        ("processing", "running"),
        ("redacting", "running"),
        ("paused", "paused"),
        ("completed", "completed"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
        ("teleporting", "unknown"),
    ],
)
def test_every_sim_status_word_maps_into_one_vocabulary(word: str, status: str) -> None:
    assert RunStatus.from_sim(word).value == status


def test_only_completed_is_success_and_unknown_is_not_terminal() -> None:
    assert [s for s in RunStatus if s.is_success] == [RunStatus.COMPLETED]
    assert {s for s in RunStatus if s.is_terminal} == {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
    }


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            401,
            {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}},
            SimAuthError,
            "UNAUTHORIZED",
        ),
        (402, {"error": "Usage limit exceeded"}, SimUsageLimitError, "USAGE_LIMIT_EXCEEDED"),
        (
            403,
            {"error": {"code": "FORBIDDEN", "message": "no", "details": {"code": "WORKFLOW_NOT_DEPLOYED"}}},
            SimNotDeployedError,
            "WORKFLOW_NOT_DEPLOYED",
        ),
        (
            404,
            {"error": "Workflow not found", "code": "WORKFLOW_NOT_FOUND"},
            SimNotFoundError,
            "WORKFLOW_NOT_FOUND",
        ),
        (500, {"error": {"code": "INTERNAL_ERROR", "message": "boom"}}, SimServerError, "INTERNAL_ERROR"),
        (418, {"error": "teapot"}, SimApiError, "EXECUTION_ERROR"),
    ],
)
def test_error_answers_map_to_one_tree(status: int, body: Any, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as caught:
        raise_for_response(GET, answer(status, body))
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.http_status == status  # type: ignore[attr-defined]
    assert caught.value.request_id == "req-9"  # type: ignore[attr-defined]
    assert "req-9" in str(caught.value)


def test_fixes_are_named() -> None:
    with pytest.raises(SimUsageLimitError, match="retrying will not help"):
        raise_for_response(GET, answer(402, {"error": "Usage limit exceeded"}))
    with pytest.raises(SimNotDeployedError, match="deploy the workflow"):
        raise_for_response(GET, answer(403, {"error": "Workflow is not deployed"}))


def test_413_gives_the_bodys_size_and_the_limit() -> None:
    spec = build_execute(ApiVersion.V2, "wf", {"text": "漢" * 4_000_000}, run_id="r1")
    assert spec.body is not None and len(spec.body) == 12_000_021
    too_large = {"error": {"code": "PAYLOAD_TOO_LARGE", "message": "Request body too large"}}
    with pytest.raises(SimBadRequestError) as caught:
        raise_for_response(spec, answer(413, too_large))
    message = str(caught.value)
    assert "12,000,021 bytes (11.4 MiB)" in message
    assert "at most 10,485,760 bytes (10 MiB)" in message and "as URLs" in message


def test_409_knows_whether_our_own_resend_hit_it() -> None:
    with pytest.raises(SimConflictError) as first:
        raise_for_response(EXEC_V2, answer(409, {"error": {"code": "CONFLICT", "message": "taken"}}))
    assert not first.value.after_resend and first.value.run_id == "r1"
    with pytest.raises(SimConflictError) as resent:
        raise_for_response(
            EXEC_V2, answer(409, {"error": "taken", "code": "EXECUTION_ID_CONFLICT"}, attempt=2)
        )
    assert resent.value.after_resend


def test_429_carries_retry_after_in_seconds() -> None:
    with pytest.raises(SimRateLimitError) as caught:
        raise_for_response(
            GET, answer(429, {"error": {"code": "RATE_LIMITED", "message": "slow"}}, {"Retry-After": "7"})
        )
    assert caught.value.retry_after == 7.0 and caught.value.code == "RATE_LIMITED"
    with pytest.raises(SimRateLimitError) as v1:
        raise_for_response(EXEC_V1, answer(429, {"error": "Rate limit exceeded. Please try again later."}))
    assert v1.value.retry_after is None


def test_503_and_proxy_html_pages() -> None:
    with pytest.raises(SimServiceUnavailableError) as caught:
        raise_for_response(GET, answer(503, b"<html>Bad gateway</html>", {"content-type": "text/html"}))
    assert "non-JSON" in str(caught.value)


def test_redirects_are_errors_naming_the_fix() -> None:
    with pytest.raises(SimApiError, match="base URL"):
        raise_for_response(GET, answer(301, b"", {"location": "https://www.sim.ai/api"}))


def test_v1_run_failure_and_timeout_are_run_results_not_errors() -> None:
    failed = answer(500, {"success": False, "error": "Agent block failed"})
    raise_for_response(EXEC_V1, failed)
    run = parse_execute(EXEC_V1, failed, "wf")
    assert run.status is RunStatus.FAILED and run.error and run.error.message == "Agent block failed"
    assert run.run_id == "r1"
    timed_out = parse_execute(EXEC_V1, answer(408, {"error": "Request timeout"}), "wf")
    assert timed_out.status is RunStatus.FAILED and timed_out.error and timed_out.error.code == "TIMEOUT"
    with pytest.raises(SimServerError):
        raise_for_response(EXEC_V1, answer(500, {"error": "db down"}))


def test_non_json_success_is_invalid_json() -> None:
    with pytest.raises(SimInvalidResponseError) as caught:
        parse_execute(EXEC_V2, answer(200, b"<html>hi</html>"), "wf")
    assert caught.value.code == "INVALID_JSON"


def test_v2_results_sync_failed_and_async() -> None:
    done = answer(
        200,
        {
            "data": {
                "runId": "r1",
                "workflowId": "wf",
                "status": "completed",
                "output": {"x": 1},
                "durationMs": 12,
            }
        },
    )
    run = parse_execute(EXEC_V2, done, "wf")
    assert (run.status, run.output, run.duration_ms) == (RunStatus.COMPLETED, {"x": 1}, 12.0)
    failed = answer(
        200, {"data": {"runId": "r1", "status": "failed", "error": {"message": "t", "code": "TIMEOUT"}}}
    )
    assert parse_execute(EXEC_V2, failed, "wf").error.code == "TIMEOUT"  # type: ignore[union-attr]
    queued = parse_execute(
        EXEC_V2, answer(202, {"data": {"runId": "r1", "statusUrl": "http://x/runs/r1"}}), "wf"
    )
    assert queued.status is RunStatus.QUEUED and queued.status_url == "http://x/runs/r1"


def test_v1_paused_result_carries_resume_info() -> None:
    body = {"success": True, "executionId": "r1", "output": {"_resume": {"contextId": "c1", "uiUrl": "u"}}}
    run = parse_execute(EXEC_V1, answer(200, body), "wf")
    assert run.status is RunStatus.PAUSED and run.paused and run.paused.context_id == "c1"


def test_completed_job_whose_workflow_failed_is_failed() -> None:
    body = {
        "success": True,
        "taskId": "j1",
        "status": "completed",
        "output": {"success": False, "executionId": "r1", "output": {}, "error": "bad"},
    }
    run = parse_job(answer(200, body), "j1", "wf")
    assert run.status is RunStatus.FAILED and run.run_id == "r1" and run.job_id == "j1"
    old = parse_job(answer(200, {"success": True, "taskId": "j1", "status": "queued"}), "j1", "wf", "r9")
    assert old.status is RunStatus.QUEUED and old.run_id == "r9"


@pytest.mark.parametrize(
    "value", ["2026-11-23T12:00:30Z", "2026-11-23T12:00:30.000+00:00", "1795435230", "1795435230000"]
)
def test_reset_accepts_iso_and_epoch_forms(value: str) -> None:
    reset = parse_reset(value)
    assert reset is not None and reset.tzinfo is not None


def test_retry_after_http_date_and_reset_fallback() -> None:
    assert retry_after_seconds({"Retry-After": "Mon, 23 Nov 2026 12:00:10 GMT"}, now=NOW) == 10.0
    assert retry_after_seconds({"X-RateLimit-Reset": "2026-11-23T12:00:04Z"}, now=NOW) == 4.0
    assert retry_after_seconds({}, now=NOW) is None


def test_rate_limit_info_from_headers() -> None:
    info = parse_rate_limit(
        {
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "3",
            "X-RateLimit-Reset": "2026-11-23T12:01:00Z",
        },
        now=NOW,
    )
    assert info is not None and (info.limit, info.remaining) == (100, 3)
    assert info.reset_at == datetime(2026, 11, 23, 12, 1, tzinfo=UTC)
    assert parse_rate_limit({}) is None
