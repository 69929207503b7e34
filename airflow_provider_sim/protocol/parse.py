"""Reading Sim's answers: error mapping, run parsing, rate-limit headers. No I/O.

Both API generations land in the same types (:class:`SimRun`, :class:`RunStatus`, the
exception tree of :mod:`airflow_provider_sim.exceptions`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_provider_sim.exceptions import (
    SimApiError,
    SimAuthError,
    SimBadRequestError,
    SimConflictError,
    SimConnectionError,
    SimInvalidResponseError,
    SimNotDeployedError,
    SimNotFoundError,
    SimRateLimitError,
    SimServerError,
    SimServiceUnavailableError,
    SimUsageLimitError,
)
from airflow_provider_sim.protocol.models import (
    ApiVersion,
    CancelResult,
    DeploymentStatus,
    HttpResponse,
    PauseInfo,
    RateLimitBucket,
    RequestSpec,
    RunError,
    RunPage,
    RunStatus,
    SimRun,
    UsageLimits,
    WorkflowInfo,
)
from airflow_provider_sim.protocol.quota import retry_after_seconds

_FIX_BY_STATUS: dict[int, str] = {
    401: "check the API key in the Sim connection (password field); keys look like sk-sim-...",
    402: "the Sim account's usage limit is reached: raise the limit or upgrade the plan in Sim's "
    "billing settings; retrying will not help",
    403: "the API key may not do this: check the key's workspace and permissions in Sim",
    404: "check the id (workflow ids are in the workflow's URL in Sim) and the connection's base URL",
    413: "the request body is over Sim's 10 MiB limit: send large files as URLs instead",
}


def connection_error(
    spec: RequestSpec, base_url: str, cause: BaseException, *, not_sent: bool, timed_out: bool
) -> SimConnectionError:
    """The error for a request that got no answer; each transport says only what it can tell from
    its own exception: whether the request never left (``not_sent``) and whether it timed out."""
    what = "could not connect" if not_sent else "the connection broke or timed out before Sim answered"
    return SimConnectionError(
        f"Sim {spec.method} {base_url}{spec.path}: {what} ({type(cause).__name__})",
        outcome_unknown=not not_sent,
        code="TIMEOUT" if timed_out else None,
    )


def invalid_response(response: HttpResponse, message: str) -> SimInvalidResponseError:
    """The error for a 2xx answer we cannot read."""
    return SimInvalidResponseError(
        message, http_status=response.status_code, request_id=response.header("x-request-id")
    )


def parse_json(response: HttpResponse) -> Any:
    """The JSON body, or :class:`SimInvalidResponseError` saying what came instead."""
    try:
        return json.loads(response.body)
    except ValueError as err:
        raise SimInvalidResponseError(
            f"Sim answered with a body that is not JSON ({_describe_body(response)}); check that the "
            "connection's base URL points at Sim and not at a proxy or another site",
            http_status=response.status_code,
            request_id=response.header("x-request-id"),
        ) from err


def _describe_body(response: HttpResponse) -> str:
    content_type = response.header("content-type") or "no content type"
    snippet = response.body[:80].decode("utf-8", "replace").replace("\n", " ")
    return f"{content_type}: {snippet!r}"


def error_fields(body: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """(message, code, details) from a v2 ``{"error": {...}}`` or v1 ``{"error": "...", "code"}`` body."""
    if not isinstance(body, dict):
        return None, None, {}
    error = body.get("error")
    if isinstance(error, dict):
        return _str(error.get("message")), _str(error.get("code")), _obj(error.get("details"))
    return _str(error) or _str(body.get("message")), _str(body.get("code")), {}


def is_run_outcome(spec: RequestSpec, response: HttpResponse) -> bool:
    """v1 reports a failed synchronous run as HTTP 500 ``{success: false}`` and a timed-out one as
    408: these are run results, not API errors."""
    if not spec.is_execute or spec.api_version is not ApiVersion.V1:
        return False
    if response.status_code == 408:
        return True
    if response.status_code == 500:
        try:
            body = json.loads(response.body)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("success") is False
    return False


def raise_for_response(spec: RequestSpec, response: HttpResponse, *, now: datetime | None = None) -> None:
    """Raise the exception for an error answer; return for success and for run outcomes."""
    status = response.status_code
    if 200 <= status < 300 or is_run_outcome(spec, response):
        return
    request_id = response.header("x-request-id")
    if 300 <= status < 400:
        location = response.header("location") or "an unknown place"
        raise SimApiError(
            f"Sim redirected {spec.method} {spec.path} to {location}; redirects are not followed so the "
            "API key stays on its host: set the connection's base URL to where Sim really is",
            http_status=status,
            code="REDIRECT",
            request_id=request_id,
        )
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    message, code, details = error_fields(body)
    if message is None:
        message = f"Sim answered {spec.method} {spec.path} with HTTP {status}" + (
            "" if body is not None else f" and a non-JSON body ({_describe_body(response)})"
        )
    fix = _FIX_BY_STATUS.get(status)
    common: dict[str, Any] = {
        "http_status": status,
        "code": code,
        "request_id": request_id,
        "details": details,
    }
    if status == 403 and (
        details.get("code") == "WORKFLOW_NOT_DEPLOYED" or "not deployed" in message.lower()
    ):
        raise SimNotDeployedError(
            f"{message}: deploy the workflow in Sim (Deploy button) first; an API key never runs a draft",
            **{**common, "code": "WORKFLOW_NOT_DEPLOYED"},
        )
    if status == 409:
        raise SimConflictError(
            f"{message}: run id {spec.run_id!r} is already taken",
            run_id=spec.run_id or "",
            after_resend=response.attempt > 1,
            **common,
        )
    if status == 429:
        hint = retry_after_seconds(response.headers, now=now)
        if hint is None:  # v1's capacity and concurrency answers say it in the body
            hint = _number(details.get("retryAfterSeconds", _obj(body).get("retryAfterSeconds")))
        limit = _str(details.get("code")) or code
        raise SimRateLimitError(
            f"{message}: rate limited by Sim",
            retry_after=hint,
            operation=spec.operation,
            limit_code=limit,
            **common,
        )
    if status in (502, 503, 504):
        raise SimServiceUnavailableError(
            message, retry_after=retry_after_seconds(response.headers, now=now), **common
        )
    error_class: type[SimApiError] = {
        400: SimBadRequestError,
        401: SimAuthError,
        402: SimUsageLimitError,
        403: SimAuthError,
        404: SimNotFoundError,
        413: SimBadRequestError,
        415: SimBadRequestError,
    }.get(status, SimServerError if status >= 500 else SimApiError)
    raise error_class(f"{message}: {fix}" if fix else message, **common)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _run_error(value: Any, *, default_code: str | None = None) -> RunError | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return RunError(
            _str(value.get("message")) or json.dumps(value), _str(value.get("code")) or default_code
        )
    return RunError(str(value), default_code)


def _pause_info(value: Any) -> PauseInfo | None:
    if not isinstance(value, dict):
        return None
    return PauseInfo(
        context_id=_str(value.get("contextId")),
        kind=_str(value.get("pauseKind")),
        paused_at=_str(value.get("pausedAt")),
        resume_at=_str(value.get("resumeAt")),
        blocked_on_block_id=_str(value.get("blockedOnBlockId")),
        resume_url=_str(value.get("uiUrl")),
    )


def _cost(value: Any) -> float | None:
    return _number(value.get("total")) if isinstance(value, dict) else _number(value)


def _data(body: Any, response: HttpResponse) -> dict[str, Any]:
    """The ``data`` object of a v2 envelope."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise invalid_response(
            response, "Sim's answer has no 'data' object; is the connection's API version right (v2 vs v1)?"
        )
    return body["data"]


def parse_execute(spec: RequestSpec, response: HttpResponse, workflow_id: str) -> SimRun:
    """An execute's answer (sync result, async 202, or v1 failure/timeout) as a :class:`SimRun`."""
    run_id = spec.run_id or ""
    if spec.api_version is ApiVersion.V1 and response.status_code in (408, 500):
        body = parse_json(response)
        default = "TIMEOUT" if response.status_code == 408 else "EXECUTION_FAILED"
        error = _run_error(body.get("error"), default_code=default) or RunError(
            "Workflow execution failed", default
        )
        return SimRun(run_id, workflow_id, RunStatus.FAILED, output=body.get("output"), error=error)
    body = parse_json(response)
    if spec.api_version is ApiVersion.V2:
        data = _data(body, response)
        if response.status_code == 202:
            return SimRun(
                _str(data.get("runId")) or run_id,
                workflow_id,
                RunStatus.QUEUED,
                status_url=_str(data.get("statusUrl")),
            )
        return parse_run_data(data, workflow_id, run_id)
    if not isinstance(body, dict):
        raise invalid_response(response, "Sim's execute answer is not a JSON object")
    execution_id = _str(body.get("executionId")) or run_id
    if response.status_code == 202 or body.get("async") is True:
        return SimRun(
            execution_id,
            workflow_id,
            RunStatus.QUEUED,
            job_id=_str(body.get("jobId")),
            status_url=_str(body.get("statusUrl")),
        )
    output = body.get("output")
    resume = output.get("_resume") if isinstance(output, dict) else None
    metadata = _obj(body.get("metadata"))
    if body.get("success") is False:
        status = RunStatus.FAILED
    else:
        status = RunStatus.PAUSED if isinstance(resume, dict) else RunStatus.COMPLETED
    return SimRun(
        execution_id,
        workflow_id,
        status,
        output=output,
        error=_run_error(body.get("error"), default_code="EXECUTION_FAILED")
        if status is RunStatus.FAILED
        else None,
        started_at=_str(metadata.get("startTime")),
        ended_at=_str(metadata.get("endTime")),
        duration_ms=_number(metadata.get("duration")),
        paused=_pause_info(resume),
    )


def parse_run_data(data: Mapping[str, Any], workflow_id: str, run_id: str) -> SimRun:
    """A v2 run (execute result or ``/runs/{runId}``) or a v1 execution (``/executions/{id}``)."""
    status = RunStatus.from_sim(data.get("status"))
    output = data["output"] if "output" in data else data.get("finalOutput")
    return SimRun(
        run_id=_str(data.get("runId")) or _str(data.get("executionId")) or run_id,
        workflow_id=_str(data.get("workflowId")) or workflow_id,
        status=status,
        output=output,
        error=_run_error(data.get("error")),
        started_at=_str(data.get("startedAt")),
        ended_at=_str(data.get("endedAt")),
        duration_ms=_number(data.get("durationMs", data.get("totalDurationMs"))),
        cost=_cost(data.get("cost")),
        paused=_pause_info(data.get("paused")),
    )


def parse_run(spec: RequestSpec, response: HttpResponse, workflow_id: str, run_id: str) -> SimRun:
    """The answer to :func:`~airflow_provider_sim.protocol.build.build_get_run`."""
    body = parse_json(response)
    data = _data(body, response) if spec.api_version is ApiVersion.V2 else body
    if not isinstance(data, dict):
        raise invalid_response(response, "Sim's run status is not a JSON object")
    return parse_run_data(data, workflow_id, run_id)


def parse_run_list(response: HttpResponse, workflow_id: str) -> RunPage:
    """The answer to :func:`~airflow_provider_sim.protocol.build.build_list_runs`: summaries
    without output (a completed run's output needs a read of the run itself)."""
    body = parse_json(response)
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise invalid_response(response, "Sim's run list has no 'data' array")
    runs = tuple(
        parse_run_data(item, workflow_id, str(item.get("runId")))
        for item in items
        if isinstance(item, dict) and item.get("runId")
    )
    return RunPage(runs, _str(body.get("nextCursor")) or None)


def parse_job(
    response: HttpResponse, job_id: str, workflow_id: str = "", run_id: str | None = None
) -> SimRun:
    """A legacy job (``/api/jobs/{id}``). A completed job whose workflow failed is a failed run."""
    body = parse_json(response)
    if not isinstance(body, dict):
        raise invalid_response(response, "Sim's job status is not a JSON object")
    status = RunStatus.from_sim(body.get("status"))
    result = _obj(body.get("output"))
    metadata = _obj(body.get("metadata"))
    error = _run_error(body.get("error"), default_code="EXECUTION_FAILED")
    if status is RunStatus.COMPLETED and result.get("success") is False:
        status = RunStatus.FAILED
        error = error or _run_error(result.get("error"), default_code="EXECUTION_FAILED")
    return SimRun(
        run_id=_str(result.get("executionId")) or run_id or job_id,
        workflow_id=_str(result.get("workflowId")) or workflow_id,
        status=status,
        output=result.get("output"),
        error=error,
        started_at=_str(metadata.get("startedAt")),
        ended_at=_str(metadata.get("completedAt")),
        duration_ms=_number(metadata.get("duration")),
        job_id=_str(body.get("taskId")) or job_id,
    )


def parse_cancel(spec: RequestSpec, response: HttpResponse, run_id: str) -> CancelResult:
    """A cancel's answer; ``cancelled`` is False when the run had already finished (v2 ``reason``)."""
    body = parse_json(response)
    data = body.get("data", body) if isinstance(body, dict) else {}
    reason = _str(data.get("reason")) if isinstance(data, dict) else None
    succeeded = bool(data.get("success", True)) if isinstance(data, dict) else True
    return CancelResult(
        run_id, cancelled=succeeded and not (reason or "").startswith("already_"), reason=reason
    )


def parse_deployment(response: HttpResponse, workflow_id: str) -> DeploymentStatus:
    """``/api/workflows/{id}/status``."""
    body = parse_json(response)
    data = body if isinstance(body, dict) else {}
    return DeploymentStatus(
        workflow_id,
        is_deployed=bool(data.get("isDeployed")),
        deployed_at=_str(data.get("deployedAt")),
        needs_redeployment=bool(data.get("needsRedeployment")),
    )


def parse_workflow(response: HttpResponse, workflow_id: str) -> WorkflowInfo:
    """``/api/v2/workflows/{id}``."""
    data = _data(parse_json(response), response)
    return WorkflowInfo(workflow_id, _str(data.get("name")), _str(data.get("workspaceId")))


def _bucket(value: Any) -> RateLimitBucket | None:
    if not isinstance(value, dict):
        return None
    return RateLimitBucket(
        is_limited=bool(value.get("isLimited")),
        requests_per_minute=_int(value.get("requestsPerMinute")),
        max_burst=_int(value.get("maxBurst")),
        remaining=_int(value.get("remaining")),
        reset_at=_str(value.get("resetAt")),
    )


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def parse_usage_limits(response: HttpResponse) -> UsageLimits:
    """``/api/users/me/usage-limits``."""
    body = parse_json(response)
    if not isinstance(body, dict) or "rateLimit" not in body:
        raise invalid_response(
            response,
            "The usage-limits answer has no 'rateLimit': the base URL does not look like a Sim server",
        )
    rate = _obj(body.get("rateLimit"))
    usage = _obj(body.get("usage"))
    return UsageLimits(
        sync=_bucket(rate.get("sync")),
        async_=_bucket(rate.get("async")),
        auth_type=_str(rate.get("authType")),
        current_period_cost=_number(usage.get("currentPeriodCost")),
        cost_limit=_number(usage.get("limit")),
        plan=_str(usage.get("plan")),
        raw=body,
    )
