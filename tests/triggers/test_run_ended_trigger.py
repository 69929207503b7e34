"""SimRunEndedTrigger: through Airflow's serialisers, and its ``run()`` against the emulator over HTTP.

Runs are held open with the emulator's ``hold`` workflow and ended with ``POST /_emulator/release``;
the tests wait (bounded) for what the trigger fires, never for a time. The triggerer's Asset state
store is stood in for by :class:`MemoryStateStore` (the real one runs in ``tests/cluster``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS

pytestmark = pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS, reason="event triggers (BaseEventTrigger, AssetWatcher) came with Airflow 3.0"
)
if AIRFLOW_V_3_0_PLUS:
    from airflow_provider_sim.hooks.run_feed import RunFeed
    from airflow_provider_sim.protocol.run_events import EVENT_RUN_ENDED
    from airflow_provider_sim.triggers.run_events import STATE_KEY, SimRunEndedTrigger

REAL_SLEEP = asyncio.sleep


class MemoryStateStore:
    """The accessor Airflow 3.3 puts on a watcher's trigger (``aget`` / ``aset``), in memory."""

    def __init__(self, values: dict[str, Any] | None = None, *, several_assets: bool = False) -> None:
        self.values = values if values is not None else {}
        self.several_assets = several_assets

    async def aget(self, key: str, default: Any = None) -> Any:
        if self.several_assets:
            raise ValueError("Task has 2 concrete inlets and outlets")
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # JSON only, as the real store


class Fired:
    """The events one running trigger fired so far (a triggerer's view of it)."""

    def __init__(self, trigger: SimRunEndedTrigger) -> None:
        self.trigger = trigger
        self.payloads: list[dict[str, Any]] = []
        self.task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for event in self.trigger.run():
            json.dumps(event.payload)
            self.payloads.append(dict(event.payload))

    def run_ids(self) -> list[str]:
        return [p["run_id"] for p in self.payloads]

    async def stop(self) -> None:
        """As a triggerer restart (or the watcher's removal) does: cancel the trigger's task."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(condition: Callable[[], bool], what: str, fired: Fired | None = None) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if fired is not None and fired.task.done():
            fired.task.result()  # the trigger died: show why
        assert time.monotonic() < deadline, f"{what} never happened"
        await REAL_SLEEP(0.02)


def start(hook: SimHook, workflow_id: str, run_id: str) -> str:
    hook.execute_workflow(workflow_id, {"n": run_id}, run_id=run_id, async_execution=True)
    return run_id


def list_calls(emulator: EmulatorHandle, workflow_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/workflows/{workflow_id}/runs"
    return [r for r in emulator.control.requests_received() if r["path"] == path]


def a_moment_ago() -> str:
    return (datetime.now(UTC) - timedelta(seconds=5)).isoformat()


@pytest.fixture
def store() -> MemoryStateStore:
    return MemoryStateStore()


@contextlib.asynccontextmanager
async def running(trigger: SimRunEndedTrigger, store: MemoryStateStore | None) -> AsyncIterator[Fired]:
    trigger.asset_state_store = store  # type: ignore[assignment]  # as Airflow 3.3 does before run()
    fired = Fired(trigger)
    try:
        yield fired
    finally:
        await fired.stop()


# -- construction and serialisation ------------------------------------------------------------------


def test_serialize_recreate_through_airflows_trigger_row() -> None:
    from airflow.models.trigger import Trigger
    from airflow.serialization.serialized_objects import BaseSerialization

    trigger = SimRunEndedTrigger(
        workflow_id="wf-1",
        sim_conn_id="my_sim",
        statuses=["failed"],
        poll_interval=5,
        since="2026-08-06T00:00:00Z",
    )
    row = Trigger.from_object(trigger)
    stored = Trigger(classpath=row.classpath, kwargs={})
    stored.encrypted_kwargs = row.encrypted_kwargs
    kwargs = BaseSerialization.deserialize(json.loads(json.dumps(BaseSerialization.serialize(stored.kwargs))))
    recreated = SimRunEndedTrigger(**kwargs)
    assert row.classpath == "airflow_provider_sim.triggers.run_events.SimRunEndedTrigger"
    assert recreated.serialize() == trigger.serialize()
    assert recreated.variable_key == trigger.variable_key
    assert SimRunEndedTrigger(workflow_id="wf-1").variable_key != trigger.variable_key


def test_an_asset_watcher_takes_it_and_dag_serialisation_keeps_it() -> None:
    from airflow.sdk import Asset, AssetWatcher

    trigger = SimRunEndedTrigger(workflow_id="wf-1")
    asset = Asset("sim://workflows/wf-1", watchers=[AssetWatcher(name="sim_runs", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger
    assert SimRunEndedTrigger.hash(*trigger.serialize()) == SimRunEndedTrigger.hash(*trigger.serialize())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workflow_id": "wf\n"}, "workflow"),
        ({"workflow_id": "wf", "sim_conn_id": ""}, "sim_conn_id"),
        ({"workflow_id": "wf", "statuses": "failed"}, "list of end states"),
        ({"workflow_id": "wf", "statuses": ["paused"]}, "'paused' is not an end state"),
        ({"workflow_id": "wf", "poll_interval": 0.1}, "poll_interval must be a number of seconds >= 1"),
        ({"workflow_id": "wf", "poll_interval": True}, "poll_interval"),
        ({"workflow_id": "wf", "lookback_seconds": -1}, "lookback_seconds must be 0 to"),
        ({"workflow_id": "wf", "since": "yesterday"}, "since must be an ISO 8601 instant"),
    ],
)
def test_bad_arguments_fail_at_parse_time_naming_the_fix(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SimConfigurationError, match=message):
        SimRunEndedTrigger(**kwargs)


# -- run() against the emulator ------------------------------------------------------------------------


async def test_fires_once_per_ended_run_whoever_started_it_and_not_for_runs_ended_before(
    sim_conn: str, sim_hook: SimHook, emulator: EmulatorHandle, store: MemoryStateStore
) -> None:
    sim_hook.execute_workflow("hold", {}, run_id="ended-before", async_execution=True)
    emulator.control.release(["ended-before"])
    trigger = SimRunEndedTrigger(workflow_id="hold", sim_conn_id=sim_conn, poll_interval=1)
    async with running(trigger, store) as fired:
        await until(lambda: len(list_calls(emulator, "hold")) >= 1, "the first list", fired)
        start(sim_hook, "hold", "h1")
        start(sim_hook, "hold", "h2")
        emulator.control.release(["h2"])
        await until(lambda: fired.run_ids() == ["h2"], "h2's event", fired)
        emulator.control.release(["h1"], fail="boom")
        await until(lambda: fired.run_ids() == ["h2", "h1"], "h1's event", fired)
        calls = len(list_calls(emulator, "hold"))
        await until(lambda: len(list_calls(emulator, "hold")) >= calls + 2, "two more lists", fired)
    assert fired.run_ids() == ["h2", "h1"]  # each once; the run that ended before the trigger never
    h2, h1 = fired.payloads
    assert h2["event"] == EVENT_RUN_ENDED and h2["workflow_id"] == "hold"
    assert (h2["status"], h1["status"]) == ("completed", "failed")
    assert h2["started_at"] and h2["ended_at"] and h2["duration_ms"] is not None and "cost" in h2
    api_key = sim_hook.get_connection(sim_conn).password
    assert api_key and api_key not in json.dumps([*fired.payloads, store.values])


async def test_a_restarted_trigger_fires_for_runs_that_ended_while_it_was_down_and_not_again(
    sim_conn: str, sim_hook: SimHook, emulator: EmulatorHandle, store: MemoryStateStore
) -> None:
    trigger = SimRunEndedTrigger(
        workflow_id="hold", sim_conn_id=sim_conn, poll_interval=1, since=a_moment_ago()
    )
    start(sim_hook, "hold", "before-restart")
    start(sim_hook, "hold", "across-restart")
    emulator.control.release(["before-restart"])
    async with running(trigger, store) as fired:
        await until(lambda: fired.run_ids() == ["before-restart"], "the first event", fired)

        def stored_reported() -> set[str]:
            return set((store.values.get(STATE_KEY) or {}).get("reported", {}))

        await until(lambda: "before-restart" in stored_reported(), "the state stored", fired)
    # down: one held run ends, another starts and ends
    emulator.control.release(["across-restart"])
    start(sim_hook, "hold", "while-down")
    emulator.control.release(["while-down"])
    restarted = SimRunEndedTrigger(**trigger.serialize()[1])
    async with running(restarted, store) as fired_again:
        await until(lambda: len(fired_again.run_ids()) >= 2, "the runs that ended while down", fired_again)
        calls = len(list_calls(emulator, "hold"))
        await until(lambda: len(list_calls(emulator, "hold")) >= calls + 2, "two more lists", fired_again)
    assert fired_again.run_ids() == ["across-restart", "while-down"]


async def test_without_a_single_asset_store_the_state_goes_to_an_airflow_variable(
    sim_conn: str, sim_hook: SimHook, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import Variable

    variables: dict[str, Any] = {}
    monkeypatch.setattr(
        Variable, "get", lambda key, default=None, deserialize_json=False: variables.get(key, default)
    )
    monkeypatch.setattr(
        Variable, "set", lambda key, value, serialize_json=False: variables.__setitem__(key, value)
    )
    trigger = SimRunEndedTrigger(
        workflow_id="echo", sim_conn_id=sim_conn, poll_interval=1, since=a_moment_ago()
    )
    start(sim_hook, "echo", "e1")
    async with running(trigger, MemoryStateStore(several_assets=True)) as fired:
        await until(lambda: fired.run_ids() == ["e1"], "e1's event", fired)
        await until(lambda: trigger.variable_key in variables, "the Variable written", fired)
    assert "e1" in variables[trigger.variable_key]["reported"]


async def test_triggers_of_one_workflow_share_one_list_per_interval(
    sim_conn: str, sim_hook: SimHook, emulator: EmulatorHandle
) -> None:
    since = a_moment_ago()
    failed_only = SimRunEndedTrigger(
        workflow_id="hold", sim_conn_id=sim_conn, poll_interval=1, since=since, statuses=["failed"]
    )
    every_end = SimRunEndedTrigger(workflow_id="hold", sim_conn_id=sim_conn, poll_interval=1, since=since)
    start(sim_hook, "hold", "ok")
    start(sim_hook, "hold", "bad")
    async with running(failed_only, MemoryStateStore()) as one, running(every_end, MemoryStateStore()) as two:
        await until(lambda: len(list_calls(emulator, "hold")) >= 1, "the first list", one)
        emulator.control.release(["ok"])
        emulator.control.release(["bad"], fail="no")
        await until(lambda: len(two.run_ids()) == 2 and one.run_ids() == ["bad"], "both events", two)
        settings = await _settings(sim_conn)
        feed = RunFeed.for_settings(settings, "hold")
        assert len(feed.subscriptions) == 2
        assert len(list_calls(emulator, "hold")) == feed.pages  # one feed sent every list


async def test_a_long_list_is_read_page_by_page(
    sim_conn: str, sim_hook: SimHook, emulator: EmulatorHandle
) -> None:
    since = a_moment_ago()
    run_ids = [start(sim_hook, "echo", f"page-{n:03d}") for n in range(105)]
    trigger = SimRunEndedTrigger(workflow_id="echo", sim_conn_id=sim_conn, poll_interval=1, since=since)
    async with running(trigger, MemoryStateStore()) as fired:
        await until(lambda: len(fired.run_ids()) == 105, "105 events", fired)
    assert sorted(fired.run_ids()) == run_ids
    cursors = [r for r in list_calls(emulator, "echo") if "cursor" in (r.get("query") or "")]
    assert cursors, "the second page was asked for with the first page's cursor"


async def test_a_v1_connection_is_refused_naming_the_fix(
    sim_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = {**json.loads(os.environ["AIRFLOW_CONN_SIM_DEFAULT"]), "extra": {"api_version": "v1"}}
    monkeypatch.setenv("AIRFLOW_CONN_SIM_V1", json.dumps(v1))
    trigger = SimRunEndedTrigger(workflow_id="echo", sim_conn_id="sim_v1")
    with pytest.raises(SimConfigurationError, match="api_version: v2"):
        async for _ in trigger.run():
            pass


async def _settings(conn_id: str) -> Any:
    from airflow_provider_sim.hooks.sim_async import SimAsyncHook

    async with SimAsyncHook(conn_id) as hook:
        return await hook.settings()


async def test_the_example_dags_watcher_fires_for_its_workflows_runs(
    sim_conn: str, sim_hook: SimHook, emulator: EmulatorHandle, store: MemoryStateStore
) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "example_dags" / "example_sim_run_events.py"
    spec = importlib.util.spec_from_file_location("example_sim_run_events", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    (watcher,) = example.echo_runs_ended.watchers
    classpath, kwargs = watcher.trigger.serialize()  # the trigger as the triggerer rebuilds it
    trigger = SimRunEndedTrigger(**kwargs)
    async with running(trigger, store) as fired:
        await until(lambda: len(list_calls(emulator, "echo")) >= 1, "the first list", fired)
        run_id = sim_hook.execute_workflow("echo", {"hello": "sim"}, run_id="example-run").run_id
        await until(lambda: fired.run_ids() == [run_id], "the example's event", fired)
    assert classpath.endswith("SimRunEndedTrigger") and fired.payloads[0]["status"] == "completed"


async def test_a_failed_list_is_tried_again_after_the_interval_and_nothing_is_lost(
    sim_conn: str,
    sim_hook: SimHook,
    emulator: EmulatorHandle,
    store: MemoryStateStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    trigger = SimRunEndedTrigger(
        workflow_id="echo", sim_conn_id=sim_conn, poll_interval=1, since=a_moment_ago()
    )
    start(sim_hook, "echo", "during-faults")
    emulator.control.add_fault("/api/v2/workflows/echo/runs", "malformed_json", times=2)
    async with running(trigger, store) as fired:
        await until(lambda: fired.run_ids() == ["during-faults"], "the event after the faults", fired)
    assert not emulator.control.faults()  # both faulty answers were met, and the trigger went on
    assert "Listing the runs of Sim workflow 'echo' failed" in caplog.text
