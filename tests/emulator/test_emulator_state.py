"""The run-status table, tested directly: every allowed change works, everything else raises."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_sim.emulator.state import (
    INITIAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    Run,
    RunIdConflict,
    RunStatus,
    RunStore,
    check_transition,
)

ALLOWED = {
    (RunStatus.QUEUED, RunStatus.RUNNING),
    (RunStatus.QUEUED, RunStatus.CANCELLED),
    (RunStatus.RUNNING, RunStatus.PAUSED),
    (RunStatus.RUNNING, RunStatus.COMPLETED),
    (RunStatus.RUNNING, RunStatus.FAILED),
    (RunStatus.RUNNING, RunStatus.CANCELLED),
    (RunStatus.PAUSED, RunStatus.RUNNING),
    (RunStatus.PAUSED, RunStatus.CANCELLED),
}


def make_run(status: RunStatus = RunStatus.RUNNING, run_id: str = "run-1", job_id: str | None = None) -> Run:
    return Run(
        id=run_id,
        workflow_id="echo",
        api_version="v2",
        mode="sync",
        input={},
        client_chosen_id=False,
        status=status,
        base_url="http://sim.test",
        job_id=job_id,
    )


def test_table_lists_exactly_the_allowed_changes() -> None:
    table = {(current, new) for current, targets in TRANSITIONS.items() for new in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "new"), sorted(itertools.product(RunStatus, RunStatus)))
def test_check_transition_follows_the_table(current: RunStatus, new: RunStatus) -> None:
    if (current, new) in ALLOWED:
        check_transition("r", current, new)
    else:
        with pytest.raises(IllegalTransition, match=f"{current.value} -> {new.value}"):
            check_transition("r", current, new)


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED])
def test_terminal_statuses_allow_nothing(status: RunStatus) -> None:
    assert status.is_terminal
    assert not TRANSITIONS[status]


def test_runs_start_queued_or_running_only() -> None:
    assert {RunStatus.QUEUED, RunStatus.RUNNING} == INITIAL_STATUSES
    for status in set(RunStatus) - INITIAL_STATUSES:
        with pytest.raises(ValueError, match="cannot start"):
            make_run(status)


def test_run_transition_tracks_settled_and_end_time() -> None:
    run = make_run(RunStatus.QUEUED)
    run.transition(RunStatus.RUNNING)
    assert not run.settled.is_set()
    run.transition(RunStatus.PAUSED)
    assert run.settled.is_set() and run.ended_at is None
    run.transition(RunStatus.RUNNING)
    assert not run.settled.is_set()
    run.transition(RunStatus.COMPLETED)
    assert run.settled.is_set() and run.ended_at is not None and run.duration_ms is not None
    with pytest.raises(IllegalTransition):
        run.transition(RunStatus.RUNNING)
    assert run.status is RunStatus.COMPLETED


def test_store_claims_ids_for_good_across_runs_and_aliases() -> None:
    store = RunStore()
    store.add(make_run(run_id="a", job_id="job-a"))
    with pytest.raises(RunIdConflict):
        store.add(make_run(run_id="a"))
    store.add_alias("attempt-1", "a")
    with pytest.raises(RunIdConflict):
        store.add(make_run(run_id="attempt-1"))
    assert store.get("attempt-1") is None  # a resume attempt's id is claimed but names no run (404)
    assert store.by_job("job-a") is store.get("a")
    assert store.new_id() not in ("a", "attempt-1")
    assert [run.id for run in store.clear()] == ["a"]
    assert store.get("a") is None and not store.is_claimed("attempt-1")
