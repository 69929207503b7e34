"""Sim's paused-execution detail: ``GET /api/workflows/{id}/paused/{executionId}``.

Shaped as Sim's ``PauseResumeManager.getPausedExecutionDetail`` answers it
(``apps/sim/lib/workflows/executor/human-in-the-loop-manager.ts``): one record per run that has
paused, with every pause point so far (``response`` is the Human in the Loop block's output:
display data, resume form and ``_resume`` links) and the resume queue. A run that never paused, or
an unknown one, answers 404 ``{"error": "Paused execution not found"}``. Not metered; the key is
checked as on every v1 route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from airflow_provider_sim.emulator.endpoints import EmulatorDep, api_key
from airflow_provider_sim.emulator.messages import json_response, v1_error
from airflow_provider_sim.emulator.runs import resume_links
from airflow_provider_sim.emulator.state import Run, RunStatus, iso
from airflow_provider_sim.emulator.views import find_run

router = APIRouter(dependencies=[Depends(api_key)])


def _row_status(run: Run, resumed: int, total: int) -> str:
    if run.status is RunStatus.CANCELLED:
        return "cancelled"
    if resumed >= total:
        return "fully_resumed"
    return "partially_resumed" if resumed else "paused"


def paused_detail(run: Run) -> dict[str, Any]:
    """The detail record of a run that has paused."""
    paused_id = f"paused-{run.id}"
    points, queue = [], []
    for index, (pause, response) in enumerate(run.pause_points):
        block_id, registered = pause.context_id, pause.paused_at
        attempt = run.resume_attempts[index] if index < len(run.resume_attempts) else None
        entry = None
        if attempt is not None:
            entry = {
                "id": f"resume-{attempt}",
                "pausedExecutionId": paused_id,
                "parentExecutionId": run.id,
                "newExecutionId": attempt,
                "contextId": block_id,
                "resumeInput": None,  # the emulator does not keep answers
                "status": "completed",
                "queuedAt": iso(registered),
                "claimedAt": iso(registered),
                "completedAt": iso(run.ended_at) if run.ended_at else None,
                "failureReason": None,
            }
            queue.append(entry)
        points.append(
            {
                "contextId": block_id,
                "blockId": block_id,
                "response": response,
                "registeredAt": iso(registered),
                "resumeStatus": "paused" if attempt is None else "resumed",
                "snapshotReady": True,
                "resumeLinks": resume_links(run, block_id),
                "pauseKind": "human",
                "queuePosition": None,
                "latestResumeEntry": entry,
            }
        )
    resumed = sum(point["resumeStatus"] == "resumed" for point in points)
    moment = run.pause.paused_at if run.pause is not None else run.started_at
    return {
        "id": paused_id,
        "workflowId": run.workflow_id,
        "executionId": run.id,
        "status": _row_status(run, resumed, len(points)),
        "totalPauseCount": len(points),
        "resumedCount": resumed,
        "pausedAt": iso(moment),
        "updatedAt": iso(run.ended_at or moment),
        "expiresAt": None,
        "metadata": {},
        "triggerIds": [],
        "pausePoints": points,
        "executionSnapshot": {"snapshot": "{}", "triggerIds": []},
        "queue": queue,
    }


@router.get("/api/workflows/{workflow_id}/paused/{execution_id}")
async def paused_execution(em: EmulatorDep, workflow_id: str, execution_id: str) -> Response:
    """``GET /api/workflows/{id}/paused/{executionId}``."""
    not_paused = v1_error(404, "Paused execution not found")
    run = find_run(em.store, workflow_id, execution_id, v1_error(404, "Workflow not found"), not_paused)
    if not run.pause_points:
        return not_paused
    return json_response(200, paused_detail(run))
