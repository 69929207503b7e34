"""The per-account budget: what Sim announced, what is in flight, and how long a call is held."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_sim.protocol.models import RateLimitInfo
from airflow_provider_sim.protocol.quota import (
    PROBE_WAIT_SECONDS,
    RESET_SPREAD_SECONDS,
    RequestBudget,
    poll_delay,
)

READ = "runs.read"
START = 1_000_000.0


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def announced(remaining: int, *, limit: int = 60, reset_in: float = 60.0) -> RateLimitInfo:
    return RateLimitInfo(
        limit=limit, remaining=remaining, reset_at=datetime.fromtimestamp(START + reset_in, UTC)
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def budget(clock: Clock) -> RequestBudget:
    return RequestBudget(clock=clock)


def test_unmetered_and_unknown_operations_are_never_held(budget: RequestBudget) -> None:
    assert budget.delay(None) == 0.0
    assert budget.delay(READ) == 0.0


def test_the_first_answer_is_awaited_before_others_spend(budget: RequestBudget) -> None:
    budget.spend(READ)
    assert budget.delay(READ) == PROBE_WAIT_SECONDS
    budget.observe(READ, announced(10), limited=False)
    assert budget.delay(READ) == 0.0


def test_a_spent_budget_holds_calls_until_the_reset(budget: RequestBudget) -> None:
    budget.spend(READ)
    budget.observe(READ, announced(0, reset_in=30.0), limited=False)
    assert 30.0 <= budget.delay(READ) <= 30.0 + RESET_SPREAD_SECONDS
    assert budget.holdup(READ) == (30.0, None)


def test_calls_in_flight_hold_a_spent_budget_only_until_their_answers(budget: RequestBudget) -> None:
    """Unanswered calls count against what is left, though Sim may have charged them already: the
    count then reads 0 while Sim has tokens. Callers look again soon, not a whole window later."""
    for _ in range(3):
        budget.spend(READ)
    budget.observe(READ, announced(2), limited=False)  # Sim charged all three; two more in flight
    assert budget.remaining(READ) == 0
    assert budget.delay(READ) == PROBE_WAIT_SECONDS
    budget.observe(READ, announced(2), limited=False)
    budget.observe(READ, announced(2), limited=False)
    assert budget.remaining(READ) == 2
    assert budget.delay(READ) == 0.0


def test_the_last_answer_of_a_truly_spent_budget_holds_until_the_reset(budget: RequestBudget) -> None:
    budget.spend(READ)
    budget.spend(READ)
    budget.observe(READ, announced(0, reset_in=20.0), limited=False)
    assert budget.delay(READ) == PROBE_WAIT_SECONDS
    budget.observe(READ, announced(0, reset_in=20.0), limited=False)
    assert budget.delay(READ) >= 20.0


def test_a_refill_is_assumed_when_the_reset_passes(budget: RequestBudget, clock: Clock) -> None:
    budget.spend(READ)
    budget.observe(READ, announced(0, limit=60, reset_in=10.0), limited=False)
    clock.now += 10.5
    assert budget.delay(READ) == 0.0
    assert budget.remaining(READ) == 30


def test_a_429_holds_for_its_retry_after(budget: RequestBudget, clock: Clock) -> None:
    budget.spend(READ)
    info = RateLimitInfo(limit=60, remaining=5, reset_at=None, retry_after=7.0)
    budget.observe(READ, info, limited=True)
    assert budget.delay(READ) == pytest.approx(7.0)
    assert budget.holdup(READ) == (pytest.approx(7.0), 7.0)
    clock.now += 7.0
    assert budget.delay(READ) == 0.0


@pytest.mark.parametrize(
    ("age", "expected"),
    [(0.0, 5.0), (40.0, 5.0), (100.0, 10.0), (3600.0, 60.0)],
)
def test_poll_delay_grows_with_a_runs_age_up_to_the_cap(age: float, expected: float) -> None:
    assert poll_delay(5.0, age) == expected


def test_the_refill_gap_is_the_window_over_the_tokens_it_adds(budget: RequestBudget) -> None:
    assert budget.refill_gap(READ) is None  # nothing announced yet
    budget.spend(READ)
    budget.observe(READ, announced(150, limit=200), limited=False)
    assert budget.refill_gap(READ) == pytest.approx(60.0 / 100)
