"""The v2 API: everything under ``/api/v2/workflows/{id}/...``.

v2 answers ``{"data": ...}`` or ``{"error": {"code", "message", "details"?}}``, reports run failures
in band (HTTP 200, ``status: failed``) and validates the execute body strictly. Every route is
metered under its operation id (:func:`.endpoints.metered`; the answer carries ``X-RateLimit-*``);
execute also reports its execution bucket (``request.state``, see :data:`.endpoints.EXECUTION_BUCKET`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response

from airflow_provider_sim.emulator.endpoints import (
    EXECUTION_BUCKET,
    GET_AND_HEAD,
    EmulatorDep,
    api_key,
    base_url,
    metered,
    per_ip_limit,
)
from airflow_provider_sim.emulator.messages import Refused, json_body, v2_data, v2_error
from airflow_provider_sim.emulator.ratelimit import retry_after_header
from airflow_provider_sim.emulator.routes_v2_list import list_runs
from airflow_provider_sim.emulator.runs import REFUSALS, Rejected
from airflow_provider_sim.emulator.state import Run, RunStatus, iso
from airflow_provider_sim.emulator.v2_validation import (
    issue,
    run_id_issue,
    unknown_keys_issue,
    validate_execute_body,
    wrong_type,
)
from airflow_provider_sim.emulator.views import (
    CONCURRENCY_MESSAGE,
    cancel_view,
    concurrency_details,
    elapsed_ms,
    end_time,
    failure_message,
    find_run,
    resume_refusal,
    split_selectors,
    sse_response,
    status_view,
)
from airflow_provider_sim.emulator.workflows import WORKFLOWS, WORKSPACE_ID, Workflow

if TYPE_CHECKING:
    from airflow_provider_sim.emulator.core import Emulator

router = APIRouter(dependencies=[Depends(per_ip_limit), Depends(api_key)])
WORKFLOW_PATH = "/api/v2/workflows/{workflow_id}"
RUN_PATH = WORKFLOW_PATH + "/runs/{run_id}"
TOO_LARGE_MESSAGE = "Request body is too large"
NOT_AN_OBJECT = "Expected a JSON object body"


def _combination_error(body: dict[str, Any], req: Request) -> str | None:
    is_async = body.get("async") is True
    if is_async and body.get("stream") is True:
        return "async and stream cannot be combined"
    if "executionTimeoutSeconds" in body and not is_async:
        return "executionTimeoutSeconds is supported only for async execution"
    shaping = body.get("selectedOutputs") or body.get("includeThinking") or body.get("includeToolCalls")
    if is_async and (shaping or "includeFileBase64" in body or "base64MaxBytes" in body):
        return "Async execution does not support streaming or output-shaping options"
    if body.get("includeThinking") or body.get("includeToolCalls"):
        if body.get("stream") is not True:
            return "includeThinking and includeToolCalls require stream: true"
        if req.headers.get("x-sim-stream-protocol", "") != "agent-events-v1":
            return (
                "includeThinking and includeToolCalls require the "
                "X-Sim-Stream-Protocol: agent-events-v1 request header"
            )
    return None


@router.post(WORKFLOW_PATH + "/execute", dependencies=[metered("workflows.execute")])
async def execute(em: EmulatorDep, req: Request, workflow_id: str) -> Response:
    """``POST /api/v2/workflows/{id}/execute``: sync, ``async: true`` (202) or ``stream: true`` (SSE)."""
    body = await json_body(req, v2_error, TOO_LARGE_MESSAGE, "Invalid JSON body")
    body = {} if body is None else body
    issues = validate_execute_body(body)
    if issues:
        return v2_error(400, issues[0]["message"], details=issues)
    combination = _combination_error(body, req)
    if combination is not None:
        return v2_error(400, combination)
    client_id = req.headers.get("x-run-id")
    bad_id = None if client_id is None else run_id_issue(client_id)
    if bad_id is not None:
        return v2_error(400, bad_id["message"], details=[bad_id])

    is_async = body.get("async") is True
    admission = em.runner.admit(workflow_id, client_id, "async" if is_async else "sync")
    setattr(req.state, EXECUTION_BUCKET, admission.bucket)
    if isinstance(admission, Rejected):
        return _rejection(admission, client_id, em.settings.concurrency_retry_after_seconds)
    timeout = body.get("executionTimeoutSeconds")
    run = em.runner.start(
        admission.workflow,
        client_id=client_id,
        api_version="v2",
        mode="async" if is_async else "stream" if body.get("stream") is True else "sync",
        input=body.get("input", {}),
        base_url=base_url(req),
        timeout_seconds=None if timeout is None else float(timeout),
    )
    headers = {"x-run-id": run.id}
    if is_async:
        status_url = f"{base_url(req)}/api/v2/workflows/{run.workflow_id}/runs/{run.id}"
        return v2_data({"runId": run.id, "statusUrl": status_url}, 202, headers)
    if run.mode == "stream":
        return sse_response(run)  # Sim names the run in no header of a stream
    await run.settled.wait()
    return v2_data(run_result(run), headers=headers)


def _rejection(rejected: Rejected, client_id: str | None, concurrency_wait: float) -> Response:
    if rejected.reason == "conflict":
        details = {"code": "RUN_ID_CONFLICT", "runId": client_id}
        return v2_error(409, "Run ID has already been used", details, {"x-run-id": client_id or ""})
    if rejected.reason == "concurrency":
        details = concurrency_details(concurrency_wait)
        headers = {"retry-after": retry_after_header(concurrency_wait)}
        return v2_error(429, CONCURRENCY_MESSAGE, details, headers)
    status, message = REFUSALS[rejected.reason]
    if rejected.reason == "rate_limited":
        details = {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": iso(rejected.bucket.reset_at)}
        return v2_error(status, message, details, {"retry-after": rejected.bucket.retry_after_header})
    return v2_error(status, message, {"code": "WORKFLOW_NOT_DEPLOYED"} if status == 403 else None)


def error_view(run: Run, *, on_execute: bool) -> dict[str, Any] | None:
    """The structured ``error`` of a failed run (a cancelled one has none, as on Sim).

    The execute answer pins a block failure to its block (``BLOCK_EXECUTION_FAILED``); a later
    read says ``EXECUTION_FAILED`` with the block's name before the message.
    """
    if run.status is not RunStatus.FAILED or run.error is None:
        return None
    if on_execute and run.error_block_attributed:
        workflow = WORKFLOWS[run.workflow_id]
        return {
            "message": run.error,
            "code": "BLOCK_EXECUTION_FAILED",
            "blockId": workflow.block_id,
            "blockName": workflow.block_name,
            "blockType": workflow.block_type,
        }
    return {"message": failure_message(run), "code": run.error_code or "EXECUTION_FAILED"}


def run_result(run: Run, result_id: str | None = None) -> dict[str, Any]:
    """The ``data`` of a sync execute or resume response for a settled run."""
    return {
        "runId": result_id or run.id,
        "workflowId": run.workflow_id,
        "status": run.status.value,
        "output": run.output,
        "error": error_view(run, on_execute=result_id is None),
        "startedAt": iso(run.started_at),
        "endedAt": end_time(run),
        "durationMs": elapsed_ms(run),
    }


def _find_run(em: Emulator, workflow_id: str, run_id: str) -> Run:
    no_workflow = v2_error(404, "Workflow not found")
    return find_run(em.store, workflow_id, run_id, no_workflow, v2_error(404, "Run not found"))


@router.api_route(RUN_PATH, methods=GET_AND_HEAD, dependencies=[metered("workflows.runs.read")])
async def get_run(em: EmulatorDep, req: Request, workflow_id: str, run_id: str) -> Response:
    """``GET .../runs/{runId}?includeOutput=true&selectedOutputs=a,b.c``."""
    include = req.query_params.get("includeOutput")
    if include not in (None, "true", "false"):
        return v2_error(
            400, "includeOutput must be true or false", [issue(["includeOutput"], "Expected boolean")]
        )
    run = _find_run(em, workflow_id, run_id)
    # as on Sim, an empty list (``selectedOutputs=``) selects nothing, as if absent
    selectors = split_selectors(req.query_params.get("selectedOutputs")) or None
    data = status_view(run, run_id, include == "true", selectors, v2=True)
    data["error"] = error_view(run, on_execute=False)
    return v2_data(data)


@router.post(RUN_PATH + "/cancel", dependencies=[metered("workflows.runs.cancel")])
async def cancel_run(em: EmulatorDep, workflow_id: str, run_id: str) -> Response:
    """``POST .../runs/{runId}/cancel``: a finished run answers 200 with an ``already_*`` reason."""
    run = _find_run(em, workflow_id, run_id)
    result = em.runner.cancel(run)
    return v2_data(cancel_view(run, result, "runId", f"already_{result.previous.value}"))


@router.post(RUN_PATH + "/resume", dependencies=[metered("workflows.runs.resume")])
async def resume_run(em: EmulatorDep, req: Request, workflow_id: str, run_id: str) -> Response:
    """``POST .../runs/{runId}/resume`` with ``{"contextId", "input"?}``; answers with the run result."""
    body = await json_body(req, v2_error, TOO_LARGE_MESSAGE, NOT_AN_OBJECT)
    if not isinstance(body, dict):
        return v2_error(400, NOT_AN_OBJECT)
    unknown = unknown_keys_issue(body, ("contextId", "input"))
    issues = [] if unknown is None else [unknown]
    if not isinstance(body.get("contextId"), str) or not body["contextId"]:
        issues.append(wrong_type("contextId", "string", body.get("contextId")))
    if issues:
        return v2_error(400, issues[0]["message"], details=issues)
    run = _find_run(em, workflow_id, run_id)
    refusal = resume_refusal(run, body["contextId"])
    if refusal is not None:
        return v2_error(*refusal)
    attempt = em.runner.resume(run, body.get("input", {}))
    headers = {"x-run-id": attempt}
    if run.mode == "async":  # Sim resumes a run started async asynchronously too
        status_url = f"{base_url(req)}/api/v2/workflows/{run.workflow_id}/runs/{attempt}"
        return v2_data({"runId": attempt, "statusUrl": status_url}, 202, headers)
    await run.settled.wait()
    return v2_data(run_result(run, result_id=attempt), headers=headers)


def _workflow_or_404(workflow_id: str) -> Workflow:
    workflow = WORKFLOWS.get(workflow_id)
    if workflow is None:
        raise Refused(v2_error(404, "Workflow not found"))
    return workflow


@router.api_route(WORKFLOW_PATH, methods=GET_AND_HEAD, dependencies=[metered("workflows.read")])
async def get_workflow(em: EmulatorDep, workflow_id: str) -> Response:
    """``GET /api/v2/workflows/{id}``."""
    workflow = _workflow_or_404(workflow_id)
    runs = [run for run in em.store.all() if run.workflow_id == workflow.id]
    data = {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "folderPath": "/",
        "workspaceId": WORKSPACE_ID,
        "isDeployed": workflow.deployed,
        "deployedAt": iso(workflow.deployed_at),
        "runCount": len(runs),
        "lastRunAt": iso(runs[-1].started_at) if runs else None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "variables": {},
        "inputs": [{"name": name, "type": kind} for name, kind in workflow.inputs],
    }
    return v2_data(data)


@router.api_route(
    WORKFLOW_PATH + "/deployment", methods=GET_AND_HEAD, dependencies=[metered("workflows.read")]
)
async def get_deployment(workflow_id: str) -> Response:
    """``GET /api/v2/workflows/{id}/deployment``."""
    workflow = _workflow_or_404(workflow_id)
    deployed_at = iso(workflow.deployed_at)
    active = attempt = None
    if deployed_at is not None:
        version_id = f"{workflow.id}-v1"
        active = {"deploymentVersionId": version_id, "version": 1, "deployedAt": deployed_at}
        attempt = {
            "id": f"{workflow.id}-deploy-1",
            "deploymentVersionId": version_id,
            "version": 1,
            "action": "deploy",
            "status": "active",
            "isCurrent": True,
            "readiness": {"webhooks": "ready", "schedules": "ready", "mcp": "ready"},
            "requestedAt": deployed_at,
            "activatedAt": deployed_at,
            "error": None,
        }
    data = {
        "id": workflow.id,
        "isDeployed": workflow.deployed,
        "deployedAt": deployed_at,
        "warnings": [],
        "activeDeployment": active,
        "latestDeploymentAttempt": attempt,
        "needsRedeployment": False,
    }
    return v2_data(data)


router.add_api_route(
    WORKFLOW_PATH + "/runs", list_runs, methods=GET_AND_HEAD, dependencies=[metered("workflows.runs.list")]
)
