"""Token buckets against a fake clock: burst, continuous refill, reported figures."""

from __future__ import annotations

import pytest

from airflow_provider_sim.emulator.config import EmulatorSettings
from airflow_provider_sim.emulator.ratelimit import UNLIMITED, RateLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refuses_then_refills_continuously() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_minute=60, burst=3, clock=clock)
    assert [bucket.take().allowed for _ in range(4)] == [True, True, True, False]
    refused = bucket.take()
    assert refused.remaining == 0 and refused.retry_after == pytest.approx(1.0)
    assert refused.retry_after_header == "1"
    clock.now += 0.5
    assert not bucket.take().allowed
    clock.now += 0.5
    state = bucket.take()
    assert state.allowed and state.remaining == 0 and state.limit == 3


def test_retry_after_header_rounds_up_and_is_at_least_one() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_minute=6, burst=1, clock=clock)
    bucket.take()
    state = bucket.take()
    assert state.retry_after == pytest.approx(10.0)
    clock.now += 9.5
    assert bucket.take().retry_after_header == "1"


def test_peek_does_not_charge() -> None:
    bucket = TokenBucket(rate_per_minute=60, burst=2, clock=FakeClock())
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
