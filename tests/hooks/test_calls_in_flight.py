"""A call the budget counted as sent but that never got its answer (cancelled, interrupted) must stop
counting: left counted, it would hold every later call of its operation (a triggerer cancels the run
watcher's call whenever the last trigger leaves it)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from airflow_provider_sim.protocol.quota import RequestBudget, budget_for
from tests.hooks.conftest import ConnFactory

READ = "workflows.runs.read"


class Interrupted(Exception):
    """What a signal handler raises in the middle of a call (as Airflow's task timeout does)."""


def budget_of(emulator: EmulatorHandle) -> RequestBudget:
    return budget_for(emulator.base_url, emulator.api_key)


def a_held_read(emulator: EmulatorHandle, sim_conn: ConnFactory) -> tuple[str, str]:
    """A connection, and a run whose next status read the emulator answers only after 60 s."""
    conn = sim_conn(max_retries=0)
    run = SimHook(conn).execute_workflow("hold", {"tag": 1}, async_execution=True)
    emulator.control.add_fault(f"/api/v2/workflows/hold/runs/{run.run_id}", kind="delay", seconds=60)
    return conn, run.run_id


def read_received(emulator: EmulatorHandle, run_id: str) -> bool:
    """Whether the emulator has the status read of ``run_id`` (held by the fault, unanswered)."""
    path = f"/api/v2/workflows/hold/runs/{run_id}"
    return any(r["path"] == path for r in emulator.control.requests_received())


async def test_a_read_cancelled_while_sent_holds_no_later_read(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    conn, run_id = a_held_read(emulator, sim_conn)
    budget = budget_of(emulator)
    async with SimAsyncHook(conn) as hook:
        call = asyncio.ensure_future(hook.get_run("hold", run_id))
        for _ in range(3000):  # bounded: until the read is at the emulator, which holds it
            if read_received(emulator, run_id) or call.done():
                break
            await asyncio.sleep(0.01)
        assert not call.done() and budget.delay(READ) > 0, "the read was never counted in flight"
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        assert budget.delay(READ) == 0.0
        emulator.control.release()
        assert (await asyncio.wait_for(hook.get_run("hold", run_id), 30)).run_id == run_id


@contextlib.contextmanager
def interrupt_once_sent(emulator: EmulatorHandle, run_id: str) -> Iterator[None]:
    """Raise :class:`Interrupted` in this thread once the emulator holds the read of ``run_id``."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        if read_received(emulator, run_id):
            raise Interrupted
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # not there yet: look again

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_sync_read_interrupted_while_sent_holds_no_later_read(
    emulator: EmulatorHandle, sim_conn: ConnFactory
) -> None:
    conn, run_id = a_held_read(emulator, sim_conn)
    budget = budget_of(emulator)
    hook = SimHook(conn)
    with interrupt_once_sent(emulator, run_id), pytest.raises(Interrupted):
        hook.get_run("hold", run_id)
    assert budget.delay(READ) == 0.0
    emulator.control.release()
    assert hook.get_run("hold", run_id).run_id == run_id
