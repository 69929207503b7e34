"""The limiter's per-operation and per-IP buckets and Sim's "most restrictive" rule, on a fake clock."""

from __future__ import annotations

from datetime import timedelta

from airflow_provider_sim.emulator.config import EmulatorSettings
from airflow_provider_sim.emulator.ratelimit import UNLIMITED, BucketState, RateLimiter, most_restrictive
from airflow_provider_sim.emulator.state import utcnow


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock, **settings: object) -> RateLimiter:
    return RateLimiter(EmulatorSettings().updated({"rate_limit_window_seconds": 10, **settings}), clock)


def test_operation_buckets_are_separate_and_refill_at_the_window_end() -> None:
    clock = FakeClock()
    limits = limiter(clock, rate_limit_api=2)  # capacity 4
    assert [limits.take_operation("workflows.runs.read").allowed for _ in range(5)] == [True] * 4 + [False]
    assert limits.take_operation("workflows.runs.list").remaining == 3
    clock.now += 9.9
    assert not limits.take_operation("workflows.runs.read").allowed
    clock.now += 0.1  # one window: +2 tokens, at once
    assert [limits.take_operation("workflows.runs.read").allowed for _ in range(3)] == [True, True, False]
    clock.now += 25  # an idle bucket starts over full (capped at the capacity)
    assert limits.take_operation("workflows.runs.read").remaining == 3


def test_api_burst_sets_the_operation_capacity() -> None:
    state = limiter(FakeClock(), rate_limit_api=2, rate_limit_api_burst=5).take_operation("workflows.read")
    assert state.limit == 5 and state.remaining == 4 and state.rate_per_minute == 2


def test_ip_buckets_are_per_client_and_default_to_sims_300_per_window() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    first = limits.take_ip("10.0.0.1")
    assert first.limit == 600 and first.remaining == 599
    for _ in range(599):
        limits.take_ip("10.0.0.1")
    refused = limits.take_ip("10.0.0.1")
    assert not refused.allowed and refused.retry_after_header == "10"
    assert limits.take_ip("10.0.0.2").allowed
    clock.now += 10
    assert limits.take_ip("10.0.0.1").remaining == 299  # 300 added at the window's end


def test_unlimited_buckets_and_reconfigure_refills() -> None:
    clock = FakeClock()
    limits = limiter(clock, rate_limit_ip=None)
    assert limits.take_ip("h").limit == UNLIMITED and limits.take_operation("op").limit == UNLIMITED
    limits.configure(EmulatorSettings(rate_limit_ip=1, rate_limit_window_seconds=10))
    assert [limits.take_ip("h").allowed for _ in range(3)] == [True, True, False]
    limits.configure(EmulatorSettings(rate_limit_ip=1, rate_limit_window_seconds=10))
    assert limits.take_ip("h").allowed


def state(allowed: bool, remaining: int, reset_in: float) -> BucketState:
    return BucketState(allowed, 10, remaining, utcnow() + timedelta(seconds=reset_in), 0.0, 5, True)


def test_most_restrictive_follows_sims_reduce() -> None:
    refused, allowed = state(False, 5, 1), state(True, 0, 1)
    assert most_restrictive(allowed, refused) is refused and most_restrictive(refused, allowed) is refused
    fewer, more = state(True, 1, 1), state(True, 7, 1)
    assert most_restrictive(more, fewer) is fewer and most_restrictive(fewer, more) is fewer
    sooner, later = state(True, 3, 1), state(True, 3, 9)
    assert most_restrictive(sooner, later) is later and most_restrictive(later, sooner) is later
