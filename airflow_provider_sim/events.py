"""Trigger events: built in one place, validated in one place.

A trigger reports how a wait ended as a JSON-only dict. The operator and the sensor turn it back
into a :class:`~airflow_provider_sim.protocol.SimRun` with :func:`run_from_event`, which refuses
anything it does not recognise, so a missing or malformed event can never pass as success.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_sim.exceptions import SimError, SimWaitTimeoutError
from airflow_provider_sim.protocol.models import PauseInfo, RunError, RunStatus, SimRun

EVENT_RUN_FINISHED = "run_finished"
EVENT_ERROR = "error"
EVENT_TIMEOUT = "timeout"
_EVENTS = (EVENT_RUN_FINISHED, EVENT_ERROR, EVENT_TIMEOUT)


def run_event(run: SimRun) -> dict[str, Any]:
    """The event for a run that reached a state the waiter stops at (terminal, or paused)."""
    return {
        "event": EVENT_RUN_FINISHED,
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "status": run.status.value,
        "output": run.output,
        "error": run.error.message if run.error else None,
        "error_code": run.error.code if run.error else None,
        "duration_ms": run.duration_ms,
        "cost": run.cost,
        "job_id": run.job_id,
        "pause_context_id": run.paused.context_id if run.paused else None,
    }


def error_event(
    workflow_id: str, run_id: str, error: BaseException, *, timed_out: bool = False
) -> dict[str, Any]:
    """The event for a wait that ended without a result (an API error, or the deadline)."""
    return {
        "event": EVENT_TIMEOUT if timed_out else EVENT_ERROR,
        "run_id": run_id,
        "workflow_id": workflow_id,
        "message": str(error),
        "error_code": getattr(error, "code", type(error).__name__),
    }


def run_from_event(event: object) -> SimRun:
    """The run an event reports, or the error it carries.

    :raises SimError: the event reports an error or a timeout, or is not an event of ours.
    """
    if not isinstance(event, dict) or event.get("event") not in _EVENTS:
        raise SimError(f"Unexpected trigger event {event!r}: the Sim trigger did not report a result")
    if event["event"] == EVENT_TIMEOUT:
        raise SimWaitTimeoutError(str(event.get("message")), code=event.get("error_code"))
    if event["event"] == EVENT_ERROR:
        raise SimError(str(event.get("message")), code=event.get("error_code"))
    status = RunStatus.from_sim(event.get("status"))
    if not event.get("run_id") or (not status.is_terminal and status is not RunStatus.PAUSED):
        raise SimError(
            f"Trigger event reports run status {event.get('status')!r}, which is not a final state"
        )
    message = event.get("error")
    return SimRun(
        run_id=str(event["run_id"]),
        workflow_id=str(event.get("workflow_id") or ""),
        status=status,
        output=event.get("output"),
        error=RunError(message, event.get("error_code")) if message else None,
        duration_ms=event.get("duration_ms"),
        cost=event.get("cost"),
        job_id=event.get("job_id"),
        paused=PauseInfo(event["pause_context_id"]) if event.get("pause_context_id") else None,
    )
