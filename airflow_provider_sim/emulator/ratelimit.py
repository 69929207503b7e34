"""Token buckets, refilled the way sim.ai refills them.

Like Sim's own limiter (``lib/core/rate-limiter``): every bucket has capacity ``burst`` (default
twice the rate) and starts full; at the end of every window (60 s, Sim's ``RATE_LIMIT_WINDOW_MS``)
``rate`` tokens are added at once, never above the capacity. One token per request. The buckets:

- ``sync`` / ``async``: executions (every v1 execute is charged to ``sync``);
- one per metered v2 operation (``v2:<operation id>:<key>`` on Sim; the emulator has one key);
- one per client IP for every request to a real v2 route, charged before the key is checked.
 A refused request is told when the next refill comes: ``X-RateLimit-Reset``
/ ``details.retryAfter`` to the millisecond, ``Retry-After`` in whole seconds, at least 1.
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
    :param reset_at: when the next refill comes (``X-RateLimit-Reset``).
    :param retry_after: seconds until the next refill for a refused request; 0 when allowed.
    :param rate_per_minute: tokens per refill, as Sim reports it (``UNLIMITED`` for no limit).
    :param limited: false for an unlimited counter.
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
        """``Retry-After`` until the next refill."""
        return retry_after_header(self.retry_after)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` for a wait of ``seconds``: whole seconds, at least 1, as Sim sends it."""
    return str(max(1, math.ceil(seconds)))


class TokenBucket:
    """Sim's bucket: full at the start, ``rate`` tokens added at the end of each window.

    :param rate: tokens added per window (per minute with the default window, as Sim names it).
    :param burst: capacity.
    :param window_seconds: refill interval.
    :param clock: a monotonic clock in seconds; injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = burst
        self.window_seconds = window_seconds
        self._clock = clock
        self._tokens = burst
        self._last_refill = clock()

    def _refill(self) -> float:
        now = self._clock()
        windows = math.floor((now - self._last_refill) / self.window_seconds)
        if windows > 0:
            self._tokens = min(self.capacity, self._tokens + windows * self.rate)
            self._last_refill += windows * self.window_seconds
        return now

    def take(self) -> BucketState:
        """Take one token if there is one and report the bucket."""
        now = self._refill()
        allowed = self._tokens >= 1
        if allowed:
            self._tokens -= 1
        return self._state(allowed, now)

    def peek(self) -> BucketState:
        """Report the bucket without taking a token."""
        return self._state(True, self._refill())

    def _state(self, allowed: bool, now: float) -> BucketState:
        to_next_refill = self._last_refill + self.window_seconds - now
        return BucketState(
            allowed=allowed,
            limit=math.floor(self.capacity),
            remaining=max(0, math.floor(self._tokens)),
            reset_at=utcnow() + timedelta(seconds=to_next_refill),
            retry_after=0.0 if allowed else to_next_refill,
            rate_per_minute=math.floor(self.rate),
            limited=True,
        )


def unlimited_state() -> BucketState:
    """What an unlimited counter reports (Sim's unlimited result: reset one window from now)."""
    return BucketState(True, UNLIMITED, UNLIMITED, utcnow() + timedelta(minutes=1), 0.0, UNLIMITED, False)


def most_restrictive(first: BucketState, second: BucketState) -> BucketState:
    """The answer that wins when a request passes two buckets, by Sim's rule.

    A refusal beats an allowance; otherwise fewer remaining tokens win, then the later reset.
    """
    if first.allowed != second.allowed:
        return second if first.allowed else first
    if second.remaining != first.remaining:
        return second if second.remaining < first.remaining else first
    return second if second.reset_at > first.reset_at else first


class RateLimiter:
    """Every bucket of the single emulated account: executions, v2 operations, client IPs.

    :param clock: a monotonic clock in seconds; injectable for tests.
    """

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._settings = settings
        self.configure(settings)

    def _bucket(self, rate: float | None, burst: float | None) -> TokenBucket | None:
        if rate is None:
            return None
        window = self._settings.rate_limit_window_seconds
        return TokenBucket(rate, burst or 2 * rate, window, clock=self._clock)

    def configure(self, settings: EmulatorSettings) -> None:
        """Rebuild every bucket (full) from ``settings``."""
        self._settings = settings
        self._buckets: dict[Counter, TokenBucket | None] = {
            "sync": self._bucket(settings.rate_limit_sync, settings.rate_limit_burst),
            "async": self._bucket(settings.rate_limit_async, settings.rate_limit_burst),
        }
        self._keyed: dict[str, TokenBucket] = {}  # per operation and per IP, made on first use

    def take_operation(self, operation: str) -> BucketState:
        """Charge one call to the bucket of v2 ``operation`` (e.g. ``workflows.runs.read``)."""
        return self._take_keyed(
            f"op:{operation}", self._settings.rate_limit_api, self._settings.rate_limit_api_burst
        )

    def take_ip(self, client_host: str) -> BucketState:
        """Charge one request to the bucket of ``client_host`` (the per-IP limit before auth)."""
        return self._take_keyed(
            f"ip:{client_host}", self._settings.rate_limit_ip, self._settings.rate_limit_ip_burst
        )

    def _take_keyed(self, key: str, rate: float | None, burst: float | None) -> BucketState:
        bucket = self._keyed.get(key) or self._bucket(rate, burst)
        if bucket is None:
            return unlimited_state()
        self._keyed[key] = bucket
        return bucket.take()

    def take(self, counter: Counter) -> BucketState:
        """Charge one execute to ``counter``."""
        bucket = self._buckets[counter]
        return unlimited_state() if bucket is None else bucket.take()

    def peek(self, counter: Counter) -> BucketState:
        """Report ``counter`` without charging it."""
        bucket = self._buckets[counter]
        return unlimited_state() if bucket is None else bucket.peek()
