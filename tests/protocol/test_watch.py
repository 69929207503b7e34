"""The run watcher's book: when each workflow is due a look."""

from __future__ import annotations

from airflow_provider_sim.protocol.models import RunStatus, SimRun
from airflow_provider_sim.protocol.watch import Waiter, WatchBook

NOW = 1_000_000.0


def listed(run_id: str) -> SimRun:
    return SimRun(run_id=run_id, workflow_id="wf", status=RunStatus.RUNNING)


def test_a_list_gap_brings_a_listed_workflows_next_look_forward_and_goes_with_its_runs() -> None:
    book = WatchBook()
    waiter = Waiter(return_on_pause=False, poll_interval=30.0)
    watched = book.add("wf", "r1", None, waiter, NOW)
    book.take_listed("wf", [listed("r1")], NOW)
    assert book.next_due() == (NOW + 30.0, "wf")
    assert book.next_due(list_gap=1.5) == (NOW + 1.5, "wf")

    book.discard(watched, waiter)
    assert book.next_due(list_gap=1.5) is None


def test_a_list_gap_does_not_list_a_workflow_that_was_never_listed() -> None:
    book = WatchBook()
    watched = book.add("legacy", "r1", "job-1", Waiter(return_on_pause=False, poll_interval=30.0), NOW)
    book.take_read(watched, listed("r1"), NOW)
    assert book.next_due(list_gap=1.5) == book.next_due() == (NOW + 30.0, "legacy")
