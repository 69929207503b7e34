"""Renderings of a run that both API generations share: SSE frames, block outputs, pause details."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from airflow_provider_sim.emulator.messages import SSE_HEADERS, Refused, sse_frame
from airflow_provider_sim.emulator.runs import CancelResult
from airflow_provider_sim.emulator.state import Run, RunStatus, RunStore, iso, utcnow
from airflow_provider_sim.emulator.workflows import WORKFLOWS

_MISSING = object()
#: Sim's pattern for client-chosen run ids (X-Run-Id / X-Execution-Id)
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: Sim's code for an execute refused at the per-account in-flight cap (``ADMISSION_ERROR_CODE``)
CONCURRENCY_CODE = "EXECUTION_CONCURRENCY_LIMIT"
#: Sim's message for it (``lib/execution/preprocessing.ts``)
CONCURRENCY_MESSAGE = (
    "Too many concurrent executions are in progress for this billing account. "
    "Please wait for them to finish and try again."
)


def id_problem(value: str, noun: str) -> str | None:
    """Why Sim refuses a client-chosen id (``noun``: ``Execution ID`` or ``Run ID``), or ``None``."""
    if not value:
        return f"Invalid {noun[0].lower()}{noun[1:]}"
    if len(value) > 128:
        return f"{noun} too long"
    if not RUN_ID_PATTERN.fullmatch(value):
        return f"{noun} can only contain letters, numbers, dots, underscores, colons, and hyphens"
    return None


def find_run(store: RunStore, workflow_id: str, run_id: str, no_workflow: Response, no_run: Response) -> Run:
    """The run ``run_id`` of workflow ``workflow_id``.

    :raises Refused: with ``no_workflow`` for an unknown workflow, ``no_run`` for an unknown run.
    """
    if workflow_id not in WORKFLOWS:
        raise Refused(no_workflow)
    run = store.get(run_id)
    if run is None or run.workflow_id != workflow_id:
        raise Refused(no_run)
    return run


def cancel_view(run: Run, result: CancelResult, id_key: str, already: str) -> dict[str, Any]:
    """The body of a cancel answer (``id_key``: ``executionId`` or ``runId``; ``already``: the
    reason a run that had already ended gives)."""
    return {
        "success": True,
        id_key: run.id,
        "redisAvailable": True,
        "durablyRecorded": result.cancelled,
        "locallyAborted": result.locally_aborted,
        "pausedCancelled": result.paused_cancelled,
        "reason": "recorded" if result.cancelled else already,
    }


def concurrency_details(seconds: float) -> dict[str, Any]:
    """What a concurrency 429 says besides its message (v2 ``details``, v1 top-level fields).

    Sim v0.8.9 sends only ``code`` in v2 ``details`` (and nothing but ``error`` on v1);
    ``retryable`` and the exact ``retryAfterSeconds`` are the emulator's additions, from the
    descriptor in ``lib/core/admission/transient-failure.ts``, so a time-compressed benchmark
    can wait a fraction of a second.
    """
    exact: float | int = int(seconds) if float(seconds).is_integer() else seconds
    return {"code": CONCURRENCY_CODE, "retryAfterSeconds": exact, "retryable": True}


def select_outputs(run: Run, selectors: list[str]) -> dict[str, Any]:
    """Resolve ``blockId`` / ``blockId.path`` selectors against the run's block outputs.

    Unknown blocks and paths select nothing, as on Sim.
    """
    selected: dict[str, Any] = {}
    for selector in selectors:
        block_id, _, path = selector.partition(".")
        value: Any = run.block_outputs.get(block_id, _MISSING)
        for part in path.split(".") if path else []:
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is not _MISSING:
            selected[selector] = value
    return selected


def split_selectors(raw: str | None) -> list[str] | None:
    """Split a comma-separated ``selectedOutputs`` query value; ``None`` when absent."""
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def end_time(run: Run) -> str | None:
    """When the run ended, or paused, in Sim's format."""
    return iso(run.ended_or_paused_at)


def elapsed_ms(run: Run) -> int:
    """Milliseconds from start to end (or pause, or now)."""
    return int(((run.ended_or_paused_at or utcnow()) - run.started_at).total_seconds() * 1000)


def pause_view(run: Run, *, v2: bool) -> dict[str, Any] | None:
    """The ``paused`` object of a status response, or ``None`` when the run is not paused."""
    if run.status is not RunStatus.PAUSED or run.pause is None:
        return None
    view: dict[str, Any] = {
        "contextId": run.pause.context_id,
        "pausedAt": iso(run.pause.paused_at),
        "resumeAt": None,
        "pauseKind": run.pause.kind,
        "blockedOnBlockId": run.pause.block_id,
        "automaticResumeWaitingReason": None,
        "pausePointCount": run.pause.resumed_count + 1,  # the pauses so far, this one included
        "resumedCount": run.pause.resumed_count,
    }
    if not v2:
        view["pausedExecutionId"] = f"paused-{run.id}"
    return view


def status_view(
    run: Run, run_id: str, include_output: bool, selectors: list[str] | None, *, v2: bool
) -> dict[str, Any]:
    """What a status read of both generations says (v1 names three keys its own way; the caller
    adds ``error``, and v1 its ``level``)."""
    output = run.output if include_output and run.status is RunStatus.COMPLETED else None
    return {
        "runId" if v2 else "executionId": run_id,
        "workflowId": run.workflow_id,
        "status": run.status.value,
        "trigger": "api",
        "startedAt": iso(run.started_at),
        "endedAt": end_time(run),
        "durationMs" if v2 else "totalDurationMs": run.duration_ms,
        "paused": pause_view(run, v2=v2),
        "cost": cost_view(run),
        "output" if v2 else "finalOutput": output,
        "blockOutputs": None if selectors is None else select_outputs(run, selectors),
    }


def resume_refusal(run: Run, context_id: str) -> tuple[int, str] | None:
    """Why a resume of ``run`` at ``context_id`` is refused (status and Sim's message), or ``None``."""
    if not run.was_paused:
        return 404, "Paused execution not found"
    if run.status is not RunStatus.PAUSED or run.pause is None:
        return 409, "Paused execution is not resumable"
    if run.pause.context_id != context_id:
        return 404, "Pause point not found for execution"
    return None


def failure_message(run: Run) -> str | None:
    """A failed run's error as a later read gives it: prefixed with the failing block's name."""
    if run.error is None or not run.error_block_attributed:
        return run.error
    return f"{WORKFLOWS[run.workflow_id].block_name}: {run.error}"


def cost_view(run: Run) -> dict[str, float] | None:
    """``{"total": ...}`` for a run that reported a cost, else ``None``."""
    return None if run.cost is None else {"total": run.cost}


async def sse_body(run: Run) -> AsyncIterator[bytes]:
    """The SSE frames of a streamed run: chunks, then ``final`` or one ``error``, then ``"[DONE]"``.

    The run id appears in no frame, as on Sim.
    """
    assert run.events is not None
    while True:
        kind, block_id, chunk = await run.events.get()
        if kind == "end":
            break
        if kind == "stream_error":
            yield sse_frame({"event": "stream_error", "blockId": block_id, "error": chunk})
        else:
            yield sse_frame({"blockId": block_id, "chunk": chunk})
    if run.status in (RunStatus.COMPLETED, RunStatus.PAUSED) or run.soft_failure:
        # a successful run's final frame says no more than this on Sim (no error, no status)
        result: dict[str, Any] = {"success": run.status is not RunStatus.FAILED, "output": run.output}
        if run.status is RunStatus.FAILED:
            result["error"] = run.error
        elif run.status is RunStatus.PAUSED:
            result["status"] = run.status.value
        yield sse_frame({"event": "final", "data": result})
    else:
        yield sse_frame({"event": "error", "error": run.error or "Execution failed"})
    yield sse_frame("[DONE]")


def sse_response(run: Run) -> StreamingResponse:
    """A streamed response for ``run``; as on Sim, neither a header nor a frame names the run."""
    return StreamingResponse(sse_body(run), headers=dict(SSE_HEADERS))


def execution_log_entry(run: Run) -> dict[str, Any]:
    """One entry of ``GET /_emulator/executions``."""
    entry: dict[str, Any] = {
        "id": run.id,
        "workflowId": run.workflow_id,
        "apiVersion": run.api_version,
        "mode": run.mode,
        "status": run.status.value,
        "input": run.input,
        "clientChosenId": run.client_chosen_id,
        "startedAt": iso(run.started_at),
        "endedAt": iso(run.ended_at),
        "error": run.error,
        "resumeAttempts": list(run.resume_attempts),
        "held": run.release is not None and not run.release.done() and not run.status.is_terminal,
    }
    if run.job_id is not None:
        entry["jobId"] = run.job_id
    return entry
