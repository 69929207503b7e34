"""Token buckets for the sync and async execution limits.

Like sim.ai: one bucket per counter (``sync``, ``async``), capacity ``burst`` (default twice the
per-minute rate), refilled continuously at ``rate / 60`` tokens a second, one token per execute.
With no rate configured a counter is unlimited and reports Sim's "unlimited" figures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from airflow_provider_sim.emulator.config import EmulatorSettings
from airflow_provider_sim.emulator.state import utcnow

Counter = Literal["sync", "async"]
#: what Sim reports for an unlimited counter (its MANUAL_EXECUTION_LIMIT)
UNLIMITED = 999_999


@dataclass(frozen=True)
class BucketState:
    """One look at a bucket, with or without taking a token.

    :param allowed: a token was available (always true for a peek).
    :param limit: the bucket capacity (``X-RateLimit-Limit``).
    :param remaining: whole tokens left (``X-RateLimit-Remaining``).
    :param reset_at: when the next token arrives (``X-RateLimit-Reset``); now if the bucket is full.
    :param retry_after: seconds until a token is available; 0 when one is.
    :param rate_per_minute: the refill rate (``UNLIMITED`` for no limit).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_at: datetime
    retry_after: float
    rate_per_minute: int
    limited: bool

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, at least 1 (as Sim rounds it)."""
        return str(max(1, math.ceil(self.retry_after)))


class TokenBucket:
    """A continuously refilled token bucket.

    :param clock: a monotonic clock in seconds; injectable for tests.
    """

    def __init__(
        self, rate_per_minute: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_second = rate_per_minute / 60.0
        self.rate_per_minute = rate_per_minute
        self.capacity = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate_per_second)
        self._last = now

    def take(self) -> BucketState:
        """Take one token if there is one and report the bucket."""
        self._refill()
        allowed = self._tokens >= 1
        if allowed:
            self._tokens -= 1
        return self._state(allowed)

    def peek(self) -> BucketState:
        """Report the bucket without taking a token."""
        self._refill()
        return self._state(True)

    def _state(self, allowed: bool) -> BucketState:
        if self._tokens >= self.capacity:
            to_next = 0.0
        else:
            to_next = (math.floor(self._tokens) + 1 - self._tokens) / self.rate_per_second
        retry_after = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate_per_second
        return BucketState(
            allowed=allowed,
            limit=math.floor(self.capacity),
            remaining=max(0, math.floor(self._tokens)),
            reset_at=utcnow() + timedelta(seconds=to_next),
            retry_after=retry_after,
            rate_per_minute=math.floor(self.rate_per_minute),
            limited=True,
        )


def unlimited_state() -> BucketState:
    """What an unlimited counter reports (Sim's unlimited result: reset one window from now)."""
    return BucketState(True, UNLIMITED, UNLIMITED, utcnow() + timedelta(minutes=1), 0.0, UNLIMITED, False)


class RateLimiter:
    """The sync and async buckets of the single emulated user.

    :param clock: a monotonic clock in seconds; injectable for tests.
    """

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[Counter, TokenBucket | None] = {}
        self.configure(settings)

    def configure(self, settings: EmulatorSettings) -> None:
        """Rebuild the buckets (full) from ``settings``."""
        rates: dict[Counter, float | None] = {
            "sync": settings.rate_limit_sync,
            "async": settings.rate_limit_async,
        }
        self._buckets = {
            counter: None
            if rate is None
            else TokenBucket(rate, settings.rate_limit_burst or 2 * rate, clock=self._clock)
            for counter, rate in rates.items()
        }

    def take(self, counter: Counter) -> BucketState:
        """Charge one execute to ``counter``."""
        bucket = self._buckets[counter]
        return unlimited_state() if bucket is None else bucket.take()

    def peek(self, counter: Counter) -> BucketState:
        """Report ``counter`` without charging it."""
        bucket = self._buckets[counter]
        return unlimited_state() if bucket is None else bucket.peek()
