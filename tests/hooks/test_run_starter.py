"""Starts from the triggerer against the emulator: at the cap of runs in flight they take turns,
one per run that ends, instead of each spending the execute budget on refusals.

Runs are held open with the emulator's ``hold`` workflow and released by the test; every wait
is bounded and asserts end states only. Retry-After is long, so no probe falls inside a test.
"""

from __future__ import annotations

import asyncio
import time

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.events import EVENT_ERROR, EVENT_RUN_FINISHED
from airflow_provider_sim.hooks.run_watcher import RunWatcher
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.triggers.sim import SimRunTrigger
from tests.hooks.conftest import ConnFactory
from tests.hooks.test_run_watcher import event_of, settings_of, until

LONG_RETRY_AFTER = 600


def starting(conn: str, run_id: str, poll_interval: float = 0.2, **kwargs: object) -> SimRunTrigger:
    return SimRunTrigger(
        sim_conn_id=conn,
        workflow_id="hold",
        run_id=run_id,
        poll_interval=poll_interval,
        start={"input": {"tag": run_id}},
        **kwargs,  # type: ignore[arg-type]
    )


def refused_starts(emulator: EmulatorHandle) -> int:
    return sum(
        1
        for r in emulator.control.requests_received()
        if r["path"] == "/api/v2/workflows/hold/execute" and r["status"] == 429
    )


def running(emulator: EmulatorHandle) -> list[str]:
    return [e["id"] for e in emulator.control.executions() if e["status"] == "running"]


async def test_starts_past_the_cap_take_turns_one_per_run_that_ends(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    emulator.control.settings(max_runs_in_flight=2, concurrency_retry_after_seconds=LONG_RETRY_AFTER)
    conn = sim_conn()
    triggers = [starting(conn, f"turn-{n}") for n in range(6)]
    waits = [asyncio.ensure_future(event_of(trigger)) for trigger in triggers]
    watcher = RunWatcher.for_settings(settings_of(conn))
    await until(lambda: len(watcher.turns) == 4 and len(running(emulator)) == 2)
    assert refused_starts(emulator) == 4  # each asked once before anyone knew the account was full

    emulator.control.release(running(emulator)[:1])
    await until(lambda: len(emulator.control.executions()) == 3 and len(watcher.turns) == 3)
    assert refused_starts(emulator) == 4  # the freed slot went to the next in line, unasked by others

    while not all(wait.done() for wait in waits):
        emulator.control.release()
        await asyncio.wait(waits, timeout=0.2)
    events = [wait.result() for wait in waits]
    for trigger, event in zip(triggers, events, strict=True):
        assert (event["event"], event["status"]) == (EVENT_RUN_FINISHED, "completed")
        assert event["output"] == {"tag": trigger.run_id}
    executions = emulator.control.executions()
    assert sorted(e["id"] for e in executions) == sorted(t.run_id for t in triggers)
    assert refused_starts(emulator) == 4


async def test_while_starts_wait_in_line_runs_are_listed_sooner_than_their_waits_ask(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    """The watcher's own cadence (here one look in ten minutes) would leave a freed slot idle; with
    starts in line it lists within seconds, and the next start goes."""
    emulator.control.settings(max_runs_in_flight=1, concurrency_retry_after_seconds=LONG_RETRY_AFTER)
    conn = sim_conn()
    triggers = [starting(conn, f"eager-{n}", poll_interval=600) for n in range(2)]
    waits = [asyncio.ensure_future(event_of(trigger)) for trigger in triggers]
    watcher = RunWatcher.for_settings(settings_of(conn))
    await until(lambda: len(watcher.turns) == 1 and len(running(emulator)) == 1)
    first = running(emulator)
    await until(lambda: watcher.sent["list"] >= 1)  # its first look is over: the next is its own

    emulator.control.release(first)
    await until(lambda: len(emulator.control.executions()) == 2)
    assert refused_starts(emulator) == 1
    assert len(watcher.turns) == 0
    for wait in waits:
        wait.cancel()
    await asyncio.gather(*waits, return_exceptions=True)


async def test_a_restarted_trigger_waits_for_the_run_it_started_instead_of_starting_another(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    conn = sim_conn()
    SimHook(conn).execute_workflow("hold", {"tag": "again"}, run_id="again", async_execution=True)
    wait = asyncio.ensure_future(event_of(starting(conn, "again")))
    await until(lambda: any(r["status"] == 409 for r in emulator.control.requests_received()))
    emulator.control.release()
    event = await wait
    assert (event["event"], event["status"], event["output"]) == (
        EVENT_RUN_FINISHED,
        "completed",
        {"tag": "again"},
    )
    assert len(emulator.control.executions()) == 1


async def test_a_start_held_at_the_cap_past_its_deadline_ends_naming_the_cap_and_starts_nothing(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    emulator.control.settings(max_runs_in_flight=1, concurrency_retry_after_seconds=LONG_RETRY_AFTER)
    conn = sim_conn()
    SimHook(conn).execute_workflow("hold", {}, run_id="blocker", async_execution=True)
    event = await event_of(starting(conn, "late", end_time=time.time() + 1))
    assert event["event"] == EVENT_ERROR
    assert "EXECUTION_CONCURRENCY_LIMIT" in event["message"] and "runs in flight" in event["message"]
    assert [e["id"] for e in emulator.control.executions()] == ["blocker"]
