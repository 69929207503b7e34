"""SimRunTrigger(end_from_trigger=True): a completed run ends the task from the triggerer
(``TaskSuccessEvent`` with the worker's XComs); every other ending fires the usual event."""

from __future__ import annotations

import json
from typing import Any

from airflow.models.trigger import Trigger
from airflow.serialization.serialized_objects import BaseSerialization
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from airflow_provider_sim.events import EVENT_RUN_FINISHED, run_from_event
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.protocol.models import RunStatus
from airflow_provider_sim.triggers.sim import SimRunTrigger
from tests.triggers.test_sim_trigger import finished, import_string, sleeps, start, trigger_for

__all__ = ["sleeps"]  # the trigger tests' fixture: the shared watcher's sleeps never wait


async def events_of(trigger: SimRunTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


def test_serialised_only_when_set_and_recreated_through_airflow() -> None:
    plain = SimRunTrigger(sim_conn_id="sim_default", workflow_id="wf-1", run_id="r-1")
    assert "end_from_trigger" not in plain.serialize()[1]  # rows written before the option load as before
    ending = SimRunTrigger(sim_conn_id="sim_default", workflow_id="wf-1", run_id="r-1", end_from_trigger=True)
    row = Trigger.from_object(ending)
    stored = Trigger(classpath=row.classpath, kwargs={})
    stored.encrypted_kwargs = row.encrypted_kwargs
    kwargs = BaseSerialization.deserialize(json.loads(json.dumps(BaseSerialization.serialize(stored.kwargs))))
    recreated = import_string(row.classpath)(**kwargs)
    assert recreated.end_from_trigger is True and recreated.serialize() == ending.serialize()


async def test_completed_run_ends_the_task_with_the_workers_xcoms(
    sim_hook: SimHook, sim_conn: str, sleeps: Any
) -> None:
    output = {"q": [1, "two", None]}
    finished(sim_hook, "echo", start(sim_hook, "echo", "end-1", output))
    [event] = await events_of(trigger_for(sim_conn, "end-1", workflow_id="echo", end_from_trigger=True))
    assert isinstance(event, TaskSuccessEvent)
    xcoms: dict[str, Any] = event.xcoms or {}
    json.dumps(xcoms)  # Airflow stores them as JSON
    # what the same run's usual event gives execute_complete, which returns the output
    [usual] = await events_of(trigger_for(sim_conn, "end-1", workflow_id="echo"))
    run = run_from_event(usual.payload)
    assert xcoms == {
        "return_value": output,
        "sim_status": "completed",
        "sim_duration_ms": run.duration_ms,
        **({"sim_cost": run.cost} if run.cost is not None else {}),
    }
    assert run.output == output and run.duration_ms is not None


async def test_failed_run_still_resumes_in_the_worker(sim_hook: SimHook, sim_conn: str, sleeps: Any) -> None:
    finished(sim_hook, "fail", start(sim_hook, "fail", "end-bad", {"message": "tool crashed"}))
    [event] = await events_of(trigger_for(sim_conn, "end-bad", workflow_id="fail", end_from_trigger=True))
    assert not isinstance(event, TaskSuccessEvent)
    assert (event.payload["event"], event.payload["status"]) == (EVENT_RUN_FINISHED, "failed")
    assert run_from_event(event.payload).status is RunStatus.FAILED


async def test_error_still_resumes_in_the_worker(sim_conn: str, sleeps: Any) -> None:
    [event] = await events_of(trigger_for(sim_conn, "no-such-run", workflow_id="echo", end_from_trigger=True))
    assert not isinstance(event, TaskSuccessEvent) and event.payload["event"] == "error"
