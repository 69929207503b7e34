"""One run watcher per event loop and Sim account: every trigger's wait in a triggerer shares it.

A triggerer may hold a thousand deferred Sim tasks. Polling each run on its own costs a thousand
status reads per interval, far over every Sim plan's quota (CONTRACT.md, "Every v2 call is
metered"). The watcher instead lists each workflow's runs (one call per 100 runs) and reads a run
only when the list shows it ended, or does not show it at all (:mod:`airflow_provider_sim.protocol.watch`);
every call goes through the account's budget (:class:`~airflow_provider_sim.protocol.quota.RequestBudget`)
so it spends what Sim announces instead of meeting 429s.

In Airflow's eyes each trigger stays independent: it registers its run, awaits its own result
under its own deadline, and leaves the watcher when it is cancelled. The watcher holds no state
that must survive a restart: a restarted triggerer registers the runs again from their ids.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import hashlib
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import ClassVar

from airflow_provider_sim.exceptions import SimError, SimNotFoundError, SimWaitTimeoutError
from airflow_provider_sim.hooks.settings import SimSettings
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from airflow_provider_sim.protocol import flows
from airflow_provider_sim.protocol.models import ApiVersion, RunStatus, SimRun
from airflow_provider_sim.protocol.quota import budget_for
from airflow_provider_sim.protocol.turns import TurnBook
from airflow_provider_sim.protocol.watch import Waiter, WatchBook, WatchedRun
from airflow_provider_sim.retry import Deadline, rate_limit_advice

log = logging.getLogger(__name__)
#: the watcher's own calls serve many waiters, each with its own deadline: they wait their turn
NO_DEADLINE = Deadline(None, "the run watcher (each wait has its own deadline)")
#: while starts wait for a slot, runs are listed this often at most, and with no more than half
#: the list budget's refill, so the run that frees a slot is seen soon and other lists still fit
EAGER_LIST_SECONDS = 1.0
EAGER_LIST_SHARE = 0.5
#: most single-run reads in flight at once (the budget paces them further)
MAX_CONCURRENT_READS = 32

Outcome = SimRun | BaseException


class RunWatcher:
    """Learns the state of many runs on one Sim account with few requests; see the module docstring.

    Get the shared one with :meth:`for_settings`; wait with :meth:`wait`.

    :param settings: the account (base URL, key, API version, retry settings).
    """

    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], RunWatcher]]]
    _shared = weakref.WeakKeyDictionary()

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.book = WatchBook()
        self._results: dict[Waiter, asyncio.Future[SimRun]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._list_supported = settings.api_version is ApiVersion.V2
        self._slept_until = 0.0
        self._reads = asyncio.Semaphore(MAX_CONCURRENT_READS)
        #: requests sent, by kind (``list``, ``read``), for logs and benchmarks
        self.sent = {"list": 0, "read": 0}
        #: starts waiting for a slot under the account's cap of runs in flight (run ends free them)
        self.turns = TurnBook()
        self._turns_changed = asyncio.Event()

    @classmethod
    def for_settings(cls, settings: SimSettings) -> RunWatcher:
        """The watcher of this event loop for ``settings``' account (base URL and API key)."""
        of_loop = cls._shared.setdefault(asyncio.get_running_loop(), {})
        key = (settings.base_url, hashlib.sha256(settings.api_key.encode()).hexdigest())
        watcher = of_loop.get(key)
        if watcher is None or watcher.settings.api_version is not settings.api_version:
            watcher = of_loop[key] = cls(settings)
        return watcher

    async def wait(
        self,
        workflow_id: str,
        run_id: str,
        *,
        job_id: str | None = None,
        poll_interval: float = 5.0,
        max_poll_interval: float | None = None,
        return_on_pause: bool = False,
        deadline: Deadline = NO_DEADLINE,
        on_status: Callable[[SimRun], None] | None = None,
    ) -> SimRun:
        """Wait until the run ends (or pauses, with ``return_on_pause``) and return it with its output.

        :raises SimWaitTimeoutError: the deadline passed first (the run goes on).
        :raises SimError: Sim answered an error for this run (e.g. 404) or its workflow.
        """
        if deadline.left() <= 0:
            raise SimWaitTimeoutError(
                f"Sim run {run_id} of workflow {workflow_id!r}: {deadline.source} has passed"
            )
        waiter = Waiter(return_on_pause, poll_interval, max_poll_interval, on_status)
        result: asyncio.Future[SimRun] = asyncio.get_running_loop().create_future()
        watched = self.book.add(workflow_id, run_id, job_id, waiter, self._now())
        self._results[waiter] = result
        self._ensure_running()
        try:
            async with asyncio.timeout(None if deadline.at is None else deadline.left()):
                run = await result
        except TimeoutError:
            raise SimWaitTimeoutError(
                f"Sim run {run_id} of workflow {workflow_id!r} is still "
                f"{(watched.status or RunStatus.UNKNOWN).value} at {deadline.source}{self._held_by_sim()}"
            ) from None
        finally:
            self._results.pop(waiter, None)
            self.book.discard(watched, waiter)
            if not self.book and self._task is not None:
                # nobody waits any more: stop, even amid a long wait for Sim's budget
                self._task.cancel()
                self._task = None
        return run

    def turns_changed(self) -> None:
        """Wake every start waiting for its turn, and the watcher: the book of turns changed."""
        self._turns_changed.set()
        self._turns_changed = asyncio.Event()
        self._wake.set()

    def _eager_list_gap(self) -> float | None:
        """How soon to list again while starts wait for a slot Sim refused them (else ``None``)."""
        if not (self._list_supported and self.turns.full and len(self.turns)):
            return None
        budget = budget_for(self.settings.base_url, self.settings.api_key)
        refill_gap = budget.refill_gap("workflows.runs.list")
        return max(EAGER_LIST_SECONDS, (refill_gap or 0.0) / EAGER_LIST_SHARE)

    async def next_turn_change(self, seconds: float) -> None:
        """Sleep until the book of turns changes, or ``seconds`` pass."""
        changed = self._turns_changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None if math.isinf(seconds) else seconds):
                await changed.wait()

    def _held_by_sim(self) -> str:
        """Why the watcher had not looked lately, if Sim's rate limits were holding it."""
        budget = budget_for(self.settings.base_url, self.settings.api_key)
        held = {op: budget.holdup(op) for op in ("workflows.runs.list", "workflows.runs.read")}
        operation, (seconds, hint) = max(held.items(), key=lambda item: item[1][0])
        if seconds <= 0:
            return ""
        asked = f" (Retry-After {hint:.0f} s)" if hint is not None else ""
        return (
            f"; Sim's rate limit on {operation} holds the next call for {seconds:.0f} s more{asked}: "
            + rate_limit_advice(concurrency=False, hook_bound=False)
        )

    def _ensure_running(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            # a clean context: the loop serves every waiter, not the deadline of the first one
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="sim-run-watcher", context=contextvars.Context()
            )

    async def _run(self) -> None:
        try:
            async with SimAsyncHook.for_settings(self.settings) as hook:
                while self.book:
                    due = self.book.next_due(self._eager_list_gap())
                    if due is None:
                        break
                    at, workflow_id = due
                    if at > self._now() and not await self._idle(at - self._now()):
                        continue  # a new wait came in: it may be due sooner
                    self._slept_until = max(self._slept_until, at)
                    await self._look(hook, workflow_id)
                self._task = None  # before closing: a wait registered from now on starts a new loop
        except Exception as err:  # never leave waiters hanging on a watcher that died
            log.exception("The Sim run watcher stopped")
            for watched in self.book.runs():
                self._settle(watched, err)

    def _now(self) -> float:
        """Epoch seconds, never before the time the watcher last slept until (a sleep that ended is
        taken as that time reached, so the book agrees with the sleeps, also under a test's clock)."""
        return max(time.time(), self._slept_until)

    async def _idle(self, seconds: float) -> bool:
        """Sleep ``seconds``; return False if a new wait registered first (it may be due sooner)."""
        self._wake.clear()
        sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        return sleeper.done() and not sleeper.cancelled()

    async def _look(self, hook: SimAsyncHook, workflow_id: str) -> None:
        """Look at every waited-for run of ``workflow_id`` that is due (and, listing, at the others)."""
        now = self._now()
        listed: set[str] | None = None
        to_read: list[WatchedRun]
        if self._list_supported and any(w.job_id is None for w in self.book.runs(workflow_id)):
            try:
                listed, to_read = await self._sweep(hook, workflow_id)
            except SimNotFoundError as err:
                if "workflow" in str(err).lower():
                    self._fail_workflow(workflow_id, err)
                    return
                log.warning("Sim has no run list here (%s); reading each run on its own", err)
                self._list_supported = False
                to_read = []
            except SimError as err:
                self._fail_workflow(workflow_id, err)
                return
        else:
            to_read = []
        seen = listed or set()
        to_read += [w for w in self.book.due_unlisted(workflow_id, seen, now) if w not in to_read]
        await asyncio.gather(*(self._read(hook, watched) for watched in to_read))

    async def _sweep(self, hook: SimAsyncHook, workflow_id: str) -> tuple[set[str], list[WatchedRun]]:
        """List the workflow's runs from the oldest waited-for one until every waited-for run is seen."""
        waited = {w.run_id for w in self.book.runs(workflow_id) if w.job_id is None}
        start = self.book.list_start(workflow_id)
        listed: set[str] = set()
        ended: list[WatchedRun] = []
        cursor: str | None = None
        while True:
            self.sent["list"] += 1
            page = await hook._drive(
                flows.list_runs(workflow_id, start_date=start, cursor=cursor), NO_DEADLINE
            )
            listed.update(run.run_id for run in page.runs)
            ended += self.book.take_listed(workflow_id, page.runs, self._now())
            cursor = page.next_cursor
            if cursor is None or waited <= listed:
                return listed, ended

    async def _read(self, hook: SimAsyncHook, watched: WatchedRun) -> None:
        async with self._reads:
            if not watched.waiters:  # every waiter left while this read waited its turn
                return
            self.sent["read"] += 1
            try:
                run = await hook._drive(
                    flows.get_run(
                        self.settings.api_version, watched.workflow_id, watched.run_id, job_id=watched.job_id
                    ),
                    NO_DEADLINE,
                )
            except SimError as err:
                self._settle(watched, err)
                return
        self.book.take_read(watched, run, self._now())
        if run.status.is_terminal:
            self.turns.run_ended()
            self.turns_changed()
        for waiter in list(watched.waiters):
            if watched.finished_for(waiter, run.status):
                self._resolve(watched, waiter, run)

    def _fail_workflow(self, workflow_id: str, error: SimError) -> None:
        for watched in self.book.runs(workflow_id):
            self._settle(watched, error)

    def _settle(self, watched: WatchedRun, outcome: BaseException) -> None:
        for waiter in list(watched.waiters):
            self._resolve(watched, waiter, outcome)

    def _resolve(self, watched: WatchedRun, waiter: Waiter, outcome: Outcome) -> None:
        self.book.discard(watched, waiter)  # its wait is over: look no more on its behalf
        result = self._results.get(waiter)
        if result is None or result.done():
            return
        if isinstance(outcome, BaseException):
            result.set_exception(outcome)
        else:
            result.set_result(outcome)


class _LoopThread:
    """A daemon thread running an event loop: where the sync hook's waits share a watcher."""

    _lock = threading.Lock()
    _current: _LoopThread | None = None

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-run-watcher", daemon=True)
        self.thread.start()

    @classmethod
    def get(cls) -> _LoopThread:
        """This process's loop thread (a forked child starts its own)."""
        with cls._lock:
            current = cls._current
            if current is None or current.pid != os.getpid() or not current.thread.is_alive():
                current = cls._current = cls()
            return current


def wait_in_process(
    settings: SimSettings,
    workflow_id: str,
    run_id: str,
    *,
    deadline: Deadline,
    job_id: str | None = None,
    poll_interval: float = 5.0,
    max_poll_interval: float | None = None,
    return_on_pause: bool = True,
    on_status: Callable[[SimRun], None] | None = None,
) -> SimRun:
    """The sync hook's wait: through the process's shared watcher for the account, which runs on a
    daemon thread's event loop, so every wait in one worker process shares its list calls and budget.

    :raises SimWaitTimeoutError: the deadline passed first (the run goes on).
    """

    async def waiting() -> SimRun:
        return await RunWatcher.for_settings(settings).wait(
            workflow_id,
            run_id,
            job_id=job_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            return_on_pause=return_on_pause,
            deadline=deadline,
            on_status=on_status,
        )

    future = asyncio.run_coroutine_threadsafe(waiting(), _LoopThread.get().loop)
    try:
        while True:
            try:  # wake now and then, so a signal (task timeout, SIGTERM) is handled promptly
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                continue
    except BaseException:
        future.cancel()  # the wait leaves the watcher
        raise
