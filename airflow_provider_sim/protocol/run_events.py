"""Which ended runs of one workflow an event trigger has reported, and where its next list starts.

No I/O (the driver is :class:`~airflow_provider_sim.triggers.run_events.SimRunEndedTrigger`). Sim's
run list (``GET /api/v2/workflows/{id}/runs``) filters and orders by *start* time only, so to see
every run end, the list starts at the oldest run still open (queued, running, paused), and never
later than a lookback (default :data:`~airflow_provider_sim.protocol.watch.LIST_LOOKBACK`) before
the newest start seen: a run is listed only once it has begun, its start may be when it was queued,
and Sim's clock need not agree with ours. The ledger
remembers the ended runs it has reported that started inside that window, so a run is reported once
however often the window lists it; older ones are forgotten as the window moves on.

Its state (:meth:`RunEventLedger.to_state`) is a small JSON object the trigger stores in Airflow
after reporting, so a restarted trigger starts where the last one stopped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_sim.protocol.models import RunStatus, SimRun
from airflow_provider_sim.protocol.watch import LIST_LOOKBACK

#: the end states an event trigger reports unless told otherwise
ENDED_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
#: the ``event`` value of the payload (and so of the Asset event's ``extra["payload"]``)
EVENT_RUN_ENDED = "sim_run_ended"
#: the version of :meth:`RunEventLedger.to_state`'s shape
STATE_VERSION = 1
#: the share of the list operation's sustained rate one workflow's list may use
LIST_RATE_SHARE = 0.5


def list_pause(interval: float, pages: int, refill_gap: float | None) -> float:
    """Seconds until a workflow's next list: ``interval``, longer when the last list took so many
    pages that, at that pace, it would use more than :data:`LIST_RATE_SHARE` of what Sim's refill of
    ``workflows.runs.list`` sustains (one call per ``refill_gap`` seconds; ``None`` while unknown),
    so the run watcher and the other workflows keep the rest."""
    return max(interval, pages * refill_gap / LIST_RATE_SHARE if refill_gap is not None else 0.0)


def parse_instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant as Sim writes it (``...Z``), as an aware datetime; ``None`` if unreadable."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def end_states(names: Iterable[str]) -> tuple[RunStatus, ...]:
    """The end states named (``completed``, ``failed``, ``cancelled``).

    :raises ValueError: a name that is not an end state (the message lists the valid ones).
    """
    valid = {status.value: status for status in ENDED_STATUSES}
    chosen = []
    for name in names:
        if name not in valid:
            raise ValueError(f"{name!r} is not an end state of a Sim run; use some of {sorted(valid)}")
        chosen.append(valid[name])
    if not chosen:
        raise ValueError(f"give at least one end state of a Sim run: {sorted(valid)}")
    return tuple(dict.fromkeys(chosen))


def run_ended_payload(run: SimRun) -> dict[str, Any]:
    """The trigger event of one ended run: what a DAG scheduled on the Asset reads from the event's
    ``extra["payload"]`` (JSON only). Sim's list carries no output or error: read them with
    ``SimHook.get_run`` where the DAG needs them."""
    return {
        "event": EVENT_RUN_ENDED,
        "workflow_id": run.workflow_id,
        "run_id": run.run_id,
        "status": run.status.value,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_ms": run.duration_ms,
        "cost": run.cost,
        "trigger": run.trigger,
    }


@dataclass
class RunEventLedger:
    """Where the next list of one workflow's runs starts, and which ended runs since then were reported.

    :param since: the list's ``startDate``: no run that started earlier is reported.
    :param reported: run id → start time (ISO) of the ended runs reported that started at or after ``since``.
    :param statuses: the end states to report (others are recorded as seen, not reported).
    :param lookback: how long before the newest start seen a run may still first appear in the list
        (it is listed from when it begins; its start may be its enqueue time, and clocks differ).
    :param baseline: the first list only records the runs that have ended already (a new trigger
        reports runs that end from now on); ``False`` reports every ended run since ``since``.
    """

    since: datetime
    statuses: tuple[RunStatus, ...] = ENDED_STATUSES
    reported: dict[str, str] = field(default_factory=dict)
    lookback: timedelta = LIST_LOOKBACK
    baseline: bool = False

    @classmethod
    def starting(
        cls,
        now: datetime,
        statuses: Sequence[RunStatus],
        since: datetime | None,
        lookback: timedelta = LIST_LOOKBACK,
    ) -> RunEventLedger:
        """A fresh ledger: from ``since`` (reporting the runs that ended since then), else from now."""
        if since is not None:
            return cls(since.astimezone(UTC), tuple(statuses), lookback=lookback)
        return cls(now.astimezone(UTC) - lookback, tuple(statuses), lookback=lookback, baseline=True)

    @classmethod
    def from_state(
        cls, state: object, statuses: Sequence[RunStatus], lookback: timedelta = LIST_LOOKBACK
    ) -> RunEventLedger | None:
        """The ledger :meth:`to_state` stored, or ``None`` if ``state`` is missing or not one."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            return None
        since = parse_instant(state.get("since"))
        reported = state.get("reported")
        if since is None or not isinstance(reported, dict):
            return None
        return cls(since, tuple(statuses), {str(k): str(v) for k, v in reported.items()}, lookback)

    def to_state(self) -> dict[str, Any]:
        """JSON to store in Airflow; :meth:`from_state` reads it back."""
        return {"version": STATE_VERSION, "since": self.since.isoformat(), "reported": dict(self.reported)}

    def take(self, listed: Sequence[SimRun], now: datetime) -> list[SimRun]:
        """Record one complete list of the runs started since :attr:`since` (every page); return the
        ended runs to report, oldest start first, and move :attr:`since` on."""
        report: list[SimRun] = []
        open_starts: list[datetime] = []
        newest: datetime | None = None
        for run in listed:
            started = parse_instant(run.started_at) or self.since
            if started < self.since:
                continue  # a list shared with a trigger that starts earlier
            newest = started if newest is None else max(newest, started)
            if not run.status.is_terminal:
                open_starts.append(started)
            elif run.run_id not in self.reported:
                self.reported[run.run_id] = started.isoformat()
                if run.status in self.statuses and not self.baseline:
                    report.append(run)
        self.baseline = False
        now = now.astimezone(UTC)
        window_start = (now if newest is None else min(newest, now)) - self.lookback
        self.since = max(self.since, min([window_start, *open_starts]))
        self.reported = {
            run_id: started
            for run_id, started in self.reported.items()
            if (parse_instant(started) or self.since) >= self.since
        }
        report.sort(key=lambda run: (run.started_at or "", run.run_id))
        return report
