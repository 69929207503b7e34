"""The v1 API: ``/api/workflows/{id}/execute``, ``/api/jobs/{jobId}``, executions, resume, status, usage.

v1 errors are ``{"error": "<message>"}`` (some add ``"code"``); a failed run is an HTTP 500 without
``executionId``; a sync timeout is 408; rate-limit 429s carry no rate-limit headers at all. No v1
route is metered except execute, which is charged to the sync execution bucket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response

from airflow_provider_sim.emulator.config import MAX_EXECUTION_TIMEOUT_SECONDS
from airflow_provider_sim.emulator.endpoints import EmulatorDep, api_key, base_url
from airflow_provider_sim.emulator.messages import json_body, json_response, new_request_id, v1_error
from airflow_provider_sim.emulator.ratelimit import retry_after_header
from airflow_provider_sim.emulator.runs import REFUSALS, Rejected
from airflow_provider_sim.emulator.state import Run, RunStatus, iso
from airflow_provider_sim.emulator.views import (
    CONCURRENCY_MESSAGE,
    cancel_view,
    concurrency_details,
    elapsed_ms,
    end_time,
    failure_message,
    find_run,
    id_problem,
    resume_refusal,
    split_selectors,
    sse_response,
    status_view,
)
from airflow_provider_sim.emulator.workflows import WORKFLOWS, WORKSPACE_ID

if TYPE_CHECKING:
    from airflow_provider_sim.emulator.core import Emulator

router = APIRouter(dependencies=[Depends(api_key)])
EXECUTION_PATH = "/api/workflows/{workflow_id}/executions/{execution_id}"

#: body keys Sim's v1 execute treats as options, not workflow input
CONTROL_KEYS = frozenset(
    {
        "selectedOutputs",
        "triggerType",
        "stream",
        "useDraftState",
        "inputFromExecutionId",
        "includeFileBase64",
        "base64MaxBytes",
        "workflowStateOverride",
        "deploymentVersionId",
        "triggerBlockId",
        "stopAfterBlockId",
        "runFromBlock",
        "copilotToolCallId",
        "workflowId",
        "parentWorkspaceId",
        "includeThinking",
        "includeToolCalls",
    }
)
USER_ID = "emulator-user"
INVALID_JSON = "Invalid JSON in request body"


def workflow_input(body: dict[str, Any]) -> Any:
    """The workflow input of a v1 execute body: the body minus option keys; ``{"input": X}`` gives X."""
    rest = {key: value for key, value in body.items() if key not in CONTROL_KEYS}
    if set(rest) == {"input"}:
        return rest["input"]
    return rest


@router.post("/api/workflows/{workflow_id}/execute")
async def execute(em: EmulatorDep, req: Request, workflow_id: str) -> Response:
    """``POST /api/workflows/{id}/execute`` (sync, async via ``X-Execution-Mode``, or SSE)."""
    too_large = "Workflow execution request body exceeds maximum size"
    body = await json_body(req, v1_error, too_large, INVALID_JSON)
    body = {} if body is None else body
    if not isinstance(body, dict):
        return v1_error(400, "Invalid request body")
    is_async = req.headers.get("x-execution-mode", "").lower() == "async"
    is_stream = not is_async and (
        body.get("stream") is True or req.headers.get("x-stream-response", "").lower() == "true"
    )
    client_id = req.headers.get("x-execution-id")
    problem = None if client_id is None else id_problem(client_id, "Execution ID")
    if problem is not None:
        issues = [{"path": "X-Execution-Id", "message": problem}]
        return v1_error(400, "Invalid execution ID header", details=issues)
    raw_timeout = req.headers.get("x-execution-timeout-seconds")
    timeout: float | None = None
    if raw_timeout is not None:
        problem = _timeout_problem(raw_timeout)
        if problem is not None:
            issues = [{"path": "X-Execution-Timeout-Seconds", "message": problem}]
            return v1_error(400, "Invalid execution timeout header", details=issues)
        if not is_async:
            return v1_error(400, "X-Execution-Timeout-Seconds is supported only for async runs")
        timeout = float(raw_timeout)
    if is_async and (body.get("selectedOutputs") or "includeFileBase64" in body or "base64MaxBytes" in body):
        return v1_error(400, "Async execution does not support draft or override execution controls")

    request_id = new_request_id()
    # v1 charges every execute, async included, to the sync bucket
    admission = em.runner.admit(workflow_id, client_id, "sync")
    if isinstance(admission, Rejected):
        if admission.reason == "conflict":
            return v1_error(
                409, "Execution ID has already been used", "EXECUTION_ID_CONFLICT", executionId=client_id
            )
        if admission.reason == "concurrency":
            wait = em.settings.concurrency_retry_after_seconds
            details = concurrency_details(wait)
            return v1_error(
                429,
                CONCURRENCY_MESSAGE,
                details.pop("code"),
                {"retry-after": retry_after_header(wait)},
                **details,
            )
        return v1_error(*REFUSALS[admission.reason])
    run = em.runner.start(
        admission.workflow,
        client_id=client_id,
        api_version="v1",
        mode="async" if is_async else "stream" if is_stream else "sync",
        input=workflow_input(body),
        base_url=base_url(req),
        timeout_seconds=timeout,
        with_job=is_async,
        request_id=request_id,
    )
    if is_async:
        payload = {
            "success": True,
            "async": True,
            "jobId": run.job_id,
            "executionId": run.id,
            "message": "Workflow execution queued",
            "statusUrl": f"{base_url(req)}/api/jobs/{run.job_id}",
        }
        return json_response(202, payload, {"x-request-id": request_id})
    if is_stream:
        return sse_response(run)
    await run.settled.wait()
    if run.status is RunStatus.COMPLETED:
        run.lagging_reads = em.settings.v1_status_lag_reads
    return json_response(*sync_result(run))


def _timeout_problem(raw: str) -> str | None:
    """Why Sim refuses an ``X-Execution-Timeout-Seconds`` value, in its words, or ``None``."""
    try:
        seconds = float(raw)
    except ValueError:
        return "Invalid input: expected number, received NaN"
    if not seconds.is_integer():
        return "Execution timeout must be a whole number of seconds"
    if seconds <= 0:
        return "Execution timeout must be positive"
    if seconds > MAX_EXECUTION_TIMEOUT_SECONDS:
        return f"Execution timeout cannot exceed {MAX_EXECUTION_TIMEOUT_SECONDS} seconds"
    return None


def _metadata(run: Run) -> dict[str, Any]:
    return {"duration": elapsed_ms(run), "startTime": iso(run.started_at), "endTime": end_time(run)}


def sync_result(run: Run, result_id: str | None = None) -> tuple[int, dict[str, Any]]:
    """The v1 status and body for a settled run: 200 (no ``error`` key, no id header, as on Sim),
    or 500 for a thrown failure (the message names the block), or 408 for a timeout."""
    if run.status is RunStatus.FAILED and (run.error_code == "TIMEOUT" or not run.soft_failure):
        status = 408 if run.error_code == "TIMEOUT" else 500
        body = {
            "success": False,
            "output": run.output,
            "error": failure_message(run),
            "metadata": _metadata(run),
        }
        return status, body
    payload: dict[str, Any] = {
        "success": run.status in (RunStatus.COMPLETED, RunStatus.PAUSED),
        "executionId": result_id or run.id,
        "output": run.output,
        "metadata": _metadata(run),
    }
    if run.status is RunStatus.FAILED:  # a workflow that reported failure says why
        payload["error"] = run.error
    return 200, payload


_JOB_STATUS = {
    RunStatus.QUEUED: "pending",
    RunStatus.RUNNING: "processing",
    RunStatus.PAUSED: "completed",
    RunStatus.COMPLETED: "completed",
    RunStatus.CANCELLED: "cancelled",
}


@router.get("/api/jobs/{job_id}")
async def job_status(em: EmulatorDep, job_id: str) -> Response:
    """``GET /api/jobs/{jobId}``: the async job behind a v1 async execute.

    As Sim's database queue reports it: ``output`` null until the job has ended; a run whose
    block threw is a ``failed`` job with the error (block-named) and no output.
    """
    run = em.store.by_job(job_id)
    if run is None:
        return v1_error(404, "Task not found", "TASK_NOT_FOUND")
    failed_job = run.status is RunStatus.FAILED and not run.soft_failure
    status = "failed" if failed_job else _JOB_STATUS.get(run.status, "completed")
    correlation = {
        "source": "workflow",
        "requestId": run.request_id,
        "workflowId": run.workflow_id,
        "executionId": run.id,
        "triggerType": "api",
    }
    metadata = {
        "userId": USER_ID,
        "workflowId": run.workflow_id,
        "correlation": correlation,
        "workspaceId": WORKSPACE_ID,
    }
    payload: dict[str, Any] = {
        "success": True,
        "taskId": run.job_id,
        "status": status,
        "metadata": metadata,
        "output": None,
    }
    if status == "completed":
        payload["output"] = {
            "output": run.output,
            "success": run.status is not RunStatus.FAILED,
            "executedAt": end_time(run),
            "workflowId": run.workflow_id,
            "executionId": run.id,
        }
    elif status in ("failed", "cancelled"):
        payload["error"] = failure_message(run)
    return json_response(200, payload)


def _find_run(em: Emulator, workflow_id: str, run_id: str) -> Run:
    no_workflow = v1_error(404, "Workflow not found", "WORKFLOW_NOT_FOUND")
    return find_run(em.store, workflow_id, run_id, no_workflow, v1_error(404, "Execution not found"))


@router.get(EXECUTION_PATH)
async def execution_status(em: EmulatorDep, req: Request, workflow_id: str, execution_id: str) -> Response:
    """``GET /api/workflows/{id}/executions/{executionId}``."""
    run = _find_run(em, workflow_id, execution_id)
    include_output = req.query_params.get("includeOutput") == "true"
    selectors = split_selectors(req.query_params.get("selectedOutputs"))
    failed = run.status is RunStatus.FAILED
    payload = status_view(run, execution_id, include_output, selectors, v2=False)
    payload.update(level="error" if failed else "info", error=failure_message(run) if failed else None)
    if run.lagging_reads > 0:
        # Sim answers a v1 sync run before its log row is final: a read right after says running
        run.lagging_reads -= 1
        nulls = ("endedAt", "totalDurationMs", "cost", "finalOutput", "blockOutputs")
        payload.update(dict.fromkeys(nulls), status=RunStatus.RUNNING.value)
    return json_response(200, payload)


@router.post(EXECUTION_PATH + "/cancel")
async def cancel_execution(em: EmulatorDep, workflow_id: str, execution_id: str) -> Response:
    """``POST .../executions/{executionId}/cancel``: a completed or failed run answers 409."""
    run = _find_run(em, workflow_id, execution_id)
    if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
        return v1_error(409, f"Execution cannot be cancelled while {run.status.value}")
    return json_response(200, cancel_view(run, em.runner.cancel(run), "executionId", "already_cancelled"))


@router.post("/api/resume/{workflow_id}/{execution_id}/{context_id}")
async def resume(
    em: EmulatorDep, req: Request, workflow_id: str, execution_id: str, context_id: str
) -> Response:
    """``POST /api/resume/{workflowId}/{executionId}/{contextId}`` with ``{"input": {...}}``."""
    body = await json_body(req, v1_error, "Request body exceeds maximum size", INVALID_JSON)
    run = _find_run(em, workflow_id, execution_id)
    refusal = resume_refusal(run, context_id)
    if refusal is not None:
        return v1_error(*refusal)
    resume_input = body.get("input", {}) if isinstance(body, dict) else {}
    attempt = em.runner.resume(run, resume_input)
    await run.settled.wait()
    status, payload = sync_result(run, result_id=attempt)
    if status == 200:
        payload = {"success": True, "status": run.status.value, **payload}
    return json_response(status, payload)


@router.get("/api/workflows/{workflow_id}/status")
async def workflow_status(workflow_id: str) -> Response:
    """``GET /api/workflows/{id}/status``: deployment state."""
    workflow = WORKFLOWS.get(workflow_id)
    if workflow is None:
        request_id = new_request_id()
        return v1_error(
            404,
            "Workflow not found",
            "WORKFLOW_NOT_FOUND",
            {"x-request-id": request_id},
            requestId=request_id,
        )
    payload = {
        "isDeployed": workflow.deployed,
        "deployedAt": iso(workflow.deployed_at),
        "needsRedeployment": False,
    }
    return json_response(200, payload)


@router.get("/api/users/me/usage-limits")
async def usage_limits(em: EmulatorDep) -> Response:
    """``GET /api/users/me/usage-limits``: rate-limit buckets (not charged), usage and storage."""
    spent = round(sum(run.cost or 0.0 for run in em.store.all()), 6)
    # with billing off (no plan) Sim reports the free plan with a 99999 cost limit
    limit = 10.0 if em.settings.plan is not None else 99999.0
    counters = {}
    for counter in ("sync", "async"):
        state = em.limiter.peek(counter)
        counters[counter] = {
            "isLimited": state.remaining == 0,
            "requestsPerMinute": state.rate_per_minute,
            "maxBurst": state.limit,
            "remaining": state.remaining,
            "resetAt": iso(state.reset_at),
        }
    payload = {
        "success": True,
        "rateLimit": {**counters, "authType": "api"},
        "usage": {
            "currentPeriodCost": max(spent, limit) if em.settings.usage_limit_exceeded else spent,
            "limit": limit,
            "plan": em.settings.plan or "free",
        },
        "storage": {"usedBytes": 0, "limitBytes": 5 * 1024**3, "percentUsed": 0},
    }
    return json_response(200, payload)
