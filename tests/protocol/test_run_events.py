"""The run-event ledger: each ended run reported once, none missed, through restarts (its stored state)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_sim.protocol.models import RunError, RunStatus, SimRun
from airflow_provider_sim.protocol.run_events import (
    ENDED_STATUSES,
    EVENT_RUN_ENDED,
    RunEventLedger,
    end_states,
    list_pause,
    run_ended_payload,
)
from airflow_provider_sim.protocol.watch import LIST_LOOKBACK

T0 = datetime(2026, 8, 6, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(run_id: str, started_minute: float, status: RunStatus = RunStatus.COMPLETED) -> SimRun:
    started = at(started_minute).isoformat().replace("+00:00", "Z")
    return SimRun(run_id=run_id, workflow_id="wf", status=status, started_at=started)


def ids(runs: list[SimRun]) -> list[str]:
    return [r.run_id for r in runs]


def test_a_new_ledger_reports_only_runs_that_end_after_its_first_list() -> None:
    ledger = RunEventLedger.starting(at(10), ENDED_STATUSES, since=None)
    assert ledger.since == at(10) - LIST_LOOKBACK
    assert ledger.take([run("old", 9), run("going", 9.5, RunStatus.RUNNING)], at(10)) == []

    assert ids(ledger.take([run("old", 9), run("going", 9.5), run("new", 10.5)], at(11))) == ["going", "new"]
    assert ledger.take([run("old", 9), run("going", 9.5), run("new", 10.5)], at(11.5)) == []


def test_since_reports_the_runs_that_ended_since_then_and_none_before() -> None:
    ledger = RunEventLedger.starting(at(60), ENDED_STATUSES, since=at(5))
    listed = [run("before", 4), run("b", 30), run("a", 6, RunStatus.FAILED)]
    assert ids(ledger.take(listed, at(60))) == ["a", "b"]  # oldest start first


def test_a_run_still_open_holds_the_window_until_it_ends_then_the_window_moves_on() -> None:
    ledger = RunEventLedger(since=at(0))
    assert ledger.take([run("paused", 1, RunStatus.PAUSED), run("done", 20)], at(30)) == [run("done", 20)]
    assert ledger.since == at(1)  # the next list must still show the paused run

    assert ids(ledger.take([run("paused", 1), run("done", 20)], at(40))) == ["paused"]
    assert ledger.since == at(20) - LIST_LOOKBACK  # lookback from the newest start, not from now
    assert set(ledger.reported) == {"done"}  # runs before the window are forgotten


def test_an_idle_workflow_moves_the_window_to_now_less_the_lookback() -> None:
    ledger = RunEventLedger(since=at(0))
    assert ledger.take([], at(30)) == []
    assert ledger.since == at(30) - LIST_LOOKBACK


def test_the_window_never_moves_back() -> None:
    ledger = RunEventLedger(since=at(10))
    ledger.take([run("skewed", 10.5, RunStatus.RUNNING)], at(9))  # our clock behind Sim's
    assert ledger.since == at(10)


def test_runs_listed_before_since_are_not_reported() -> None:
    ledger = RunEventLedger(since=at(10))
    assert ledger.take([run("earlier", 5), run("later", 11)], at(12)) == [run("later", 11)]


def test_only_the_chosen_end_states_are_reported_and_each_run_is_looked_at_once() -> None:
    ledger = RunEventLedger(since=at(0), statuses=(RunStatus.FAILED,))
    listed = [run("ok", 1), run("bad", 2, RunStatus.FAILED), run("stopped", 3, RunStatus.CANCELLED)]
    assert ids(ledger.take(listed, at(4))) == ["bad"]
    assert set(ledger.reported) == {"ok", "bad", "stopped"}
    assert ledger.take(listed, at(5)) == []


def test_a_ledger_restored_from_its_state_goes_on_where_the_stored_one_stopped() -> None:
    first = RunEventLedger(since=at(0))
    assert ids(first.take([run("r1", 1), run("r2", 2, RunStatus.RUNNING)], at(3))) == ["r1"]

    state = first.to_state()
    restarted = RunEventLedger.from_state(state, ENDED_STATUSES)
    assert restarted is not None and restarted.since == first.since
    # r2 ended and r3 came and went while the trigger was down: both reported, r1 not again
    assert ids(restarted.take([run("r1", 1), run("r2", 2), run("r3", 4)], at(9))) == ["r2", "r3"]


@pytest.mark.parametrize(
    "state",
    [
        None,
        "x",
        {},
        {"version": 99, "since": T0.isoformat(), "reported": {}},
        {"version": 1, "since": "soon"},
    ],
)
def test_a_missing_or_foreign_state_restores_nothing(state: object) -> None:
    assert RunEventLedger.from_state(state, ENDED_STATUSES) is None


def test_end_states_take_only_end_states() -> None:
    assert end_states(["failed", "completed", "failed"]) == (RunStatus.FAILED, RunStatus.COMPLETED)
    with pytest.raises(ValueError, match="'paused' is not an end state"):
        end_states(["paused"])
    with pytest.raises(ValueError, match="at least one"):
        end_states([])


def test_the_payload_carries_the_runs_id_status_times_cost_and_trigger() -> None:
    ended = SimRun(
        run_id="r1",
        workflow_id="wf",
        status=RunStatus.FAILED,
        started_at="2026-08-06T12:00:00.000Z",
        ended_at="2026-08-06T12:00:02.500Z",
        duration_ms=2500,
        cost=0.004,
        error=RunError("boom", "EXECUTION_FAILED"),
        trigger="schedule",
    )
    assert run_ended_payload(ended) == {
        "event": EVENT_RUN_ENDED,
        "workflow_id": "wf",
        "run_id": "r1",
        "status": "failed",
        "started_at": "2026-08-06T12:00:00.000Z",
        "ended_at": "2026-08-06T12:00:02.500Z",
        "duration_ms": 2500,
        "cost": 0.004,
        "trigger": "schedule",
    }


def test_lists_keep_to_half_the_rate_sims_refill_sustains() -> None:
    assert list_pause(5.0, 1, None) == 5.0  # nothing announced yet: the interval
    assert list_pause(5.0, 1, 0.6) == 5.0  # pro: 100 a minute; one page every 5 s is well within
    assert list_pause(1.0, 3, 2.0) == 12.0  # free: 30 a minute; three pages at most every 12 s
