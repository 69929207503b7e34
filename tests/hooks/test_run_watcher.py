"""The shared run watcher against the emulator: many waits, few requests, no mixing, 429s ridden out.

Runs are held open with the emulator's ``hold`` workflow and released by the test; every wait
below is bounded and asserts end states only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorControl, EmulatorHandle
from airflow_provider_sim.emulator.process import EmulatorProcess
from airflow_provider_sim.events import EVENT_RUN_FINISHED, EVENT_TIMEOUT
from airflow_provider_sim.exceptions import SimWaitTimeoutError
from airflow_provider_sim.hooks.run_watcher import RunWatcher
from airflow_provider_sim.hooks.settings import SimSettings, settings_from_connection
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.triggers.sim import SimRunTrigger
from tests.hooks.conftest import ConnFactory

OTHER_KEY = "sk-sim-other-account"


@pytest.fixture(scope="module")
def other_server() -> Iterator[EmulatorProcess]:
    """A second Sim account: another server with another key."""
    with EmulatorProcess(api_key=OTHER_KEY) as server:
        yield server


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Bounded real waiting until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def event_of(trigger: SimRunTrigger) -> dict[str, Any]:
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return dict(events[0].payload)


def settings_of(conn_id: str) -> SimSettings:
    return settings_from_connection(SimHook(conn_id).get_connection(conn_id))


def held(hook: SimHook, workflow_id: str, run_ids: list[str]) -> None:
    for run_id in run_ids:
        hook.execute_workflow(workflow_id, {"tag": run_id}, run_id=run_id, async_execution=True)


def waits_for(conn: str, run_ids: list[str], *, poll_interval: float) -> list[asyncio.Future[dict[str, Any]]]:
    """One trigger per held run, each iterated as a triggerer would, all on this loop."""
    return [
        asyncio.ensure_future(
            event_of(
                SimRunTrigger(sim_conn_id=conn, workflow_id="hold", run_id=r, poll_interval=poll_interval)
            )
        )
        for r in run_ids
    ]


def api_calls(control: EmulatorControl, suffix: str = "") -> list[dict[str, Any]]:
    return [
        r for r in control.requests_received() if r["path"].startswith("/api/") and r["path"].endswith(suffix)
    ]


async def test_one_watcher_serves_two_workflows_and_two_accounts_without_mixing(
    emulator: EmulatorHandle,
    sim_conn: ConnFactory,
    other_server: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = EmulatorControl(other_server.base_url)
    other.reset()
    conn_a = sim_conn("sim_a")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SIM_B",
        json.dumps({"conn_type": "sim", "host": other_server.base_url, "password": OTHER_KEY}),
    )
    hook_a, hook_b = SimHook(conn_a), SimHook("sim_b")
    runs_a = [f"a-{n}" for n in range(12)]
    runs_b = [f"b-{n}" for n in range(6)]
    held(hook_a, "hold", runs_a)
    hook_a.execute_workflow("echo", {"tag": "a-echo"}, run_id="a-echo", async_execution=True)
    held(hook_b, "hold", runs_b)
    triggers = [
        SimRunTrigger(sim_conn_id=conn_a, workflow_id="hold", run_id=r, poll_interval=0.2) for r in runs_a
    ]
    triggers.append(SimRunTrigger(sim_conn_id=conn_a, workflow_id="echo", run_id="a-echo", poll_interval=0.2))
    triggers += [
        SimRunTrigger(sim_conn_id="sim_b", workflow_id="hold", run_id=r, poll_interval=0.2) for r in runs_b
    ]
    waits = [asyncio.ensure_future(event_of(trigger)) for trigger in triggers]
    watcher_a = RunWatcher.for_settings(settings_of(conn_a))
    watcher_b = RunWatcher.for_settings(settings_of("sim_b"))
    assert watcher_a is not watcher_b and watcher_a is RunWatcher.for_settings(settings_of(conn_a))
    await until(lambda: watcher_a.sent["list"] >= 1 and watcher_b.sent["list"] >= 1)
    emulator.control.release()
    other.release()
    events = await asyncio.gather(*waits)

    for trigger, event in zip(triggers, events, strict=True):
        assert (event["event"], event["status"]) == (EVENT_RUN_FINISHED, "completed")
        assert event["run_id"] == trigger.run_id and event["output"] == {"tag": trigger.run_id}
    for control, own in ((emulator.control, {*runs_a, "a-echo"}), (other, set(runs_b))):
        calls = api_calls(control)
        assert all(call["apiKeyMatched"] for call in calls)  # each account only ever got its own key
        named = {call["path"].rsplit("/", 1)[-1] for call in calls if "/runs/" in call["path"]}
        assert named <= own  # no run of the other account asked for here
        reads = [call for call in calls if "/runs/" in call["path"]]
        assert len(own) <= len(reads) <= 2 * len(own)  # each run read when it ended (and if not yet listed)
    assert not watcher_a.book and not watcher_b.book


async def test_many_waits_cost_a_list_per_look_and_a_read_per_run(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    conn = sim_conn()
    runs = [f"many-{n}" for n in range(40)]
    held(SimHook(conn), "hold", runs)
    waits = waits_for(conn, runs, poll_interval=0.5)
    watcher = RunWatcher.for_settings(settings_of(conn))
    await until(lambda: watcher.sent["list"] >= 2)
    lists_before = len(api_calls(emulator.control, "/hold/runs"))
    emulator.control.release()
    events = await asyncio.gather(*waits)
    assert [e["status"] for e in events] == ["completed"] * len(runs)
    reads = [c for c in api_calls(emulator.control) if "/hold/runs/" in c["path"]]
    lists = api_calls(emulator.control, "/hold/runs")
    assert len(runs) <= len(reads) <= 2 * len(runs)
    # looking at 40 waits costs one list call (one page), not 40 reads
    assert lists_before <= watcher.sent["list"] and len(lists) == watcher.sent["list"]
    assert all(c["query"].get("startDate") for c in lists)


async def test_cancelled_triggers_leave_the_watcher(emulator: EmulatorHandle, sim_conn: ConnFactory) -> None:
    conn = sim_conn()
    runs = [f"gone-{n}" for n in range(5)]
    held(SimHook(conn), "hold", runs)
    waits = waits_for(conn, runs, poll_interval=0.2)
    watcher = RunWatcher.for_settings(settings_of(conn))
    await until(lambda: watcher.sent["list"] >= 1)
    for wait in waits:
        wait.cancel()
    await asyncio.gather(*waits, return_exceptions=True)
    assert not watcher.book
    await until(lambda: watcher._task is None or watcher._task.done())
    calls = len(api_calls(emulator.control))
    assert all(e["status"] == "running" for e in emulator.control.executions())  # the runs go on
    # a new wait after all left starts the watcher again
    emulator.control.release(["gone-0"])
    event = await asyncio.wait_for(
        event_of(SimRunTrigger(sim_conn_id=conn, workflow_id="hold", run_id="gone-0", poll_interval=0.2)), 120
    )
    assert event["status"] == "completed" and len(api_calls(emulator.control)) > calls


async def test_429s_on_the_list_and_a_metered_read_longer_than_a_window_still_end_right(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    conn = sim_conn()
    runs = [f"metered-{n}" for n in range(6)]
    held(SimHook(conn), "hold", runs)
    # one call per operation per 1 s window: the watcher's reads must queue over several windows
    emulator.control.settings(rate_limit_api=1, rate_limit_api_burst=1, rate_limit_window_seconds=1)
    emulator.control.add_fault(
        "/api/v2/workflows/hold/runs",
        status=429,
        times=2,
        headers={"Retry-After": "1"},
        body={"error": {"code": "RATE_LIMITED", "message": "API rate limit exceeded"}},
    )
    emulator.control.release()
    events = await asyncio.gather(
        *(
            event_of(SimRunTrigger(sim_conn_id=conn, workflow_id="hold", run_id=r, poll_interval=0.2))
            for r in runs
        )
    )
    assert [(e["event"], e["status"], e["output"]) for e in events] == [
        (EVENT_RUN_FINISHED, "completed", {"tag": r}) for r in runs
    ]
    limited = [c for c in emulator.control.requests_received() if c.get("rateLimited")]
    calls = api_calls(emulator.control, "")
    assert len(limited) <= 2 + len(calls) // 10  # the two faults; pacing keeps the rest off the limit


async def test_a_hint_past_the_deadline_fires_the_timeout_at_the_deadline(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    conn = sim_conn()
    held(SimHook(conn), "hold", ["hint-1"])
    emulator.control.add_fault(
        "/api/v2/workflows/hold/runs",
        status=429,
        times=100,
        headers={"Retry-After": "3600"},
        body={"error": {"code": "RATE_LIMITED", "message": "API rate limit exceeded"}},
    )
    started = time.monotonic()
    trigger = SimRunTrigger(
        sim_conn_id=conn, workflow_id="hold", run_id="hint-1", poll_interval=0.2, end_time=time.time() + 1.5
    )
    event = await event_of(trigger)
    assert event["event"] == EVENT_TIMEOUT and 1.0 <= time.monotonic() - started < 60
    assert [e["status"] for e in emulator.control.executions()] == [
        "cancelled"
    ]  # the operator's trigger cancels


def test_sync_wait_rides_out_429s_on_reads_beyond_max_retries(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    hook = SimHook(sim_conn(max_retries=0))
    held(hook, "hold", ["sync-1"])
    emulator.control.release(["sync-1"])
    emulator.control.add_fault(
        "/api/v2/workflows/hold/runs/sync-1",
        status=429,
        times=4,
        headers={"Retry-After": "1"},
        body={"error": {"code": "RATE_LIMITED", "message": "API rate limit exceeded"}},
    )
    run = hook.wait_for_run("hold", "sync-1", poll_interval=0.1, timeout=120)
    assert run.status.value == "completed" and run.output == {"tag": "sync-1"}
    statuses = [c["status"] for c in api_calls(emulator.control, "/runs/sync-1")]
    assert statuses == [429, 429, 429, 429, 200]


def test_sync_wait_ends_at_its_deadline_when_sim_says_wait_an_hour(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    hook = SimHook(sim_conn())
    held(hook, "hold", ["sync-2"])
    emulator.control.add_fault(
        "/api/v2/workflows/hold/runs*",
        status=429,
        times=10,
        headers={"Retry-After": "3600"},
        body={"error": {"code": "RATE_LIMITED", "message": "API rate limit exceeded"}},
    )
    started = time.monotonic()
    with pytest.raises(SimWaitTimeoutError) as caught:
        hook.wait_for_run("hold", "sync-2", poll_interval=0.1, timeout=2)
    assert 1.5 <= time.monotonic() - started < 60
    assert "3600 s" in str(caught.value) and "rate limit" in str(caught.value)


def test_sync_waits_in_one_process_share_one_watcher(emulator: EmulatorHandle, sim_conn: ConnFactory) -> None:
    hook = SimHook(sim_conn())
    runs = [f"threaded-{n}" for n in range(10)]
    held(hook, "hold", runs)
    with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
        waits = [
            pool.submit(SimHook(sim_conn()).wait_for_run, "hold", r, poll_interval=0.3, timeout=120)
            for r in runs
        ]
        deadline = time.monotonic() + 60
        while not api_calls(emulator.control, "/hold/runs"):  # the watcher has looked once
            assert time.monotonic() < deadline
            time.sleep(0.02)
        emulator.control.release()
        results = [wait.result(timeout=120) for wait in waits]
    assert [(r.run_id, r.output) for r in results] == [(r, {"tag": r}) for r in runs]
    reads = [c for c in api_calls(emulator.control) if "/hold/runs/" in c["path"]]
    lists = api_calls(emulator.control, "/hold/runs")
    assert len(runs) <= len(reads) <= 2 * len(runs)
    assert len(lists) < len(reads) * 3  # ten waits looked at together, not one read each per poll
