"""SimRunTrigger: through Airflow's real serialisers, and its ``run()`` on an event loop against the emulator.

Triggers wait through the shared run watcher (:mod:`airflow_provider_sim.hooks.run_watcher`).
Where a test replaces ``asyncio.sleep`` by a recorder, the watcher never really sleeps; the
recorder can also act at a given look, e.g. resume or cancel the run on the server, so every path is
deterministic. Runs are held open with the emulator's ``hold`` workflow, never by timing.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.models.trigger import Trigger
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS
from airflow.serialization.serialized_objects import BaseSerialization
from airflow.triggers.base import TriggerEvent

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.events import EVENT_ERROR, EVENT_RUN_FINISHED, EVENT_TIMEOUT, run_from_event
from airflow_provider_sim.exceptions import SimConfigurationError, SimError, SimWaitTimeoutError
from airflow_provider_sim.hooks.run_watcher import RunWatcher
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from airflow_provider_sim.protocol.models import RunStatus
from airflow_provider_sim.protocol.watch import FIRST_LOOK_SECONDS
from airflow_provider_sim.triggers.sim import SimRunTrigger

REAL_SLEEP = asyncio.sleep


def import_string(classpath: str) -> Any:
    """What the triggerer does with a trigger row's classpath."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


class SleepRecorder:
    """Stands in for ``asyncio.sleep``: records each delay, yields to the loop, never waits.

    :param on_call: ``{n: action}``: run ``action()`` on the n-th call (1-based), e.g. to cancel
        the run on the server or to stop the trigger as a triggerer restart would.
    """

    def __init__(self, on_call: dict[int, Callable[[], Any]] | None = None) -> None:
        self.delays: list[float] = []
        self.on_call = on_call or {}

    async def __call__(self, delay: float, result: Any = None) -> Any:
        self.delays.append(delay)
        action = self.on_call.get(len(self.delays))
        if action is not None:
            action()
        await REAL_SLEEP(0)
        return result


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    recorder = SleepRecorder()
    monkeypatch.setattr(asyncio, "sleep", recorder)
    return recorder


async def first_event(trigger: SimRunTrigger) -> dict[str, Any]:
    """What a triggerer does: run the trigger until its first event (it must fire exactly one)."""
    events = [event async for event in trigger.run()]
    assert len(events) == 1 and isinstance(events[0], TriggerEvent)
    payload = events[0].payload
    json.dumps(payload)  # events are JSON-only
    return dict(payload)


def trigger_for(sim_conn: str, run_id: str, workflow_id: str = "hold", **kwargs: Any) -> SimRunTrigger:
    return SimRunTrigger(sim_conn_id=sim_conn, workflow_id=workflow_id, run_id=run_id, **kwargs)


def start(hook: SimHook, workflow_id: str, run_id: str, workflow_input: Any = None) -> str:
    hook.execute_workflow(workflow_id, workflow_input, run_id=run_id, async_execution=True)
    return run_id


def wait_until_listed(emulator: EmulatorHandle, workflow_id: str, run_id: str) -> None:
    """Until the run has left the queue (a queued run is not in Sim's run list yet)."""
    deadline = time.monotonic() + 30
    while not any(e["id"] == run_id and e["status"] != "queued" for e in emulator.control.executions()):
        assert time.monotonic() < deadline, f"run {run_id} never started"
        time.sleep(0.02)


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Real waiting, bounded, until ``condition`` holds (no assumption about how long it takes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await REAL_SLEEP(0.02)


def looked_at(emulator: EmulatorHandle, workflow_id: str) -> bool:
    prefix = f"/api/v2/workflows/{workflow_id}/runs"
    return any(r["path"].startswith(prefix) for r in emulator.control.requests_received())


def watcher_of(conn_id: str, emulator: EmulatorHandle) -> RunWatcher:
    from airflow_provider_sim.hooks.settings import settings_from_connection

    return RunWatcher.for_settings(settings_from_connection(SimHook(conn_id).get_connection(conn_id)))


def finished(hook: SimHook, workflow_id: str, run_id: str) -> None:
    """Wait (really, briefly) until the run is terminal or paused, so a trigger's first read sees that.
    Plain reads from this thread: the hook's own waits run on an event loop, whose sleeps tests patch."""
    deadline = time.monotonic() + 30
    while (
        not (run := hook.get_run(workflow_id, run_id)).status.is_terminal
        and run.status is not RunStatus.PAUSED
    ):
        assert time.monotonic() < deadline, f"run {run_id} never finished"
        time.sleep(0.02)


# -- serialisation -----------------------------------------------------------------------------------

TRIGGERS = [
    SimRunTrigger(sim_conn_id="sim_default", workflow_id="wf-1", run_id="af-dag-task-abc-try1"),
    SimRunTrigger(
        sim_conn_id="my_sim",
        workflow_id="wf-1",
        run_id="r-1",
        poll_interval=2,
        end_time=1_900_000_000.5,
        cancel_on_timeout=False,
        return_on_pause=True,
    ),
    SimRunTrigger(sim_conn_id="sim_v1", job_id="job-42"),
    SimRunTrigger(
        sim_conn_id="sim_default",
        workflow_id="wf-1",
        run_id="af-dag-task-abc-try1",
        start={"input": {"q": [1, "two", None]}, "selected_outputs": ["agent.content"]},
    ),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=["run", "all-options", "v1-job", "start"])
def test_serialize_recreate(trigger: SimRunTrigger) -> None:
    # the trigger row, as the worker writes it (kwargs encrypted) and the triggerer reads it back
    trigger_db = Trigger.from_object(trigger)
    stored = Trigger(classpath=trigger_db.classpath, kwargs={})
    stored.encrypted_kwargs = trigger_db.encrypted_kwargs
    # and Airflow's serialiser, the way the kwargs go into and come out of the DB
    json_params = BaseSerialization.serialize(stored.kwargs)
    retrieved_params = BaseSerialization.deserialize(json.loads(json.dumps(json_params)))
    instance = import_string(trigger_db.classpath)(**retrieved_params)
    trigger_db_2 = Trigger.from_object(instance)
    assert trigger_db.classpath == trigger_db_2.classpath == "airflow_provider_sim.triggers.sim.SimRunTrigger"
    assert trigger_db.kwargs == trigger_db_2.kwargs == trigger.serialize()[1]
    assert instance.serialize() == trigger.serialize()


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="the Task SDK's serde carries trigger kwargs from 3.3 on")
@pytest.mark.parametrize("trigger", TRIGGERS, ids=["run", "all-options", "v1-job", "start"])
def test_serialize_recreate_through_task_sdk_serde(trigger: SimRunTrigger) -> None:
    from airflow.sdk.serde import deserialize, serialize

    classpath, kwargs = trigger.serialize()
    retrieved: dict[str, Any] = deserialize(json.loads(json.dumps(serialize(kwargs))))  # type: ignore[assignment]
    recreated = import_string(classpath)(**retrieved)
    assert recreated.serialize() == (classpath, kwargs)


def test_kwargs_are_json_primitives_without_the_api_key(emulator: EmulatorHandle, sim_conn: str) -> None:
    trigger = trigger_for(sim_conn, "r-1", end_time=time.time() + 60)
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert all(v is None or type(v) in (str, int, float, bool) for v in kwargs.values())
    assert kwargs["sim_conn_id"] == "sim_default"  # the connection id, never the key
    assert emulator.api_key not in json.dumps([classpath, kwargs])
    assert emulator.api_key not in repr(trigger.__dict__)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workflow_id": "wf"}, "Give workflow_id and run_id"),
        ({"run_id": "r-1"}, "Give workflow_id and run_id"),
        ({"workflow_id": "wf", "run_id": "r 1"}, "not a valid Sim run id"),
        ({"workflow_id": "a/b", "run_id": "r-1"}, "not a Sim workflow id"),
        ({"workflow_id": "echo\n", "run_id": "r-1"}, "not a Sim workflow id"),
        ({"workflow_id": "wf", "run_id": "r1\n"}, "not a valid Sim run id"),
        ({"job_id": "job\n"}, "not a valid Sim run id"),
        ({"workflow_id": "wf", "run_id": "r-1", "poll_interval": 0}, "poll_interval must be a positive"),
        ({"workflow_id": "wf", "run_id": "r-1", "poll_interval": True}, "poll_interval must be a positive"),
        ({"workflow_id": "wf", "run_id": "r-1", "end_time": "tomorrow"}, "absolute Unix timestamp"),
        ({"workflow_id": "wf", "run_id": "r-1", "end_time": float("inf")}, "absolute Unix timestamp"),
        ({"workflow_id": "wf", "run_id": "r-1", "sim_conn_id": ""}, "connection id string"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("sim_conn_id", "sim_default")
    with pytest.raises(SimConfigurationError, match=message):
        SimRunTrigger(**kwargs)


# -- run() against the emulator ----------------------------------------------------------------------


async def test_success_event(sim_hook: SimHook, sim_conn: str, sleeps: SleepRecorder) -> None:
    finished(sim_hook, "echo", start(sim_hook, "echo", "ok-1", {"q": 1}))
    event = await first_event(trigger_for(sim_conn, "ok-1", workflow_id="echo"))
    assert event["event"] == EVENT_RUN_FINISHED
    assert (event["status"], event["output"], event["run_id"]) == ("completed", {"q": 1}, "ok-1")
    run = run_from_event(event)  # what execute_complete does with it
    assert run.status is RunStatus.COMPLETED and run.duration_ms is not None
    assert len(sleeps.delays) == 1 and sleeps.delays[0] <= FIRST_LOOK_SECONDS  # one look, soon


async def test_failed_event(sim_hook: SimHook, sim_conn: str, sleeps: SleepRecorder) -> None:
    finished(sim_hook, "fail", start(sim_hook, "fail", "bad-1", {"message": "tool crashed"}))
    event = await first_event(trigger_for(sim_conn, "bad-1", workflow_id="fail"))
    assert (event["event"], event["status"]) == (EVENT_RUN_FINISHED, "failed")
    assert "tool crashed" in event["error"]
    assert run_from_event(event).status is RunStatus.FAILED


async def test_polls_with_the_poll_interval_until_the_run_ends(
    emulator: EmulatorHandle, sim_hook: SimHook, sim_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    start(sim_hook, "hold", "slow-1")
    wait_until_listed(emulator, "hold", "slow-1")
    recorder = SleepRecorder({3: lambda: sim_hook.cancel_run("hold", "slow-1")})
    monkeypatch.setattr(asyncio, "sleep", recorder)
    trigger = trigger_for(
        sim_conn, "slow-1", workflow_id="hold", poll_interval=7.5, end_time=time.time() + 3600
    )
    event = await first_event(trigger)
    first, *rest = recorder.delays
    assert 0.5 <= first <= FIRST_LOOK_SECONDS and rest == [7.5, 7.5]  # a first look soon, then the interval
    assert (event["event"], event["status"]) == (EVENT_RUN_FINISHED, "cancelled")
    watcher_calls = [
        r for r in emulator.control.requests_received() if r["path"].startswith("/api/v2/workflows/hold/runs")
    ]
    lists = [r for r in watcher_calls if r["path"] == "/api/v2/workflows/hold/runs"]
    reads = [r for r in watcher_calls if r["path"] == "/api/v2/workflows/hold/runs/slow-1"]
    assert len(lists) == 3 and len(reads) == 1  # a list per look; the run itself read once, when it ended


async def test_never_waits_past_the_deadline(sim_hook: SimHook, sim_conn: str) -> None:
    start(sim_hook, "hold", "slow-2")
    started = time.monotonic()
    trigger = trigger_for(
        sim_conn, "slow-2", workflow_id="hold", poll_interval=600, end_time=time.time() + 1.5
    )
    event = await first_event(trigger)
    assert 1.0 <= time.monotonic() - started < 60  # at the deadline, not a 600 s poll later
    assert event["event"] == EVENT_TIMEOUT and "cancelled it on Sim" in event["message"]


async def test_timeout_event_cancels_the_run(
    emulator: EmulatorHandle, sim_hook: SimHook, sim_conn: str, sleeps: SleepRecorder
) -> None:
    start(sim_hook, "hold", "late-1", {"tag": 1})
    event = await first_event(trigger_for(sim_conn, "late-1", end_time=time.time() - 1))
    assert (event["event"], event["error_code"]) == (EVENT_TIMEOUT, "TIMEOUT")
    assert "cancelled it on Sim" in event["message"]
    with pytest.raises(SimWaitTimeoutError):
        run_from_event(event)
    [execution] = emulator.control.executions()
    assert execution["status"] == "cancelled"
    cancels = [r for r in emulator.control.requests_received() if r["path"].endswith("/late-1/cancel")]
    assert len(cancels) == 1
    assert sleeps.delays == []  # the deadline had passed: no look at all


async def test_timeout_without_cancel_leaves_the_run_alone(
    emulator: EmulatorHandle, sim_hook: SimHook, sim_conn: str, sleeps: SleepRecorder
) -> None:
    start(sim_hook, "hold", "late-2", {"tag": 1})
    trigger = trigger_for(sim_conn, "late-2", end_time=time.time() - 1, cancel_on_timeout=False)
    event = await first_event(trigger)
    assert event["event"] == EVENT_TIMEOUT and "cancelled" not in event["message"]
    [execution] = emulator.control.executions()
    assert execution["status"] in ("queued", "running")  # not cancelled


async def test_error_event_for_a_missing_run(sim_conn: str, sleeps: SleepRecorder) -> None:
    event = await first_event(trigger_for(sim_conn, "no-such-run"))
    assert (event["event"], event["error_code"], event["run_id"]) == (EVENT_ERROR, "NOT_FOUND", "no-such-run")
    with pytest.raises(SimError, match="404"):
        run_from_event(event)


async def test_pause_fires_or_waits_as_asked(
    emulator: EmulatorHandle, sim_hook: SimHook, sim_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished(sim_hook, "approval", start(sim_hook, "approval", "ask-1", {"doc": 1}))
    monkeypatch.setattr(asyncio, "sleep", SleepRecorder())
    paused = await first_event(trigger_for(sim_conn, "ask-1", workflow_id="approval", return_on_pause=True))
    pause = sim_hook.get_run("approval", "ask-1").paused
    assert pause is not None
    assert (paused["status"], paused["pause_context_id"]) == ("paused", pause.context_id)

    def answer() -> None:
        run = sim_hook.get_run("approval", "ask-1")
        assert run.paused is not None
        sim_hook.resume_run("approval", "ask-1", str(run.paused.context_id), {"ok": True})

    recorder = SleepRecorder({2: answer})
    monkeypatch.setattr(asyncio, "sleep", recorder)
    done = await first_event(trigger_for(sim_conn, "ask-1", workflow_id="approval", poll_interval=3))
    first, second = recorder.delays  # kept waiting while paused
    assert first <= FIRST_LOOK_SECONDS and second == 3
    assert (done["status"], done["output"]) == (
        "completed",
        {"input": {"doc": 1}, "resumeInput": {"ok": True}},
    )
    assert len(emulator.control.executions()) == 1


async def test_legacy_v1_job(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder
) -> None:
    conn = {
        "conn_type": "sim",
        "host": emulator.base_url,
        "password": emulator.api_key,
        "extra": {"api_version": "v1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SIM_V1", json.dumps(conn))
    hook = SimHook("sim_v1")
    run = hook.execute_workflow("echo", {"v": 1}, async_execution=True)
    assert run.job_id
    deadline = time.monotonic() + 30
    while not hook.get_run("echo", run.run_id, job_id=run.job_id).status.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    event = await first_event(SimRunTrigger(sim_conn_id="sim_v1", job_id=run.job_id))
    assert (event["status"], event["output"], event["job_id"]) == ("completed", {"v": 1}, run.job_id)


async def test_restart_resumes_the_wait_without_a_second_run(
    emulator: EmulatorHandle, sim_hook: SimHook, sim_conn: str
) -> None:
    finished(sim_hook, "approval", start(sim_hook, "approval", "ask-2", {"doc": 2}))
    first = trigger_for(sim_conn, "ask-2", workflow_id="approval", poll_interval=0.2)
    waiting = asyncio.ensure_future(first_event(first))
    await until(lambda: looked_at(emulator, "approval"))
    waiting.cancel()  # the triggerer shuts down while the trigger waits
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not watcher_of(sim_conn, emulator).book  # the cancelled trigger left the watcher

    # another triggerer picks the trigger up from its row: classpath and kwargs only
    classpath, kwargs = first.serialize()
    again = import_string(classpath)(**BaseSerialization.deserialize(BaseSerialization.serialize(kwargs)))
    run = sim_hook.get_run("approval", "ask-2")
    assert run.paused is not None
    sim_hook.resume_run("approval", "ask-2", str(run.paused.context_id), {"ok": 2})
    event = await first_event(again)
    assert (event["status"], event["output"]["resumeInput"]) == ("completed", {"ok": 2})
    [execution] = emulator.control.executions()
    assert execution["id"] == "ask-2"
    executes = [r for r in emulator.control.requests_received() if r["path"].endswith("/execute")]
    assert len(executes) == 1  # the test's own start; neither trigger ever starts a run


# -- no sync connection API, no DB, on the event loop ------------------------------------------------


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_never_uses_the_sync_connection_api_or_the_db_on_the_event_loop(
    sim_hook: SimHook, sim_conn: str, sleeps: SleepRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished(sim_hook, "echo", start(sim_hook, "echo", "ok-2", {"q": 2}))
    base_hook = SimAsyncHook.__mro__[1]  # common-compat's BaseHook for this Airflow version
    real_get_connection = base_hook.get_connection.__func__  # type: ignore[attr-defined]
    calls: list[tuple[str, bool]] = []

    def guarded_get_connection(cls: type, conn_id: str) -> Any:
        on_loop = _on_event_loop()
        calls.append((threading.current_thread().name, on_loop))
        if on_loop or AIRFLOW_V_3_3_PLUS:
            raise AssertionError("the trigger called the sync connection API from the event loop")
        return real_get_connection(cls, conn_id)

    def no_db(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the trigger opened a DB session")

    monkeypatch.setattr(base_hook, "get_connection", classmethod(guarded_get_connection))
    import airflow.settings

    monkeypatch.setattr(airflow.settings, "Session", no_db)
    event = await first_event(trigger_for(sim_conn, "ok-2", workflow_id="echo"))
    assert event["status"] == "completed", event
    if AIRFLOW_V_3_3_PLUS:  # Airflow's async-safe lookup (aget_connection): no sync call at all
        assert calls == []
    else:  # common-compat runs the sync lookup in a worker thread (sync_to_async), off the loop
        assert calls and not any(on_loop for _, on_loop in calls)


# -- on_kill: the task was stopped while deferred ----------------------------------------------------


@pytest.mark.parametrize("owns_the_run", [True, False])
async def test_on_kill_cancels_only_a_run_the_operator_started(
    emulator: EmulatorHandle, sim_hook: SimHook, sim_conn: str, owns_the_run: bool
) -> None:
    start(sim_hook, "hold", "killed-1", {"tag": 1})
    # the operator passes cancel_on_timeout=True (it started the run), the sensor False
    await trigger_for(sim_conn, "killed-1", cancel_on_timeout=owns_the_run).on_kill()
    [execution] = emulator.control.executions()
    assert (execution["status"] == "cancelled") is owns_the_run


@pytest.mark.skipif(
    not AIRFLOW_V_3_3_PLUS, reason="the triggerer calls BaseTrigger.on_kill from Airflow 3.3 on"
)
@pytest.mark.parametrize("why", ["user action", "triggerer shutdown"])
async def test_triggerer_calls_on_kill_on_user_action_only(
    emulator: EmulatorHandle,
    sim_hook: SimHook,
    sim_conn: str,
    sleeps: SleepRecorder,
    monkeypatch: pytest.MonkeyPatch,
    why: str,
) -> None:
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
    start(sim_hook, "hold", "killed-2", {"tag": 1})
    trigger = trigger_for(sim_conn, "killed-2", poll_interval=1)
    trigger.task_instance = None  # type: ignore[assignment]
    runner = TriggerRunner()
    runner.triggers[7] = {"name": "sim-run", "events": 0}  # type: ignore[typeddict-item]
    task = asyncio.create_task(runner.run_trigger(7, trigger))
    runner.triggers[7]["task"] = task
    while not sleeps.delays:  # the trigger has read the run and waits for the next poll
        await REAL_SLEEP(0.01)
    if why == "user action":  # mark failed / mark success / clear: the triggerer's cancel path
        runner.to_cancel.append(7)
        await runner.cancel_triggers()
    else:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [execution] = emulator.control.executions()
    # a restarting triggerer hands the trigger to another one: the run must go on
    assert (execution["status"] == "cancelled") is (why == "user action")
