"""Reading Sim's successful answers: runs, jobs, cancels, workflows, usage limits. No I/O.

Both API generations land in the same types (:class:`SimRun`, :class:`RunStatus`). Error answers
are read in :mod:`.errors` (its entry points are re-exported here for the drivers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_sim.protocol.errors import (
    connection_error,
    invalid_response,
    parse_json,
    raise_for_response,
)
from airflow_provider_sim.protocol.errors import json_number as _number
from airflow_provider_sim.protocol.errors import json_obj as _obj
from airflow_provider_sim.protocol.errors import json_str as _str
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

__all__ = [
    "connection_error",
    "parse_cancel",
    "parse_deployment",
    "parse_execute",
    "parse_job",
    "parse_run",
    "parse_run_data",
    "parse_run_list",
    "parse_usage_limits",
    "parse_workflow",
    "raise_for_response",
]


def _run_error(value: Any, *, default_code: str | None = None) -> RunError | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        message = _str(value.get("message")) or json.dumps(value)
        block = _str(value.get("blockName"))
        if block and not message.startswith(f"{block}: "):
            # a v2 execute answer names the block apart; a later read of the run prefixes it
            message = f"{block}: {message}"
        return RunError(message, _str(value.get("code")) or default_code)
    return RunError(str(value), default_code)


def _resume_of(output: Any) -> dict[str, Any] | None:
    """Where a v1 answer says a run waits: ``_resume`` in the output, or in the output's ``data``
    (a Human-in-the-loop block's response, as real Sim sends it)."""
    if not isinstance(output, dict):
        return None
    for holder in (output, _obj(output.get("data"))):
        if isinstance(holder.get("_resume"), dict):
            return holder["_resume"]  # type: ignore[no-any-return]
    return None


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
    return _v1_result(body, response.status_code, execution_id, workflow_id)


def _v1_result(body: dict[str, Any], http_status: int, execution_id: str, workflow_id: str) -> SimRun:
    """A v1 synchronous run: 200 (done, paused, or ``success: false``), 500 failed, 408 timed out."""
    output = body.get("output")
    resume = _resume_of(output)
    metadata = _obj(body.get("metadata"))
    if http_status in (408, 500) or body.get("success") is False:
        status = RunStatus.FAILED
    elif body.get("status"):  # a resume's answer says it
        status = RunStatus.from_sim(body["status"])
    else:
        status = RunStatus.PAUSED if resume is not None else RunStatus.COMPLETED
    error = None
    if status is RunStatus.FAILED:
        default = "TIMEOUT" if http_status == 408 else "EXECUTION_FAILED"
        error = _run_error(body.get("error"), default_code=default) or RunError(
            "Workflow execution failed", default
        )
    return SimRun(
        execution_id,
        workflow_id,
        status,
        output=output,
        error=error,
        started_at=_str(metadata.get("startTime")),
        ended_at=_str(metadata.get("endTime")),
        duration_ms=_number(metadata.get("duration")),
        paused=_pause_info(resume) if status is RunStatus.PAUSED else None,
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
        # v1 reads give a failed run's error as a bare string; v2 reads say EXECUTION_FAILED
        error=_run_error(
            data.get("error"), default_code="EXECUTION_FAILED" if status is RunStatus.FAILED else None
        ),
        started_at=_str(data.get("startedAt")),
        ended_at=_str(data.get("endedAt")),
        duration_ms=_number(data.get("durationMs", data.get("totalDurationMs"))),
        cost=_cost(data.get("cost")),
        paused=_pause_info(data.get("paused")),
        trigger=_str(data.get("trigger")),
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
    correlation = _obj(metadata.get("correlation"))
    error = _run_error(body.get("error"), default_code="EXECUTION_FAILED")
    if status is RunStatus.COMPLETED and result.get("success") is False:
        status = RunStatus.FAILED
        error = error or _run_error(result.get("error"), default_code="EXECUTION_FAILED")
    return SimRun(
        run_id=_str(result.get("executionId")) or _str(correlation.get("executionId")) or run_id or job_id,
        workflow_id=_str(result.get("workflowId")) or _str(metadata.get("workflowId")) or workflow_id,
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
