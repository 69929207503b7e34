"""The run watcher's book: which runs are waited for, what Sim last said of each, what to ask next.

No I/O (the asyncio driver is :mod:`airflow_provider_sim.hooks.run_watcher`). Like a Kubernetes
shared informer, one book per process and Sim account serves every waiter: on v2 one list request
(``GET /api/v2/workflows/{id}/runs``, up to 100 runs a page, from the oldest waited-for run's
start) tells the state of every waited-for run of a workflow; a single run is read only for what
the list cannot tell: the output or error of a run that ended, the pause of a paused one, and a
run the list does not show (queued, or started before the list's window).

A workflow is listed when one of its runs is due (:func:`~airflow_provider_sim.protocol.quota.poll_delay`
of that run); v1 accounts, which have no list, and legacy jobs read each due run on its own.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from airflow_provider_sim.protocol.models import RunStatus, SimRun
from airflow_provider_sim.protocol.quota import poll_delay

#: at most this long after a run is first waited for, the watcher looks at it
FIRST_LOOK_SECONDS = 1.0
#: how far before a waiter came the list looks for a run it has not seen yet (clock skew, queueing)
LIST_LOOKBACK = timedelta(minutes=2)


@dataclass(eq=False)
class Waiter:
    """One wait for one run (a trigger, or a wait in a worker); it ends with exactly one result.

    :param return_on_pause: a pause ends this wait (else only a terminal state does).
    :param on_status: called with what Sim said of the run whenever its status changes.
    """

    return_on_pause: bool
    poll_interval: float
    max_poll_interval: float | None = None
    on_status: Callable[[SimRun], None] | None = None


@dataclass(eq=False)
class WatchedRun:
    """What the book knows of one run, and who waits for it.

    :param first_due: when the first look is due (epoch); spread per run so waiters registered
        together are not all due at one instant.
    """

    workflow_id: str
    run_id: str
    job_id: str | None
    registered: float
    first_due: float
    waiters: set[Waiter] = field(default_factory=set)
    status: RunStatus | None = None
    started_at: datetime | None = None
    last_look: float | None = None  # epoch of the last list page or read that showed it

    def due_at(self) -> float:
        """When this run should next be looked at: its fastest waiter's interval after the last look,
        slower as the run grows old."""
        if self.last_look is None:
            return self.first_due
        start = self.started_at.timestamp() if self.started_at else self.registered
        return self.last_look + min(
            poll_delay(w.poll_interval, self.last_look - start, w.max_poll_interval) for w in self.waiters
        )

    def finished_for(self, waiter: Waiter, status: RunStatus) -> bool:
        """Whether ``status`` ends ``waiter``'s wait."""
        return status.is_terminal or (status is RunStatus.PAUSED and waiter.return_on_pause)

    def wants_read(self, status: RunStatus) -> bool:
        """Whether a run the list shows with ``status`` must be read for some waiter's result."""
        return any(self.finished_for(w, status) for w in self.waiters)


def first_share(run_id: str) -> float:
    """A share in [0.5, 1) fixed by the run id, for spreading first looks."""
    digest = hashlib.sha256(run_id.encode()).digest()
    return 0.5 + int.from_bytes(digest[:4], "big") / 2**33


class WatchBook:
    """The runs waited for in one process on one Sim account."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], WatchedRun] = {}
        self._listed_at: dict[str, float] = {}  # epoch of each workflow's last list page

    def __bool__(self) -> bool:
        return bool(self._runs)

    def add(
        self, workflow_id: str, run_id: str, job_id: str | None, waiter: Waiter, now: float
    ) -> WatchedRun:
        """Register ``waiter`` for a run (several waiters may share one run)."""
        key = (workflow_id, job_id or run_id)
        watched = self._runs.get(key)
        if watched is None:
            # soon, but not at once: triggers deferred together are then seen by one list call
            first_due = now + min(waiter.poll_interval, FIRST_LOOK_SECONDS) * first_share(run_id)
            watched = self._runs[key] = WatchedRun(workflow_id, run_id, job_id, now, first_due)
        watched.waiters.add(waiter)
        return watched

    def discard(self, watched: WatchedRun, waiter: Waiter) -> None:
        """Forget ``waiter``; the run is forgotten with its last waiter."""
        watched.waiters.discard(waiter)
        key = (watched.workflow_id, watched.job_id or watched.run_id)
        if not watched.waiters and self._runs.get(key) is watched:
            del self._runs[key]
            if not self.runs(watched.workflow_id):
                self._listed_at.pop(watched.workflow_id, None)

    def runs(self, workflow_id: str | None = None) -> list[WatchedRun]:
        """The runs waited for (of one workflow)."""
        return [w for w in self._runs.values() if workflow_id is None or w.workflow_id == workflow_id]

    def next_due(self, list_gap: float | None = None) -> tuple[float, str] | None:
        """The earliest due time and its workflow, or ``None`` when nothing is waited for.

        ``list_gap``: also list a workflow this soon after its last list, whatever its waiters ask
        (set while starts wait for a slot: the sooner a run's end is seen, the sooner the next start
        goes).
        """
        due = [(watched.due_at(), watched.workflow_id) for watched in self._runs.values()]
        if list_gap is not None:
            due += [(listed_at + list_gap, workflow_id) for workflow_id, listed_at in self._listed_at.items()]
        return min(due) if due else None

    def list_start(self, workflow_id: str) -> datetime:
        """Where a list of ``workflow_id``'s runs must start to show every waited-for run it can."""
        starts = [
            w.started_at or datetime.fromtimestamp(w.registered, UTC) - LIST_LOOKBACK
            for w in self.runs(workflow_id)
            if w.job_id is None
        ]
        return min(starts)

    def take_listed(self, workflow_id: str, listed: Iterable[SimRun], now: float) -> list[WatchedRun]:
        """Record a list page; return the waited-for runs it shows in a state some waiter ends on."""
        self._listed_at[workflow_id] = now
        ended = []
        for run in listed:
            watched = self._runs.get((workflow_id, run.run_id))
            if watched is None or watched.job_id is not None:
                continue
            self.take_read(watched, run, now)
            if watched.wants_read(run.status):
                ended.append(watched)
        return ended

    def take_read(self, watched: WatchedRun, run: SimRun, now: float) -> None:
        """Record what a list item or a read said of ``watched``; tell its waiters of a new status."""
        if run.status is not watched.status:
            for waiter in list(watched.waiters):
                if waiter.on_status is not None:
                    waiter.on_status(run)
        watched.status = run.status
        watched.last_look = now
        if run.started_at and watched.started_at is None:
            with contextlib.suppress(ValueError):
                watched.started_at = datetime.fromisoformat(run.started_at.replace("Z", "+00:00"))

    def due_unlisted(self, workflow_id: str, listed: set[str], now: float) -> list[WatchedRun]:
        """Waited-for runs a full list did not show whose look is due: read them one by one."""
        return [w for w in self.runs(workflow_id) if w.run_id not in listed and w.due_at() <= now]
