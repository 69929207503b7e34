"""Runs and the one table of status changes a run may make.

A run is one execution, whichever API generation started it: v1 ``executionId`` and v2 ``runId``
name the same thing and share one id space, so an id claimed through one generation conflicts in
the other. Every status change goes through :meth:`Run.transition`, which consults
:data:`TRANSITIONS` and raises :class:`IllegalTransition` for anything else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

ApiVersion = Literal["v1", "v2"]
RunMode = Literal["sync", "async", "stream"]


class RunStatus(StrEnum):
    """A run's status, in Sim's vocabulary (v2 ``status`` / v1 execution ``status``)."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for ``completed``, ``failed`` and ``cancelled``: nothing can happen to the run after."""
        return not TRANSITIONS[self]


#: Status → statuses it may move to. Terminal statuses map to nothing.
TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.PAUSED, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    RunStatus.PAUSED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}

#: Statuses a run may be created in: async runs wait in the queue, sync and streamed runs start at once.
INITIAL_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


class IllegalTransition(RuntimeError):
    """A status change the table does not allow (a bug in the emulator, never a client error)."""

    def __init__(self, run_id: str, current: RunStatus, new: RunStatus) -> None:
        super().__init__(f"run {run_id}: illegal transition {current.value} -> {new.value}")
        self.current = current
        self.new = new


class RunIdConflict(KeyError):
    """The id is already claimed by another run (or a resume attempt)."""


def check_transition(run_id: str, current: RunStatus, new: RunStatus) -> None:
    """Raise unless ``current → new`` is in :data:`TRANSITIONS`.

    :raises IllegalTransition: for any change the table does not list.
    """
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(run_id, current, new)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """Format a timestamp the way Sim does (``2026-08-01T12:00:00.123Z``), passing ``None`` through."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class PauseInfo:
    """Where and why a paused run waits."""

    context_id: str
    block_id: str
    paused_at: datetime
    kind: Literal["human", "time"] = "human"
    resumed_count: int = 0


@dataclass
class Run:
    """One execution and everything the API reports about it.

    ``started_at`` is the creation time (for an async run, the enqueue time, as Sim reports it).
    The fields from ``task`` on are runtime plumbing, not reported state.
    """

    id: str
    workflow_id: str
    api_version: ApiVersion
    mode: RunMode
    input: Any
    client_chosen_id: bool
    status: RunStatus
    base_url: str
    job_id: str | None = None
    timeout_seconds: float | None = None
    started_at: datetime = field(default_factory=utcnow)
    ended_at: datetime | None = None
    output: Any = None
    block_outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    #: the workflow reported failure (``success: false``) instead of throwing
    soft_failure: bool = False
    #: the failure is pinned to a block (v2 execute then says BLOCK_EXECUTION_FAILED)
    error_block_attributed: bool = False
    pause: PauseInfo | None = None
    #: every pause so far, in order, with the pausing block's output (Sim's pause points)
    pause_points: list[tuple[PauseInfo, Any]] = field(default_factory=list)
    cost: float | None = None
    resume_attempts: list[str] = field(default_factory=list)
    #: the ``x-request-id`` of the execute that started the run (a v1 job's ``correlation``)
    request_id: str = ""
    #: v1 execution-status reads still to answer ``running`` (``EmulatorSettings.v1_status_lag_reads``)
    lagging_reads: int = 0
    #: the run has begun executing (Sim writes its log row then, so the run list shows it)
    began: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    #: set while the run is paused or finished, cleared while it is queued or running
    settled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    #: events for a streamed response: ("chunk" | "stream_error", blockId, text), then ("end", None, None)
    events: asyncio.Queue[tuple[str, str | None, str | None]] | None = field(default=None, repr=False)
    #: for a run of a holding workflow: resolved by a release, with ``None`` or a failure message
    release: asyncio.Future[str | None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.status not in INITIAL_STATUSES:
            raise ValueError(f"run {self.id}: a run cannot start as {self.status.value}")
        self.began = self.status is RunStatus.RUNNING

    @property
    def was_paused(self) -> bool:
        """The run has paused at some point (a later resume of it is "not resumable", not "not found")."""
        return bool(self.pause_points)

    @property
    def in_flight(self) -> bool:
        """True while the run is queued or running (what the per-account concurrency cap counts)."""
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    def transition(self, new: RunStatus) -> None:
        """Move to ``new`` if the table allows it, keeping ``settled`` and ``ended_at`` in step.

        :raises IllegalTransition: if the table does not allow the change.
        """
        check_transition(self.id, self.status, new)
        self.status = new
        if new is RunStatus.RUNNING:
            self.began = True
        if new.is_terminal:
            self.ended_at = utcnow()
        if new.is_terminal or new is RunStatus.PAUSED:
            self.settled.set()
        else:
            self.settled.clear()

    @property
    def ended_or_paused_at(self) -> datetime | None:
        """When the run ended, or paused (what Sim reports as a paused sync run's end)."""
        return self.ended_at or (self.pause.paused_at if self.pause is not None else None)

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to end (or to the pause), or ``None`` while the run goes on."""
        end = self.ended_or_paused_at
        return None if end is None else int((end - self.started_at).total_seconds() * 1000)


class RunStore:
    """All runs since the last reset, by id, by v1 job id and in start order.

    Ids are claimed for good: a finished run keeps its id, and resume-attempt ids are claimed too.
    """

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._aliases: dict[str, str] = {}
        self._jobs: dict[str, str] = {}
        self._order: list[Run] = []

    def is_claimed(self, run_id: str) -> bool:
        """True if ``run_id`` names a run or a resume attempt."""
        return run_id in self._runs or run_id in self._aliases

    def new_id(self) -> str:
        """Return a fresh server-generated id (a UUID) that no run has claimed."""
        while True:
            candidate = str(uuid.uuid4())
            if not self.is_claimed(candidate) and candidate not in self._jobs:
                return candidate

    def add(self, run: Run) -> None:
        """Store a new run, claiming its id (and job id) for good.

        :raises RunIdConflict: if the id is already claimed.
        """
        if self.is_claimed(run.id):
            raise RunIdConflict(run.id)
        self._runs[run.id] = run
        self._order.append(run)
        if run.job_id is not None:
            self._jobs[run.job_id] = run.id

    def add_alias(self, alias: str, run_id: str) -> None:
        """Claim ``alias`` (a resume-attempt id) as another name for ``run_id``.

        :raises RunIdConflict: if the alias is already claimed.
        """
        if self.is_claimed(alias):
            raise RunIdConflict(alias)
        self._aliases[alias] = run_id

    def get(self, run_id: str) -> Run | None:
        """Return the run named by ``run_id``; a resume attempt's id names none (Sim answers 404)."""
        return self._runs.get(run_id)

    def by_job(self, job_id: str) -> Run | None:
        """Return the async run queued under v1 ``job_id``."""
        run_id = self._jobs.get(job_id)
        return None if run_id is None else self._runs.get(run_id)

    def all(self) -> list[Run]:
        """Return every run in start order."""
        return list(self._order)

    def in_flight(self) -> int:
        """How many runs are queued or running, whichever API generation started them."""
        return sum(1 for run in self._order if run.in_flight)

    def clear(self) -> list[Run]:
        """Forget everything and return the runs that were stored (so the caller can stop them)."""
        runs = self._order
        self._runs, self._aliases, self._jobs, self._order = {}, {}, {}, []
        return runs
