"""Sim's paused-execution detail: what a person is asked at each pause of a run. No I/O.

A status read of a paused run names the pause point (``paused.contextId``) but not what the
Human in the Loop block shows or asks; Sim keeps that with the pause
(``GET /api/workflows/{id}/paused/{executionId}``, the same path whichever API generation the
connection uses; ``PauseResumeManager.getPausedExecutionDetail`` in Sim's source). Each pause point's
``response`` is the block's output as a synchronous run's answer carries it
(``{"data": {"responseStructure", "inputFormat", "_resume", ...}, "status", "headers"}``), so the
same code reads both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_sim.protocol.build import _segment, _workflow_path, check_run_id
from airflow_provider_sim.protocol.errors import json_obj, json_str, parse_json
from airflow_provider_sim.protocol.flows import Flow, single
from airflow_provider_sim.protocol.models import ApiVersion, HttpResponse, RequestSpec


@dataclass(frozen=True)
class PausePoint:
    """One pause of a run.

    :param resume_status: Sim's word for it: ``paused`` while it waits for an answer, then
        ``resuming`` / ``resumed``.
    :param response: the pausing block's output (display data, resume form, ``_resume`` links).
    """

    context_id: str
    block_id: str | None
    kind: str
    resume_status: str
    response: Any

    @property
    def is_waiting(self) -> bool:
        """The run waits here for an answer."""
        return self.resume_status == "paused"


@dataclass(frozen=True)
class PausedExecution:
    """Sim's record of a run that has paused: ``status`` is ``paused``, ``partially_resumed``,
    ``fully_resumed`` or ``cancelled``; ``pause_points`` in the order Sim lists them."""

    workflow_id: str
    run_id: str
    status: str | None
    pause_points: tuple[PausePoint, ...]

    def waiting_at(self, context_id: str) -> PausePoint | None:
        """The pause point ``context_id`` if the run waits there for an answer, else ``None``."""
        for point in self.pause_points:
            if point.context_id == context_id and point.is_waiting:
                return point
        return None


def build_get_paused(workflow_id: str, run_id: str) -> RequestSpec:
    """``GET /api/workflows/{id}/paused/{executionId}`` (not metered; 404 for a run that never paused)."""
    path = f"{_workflow_path(ApiVersion.V1, workflow_id)}/paused/{_segment(check_run_id(run_id))}"
    return RequestSpec("GET", path, api_version=ApiVersion.V1)


def parse_paused(response: HttpResponse, workflow_id: str, run_id: str) -> PausedExecution:
    """Read the detail; pause points without a context id are left out (nothing could answer them)."""
    body = json_obj(parse_json(response))
    points = []
    for raw in body.get("pausePoints") or []:
        point = json_obj(raw)
        context_id = json_str(point.get("contextId"))
        if context_id is None:
            continue
        points.append(
            PausePoint(
                context_id=context_id,
                block_id=json_str(point.get("blockId")),
                kind=json_str(point.get("pauseKind")) or "human",
                resume_status=json_str(point.get("resumeStatus")) or "paused",
                response=point.get("response"),
            )
        )
    return PausedExecution(workflow_id, run_id, json_str(body.get("status")), tuple(points))


def get_paused(workflow_id: str, run_id: str) -> Flow[PausedExecution]:
    """The flow both hooks drive: one read of the detail."""
    return single(build_get_paused(workflow_id, run_id), lambda r: parse_paused(r, workflow_id, run_id))
