"""Token buckets against a fake clock: burst, refill at the end of each window, reported figures."""

from __future__ import annotations

import pytest

from airflow_provider_sim.emulator.config import EmulatorSettings
from airflow_provider_sim.emulator.ratelimit import UNLIMITED, RateLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refuses_until_the_window_ends() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, window_seconds=10, clock=clock)
    assert [bucket.take().allowed for _ in range(4)] == [True, True, True, False]
    clock.now += 9.9  # nothing trickles in during the window, unlike a continuous bucket
    refused = bucket.take()
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after == pytest.approx(0.1)
    clock.now += 0.1
    assert [bucket.take().allowed for _ in range(3)] == [True, True, False]


def test_refills_never_exceed_the_burst_and_keep_the_window_phase() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, window_seconds=10, clock=clock)
    bucket.take()
    clock.now += 35  # three windows passed: +6 tokens, capped at 3; next refill at +40
    state = bucket.take()
    assert state.allowed and state.remaining == 2
    assert state.retry_after == 0.0
    clock.now += 4.5
    assert bucket.peek().remaining == 2
    clock.now += 0.5
    assert bucket.peek().remaining == 3


def test_retry_after_header_rounds_up_and_is_at_least_one() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, window_seconds=60, clock=clock)
    bucket.take()
    clock.now += 0.5
    assert bucket.take().retry_after_header == "60"
    clock.now += 59.4
    state = bucket.take()
    assert state.retry_after == pytest.approx(0.1)
    assert state.retry_after_header == "1"


def test_peek_does_not_charge() -> None:
    bucket = TokenBucket(rate=60, burst=2, clock=FakeClock())
    assert bucket.peek().remaining == 2
    assert bucket.peek().remaining == 2


def test_limiter_defaults_burst_to_twice_the_rate_and_unlimited_without_rate() -> None:
    limiter = RateLimiter(EmulatorSettings(rate_limit_sync=5), clock=FakeClock())
    assert limiter.peek("sync").limit == 10
    assert limiter.peek("sync").rate_per_minute == 5
    async_state = limiter.take("async")
    assert async_state.allowed and async_state.limit == UNLIMITED and not async_state.limited
    limiter.configure(EmulatorSettings(rate_limit_sync=5, rate_limit_burst=1))
    assert [limiter.take("sync").allowed for _ in range(2)] == [True, False]


def test_limiter_uses_the_configured_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        EmulatorSettings(rate_limit_sync=1, rate_limit_burst=1, rate_limit_window_seconds=0.5), clock=clock
    )
    assert [limiter.take("sync").allowed for _ in range(2)] == [True, False]
    clock.now += 0.5
    assert limiter.take("sync").allowed


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate_limit_window_seconds"):
        EmulatorSettings(rate_limit_window_seconds=0)
