"""Sim's quota, read and spent with care: rate-limit headers, a budget per operation, poll pacing.

No I/O here. Hosted Sim meters every v2 call per operation and account (free 30, pro 100, team 200,
enterprise 500 a minute each; capacity twice that; refilled all at once at the end of each 60 s
window) and tells what is left in ``X-RateLimit-Remaining`` / ``-Reset`` on every answer. Like
botocore's adaptive retry mode, the drivers spend what Sim says there is instead of finding the
edge with 429s: :class:`RequestBudget` remembers the last announcement per operation and says how
long to hold the next call (until the reset when nothing is left, until a 429's ``Retry-After``).

:func:`poll_delay` is the polling rule: ``poll_interval`` for a young run, then a tenth of the
run's age, never more than ``max_poll_interval``.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from airflow_provider_sim.protocol.models import RateLimitInfo, lowercase_keys

#: the share of a run's age a wait sleeps between reads once the run is older than 10 intervals
AGE_FRACTION = 0.1
#: the default cap of the interval between two reads of one long run
DEFAULT_MAX_POLL_INTERVAL = 60.0
#: how long other callers hold while the first call to an operation learns its budget
PROBE_WAIT_SECONDS = 0.05
#: a later reset time at least this much later is the next window (smaller steps are clock noise)
MIN_WINDOW_SECONDS = 0.5
#: Sim's rate-limit window, assumed until two successive resets tell this account's
SIM_WINDOW_SECONDS = 60.0
#: most we add after a reset, so waiters told the same reset do not all send at the same instant
RESET_SPREAD_SECONDS = 0.25


def poll_delay(poll_interval: float, age: float, max_poll_interval: float | None = None) -> float:
    """Seconds until the next read of a run that has gone on for ``age`` seconds.

    ``poll_interval`` is the fastest a user asks for and what a short run gets, so its end is
    noticed within about one interval; a run older than ten intervals is read every tenth of its
    age, up to ``max_poll_interval`` (default 60 s, never below ``poll_interval``). A thousand
    hour-long runs then cost a read a minute each, not one every few seconds.
    """
    cap = max(poll_interval, DEFAULT_MAX_POLL_INTERVAL if max_poll_interval is None else max_poll_interval)
    return min(max(poll_interval, AGE_FRACTION * max(age, 0.0)), cap)


@dataclass
class _Operation:
    limit: int | None = None  # the bucket's capacity (X-RateLimit-Limit)
    remaining: int | None = None  # what Sim said is left, less what we sent since
    reset_at: float | None = None  # epoch seconds of the next refill
    window: float | None = None  # seconds between refills, learned from successive resets
    blocked_until: float = 0.0  # epoch seconds; set by a 429's Retry-After
    hint: float | None = None  # the last 429's Retry-After, in seconds
    in_flight: int = 0  # sent, not answered


class RequestBudget:
    """What Sim last announced for each metered operation of one account.

    Shared by every caller in a process that uses the same base URL and API key (see
    :func:`budget_for`); safe to use from several threads. Unmetered calls (``operation`` ``None``)
    are never held. Calls sent but not answered count against what is left, so many concurrent
    callers do not all spend the same announced token; when a refill time passes, Sim's refill
    (half the capacity: ``rate`` tokens on a bucket of ``2 x rate``) is assumed until an answer says.

    :param clock: epoch seconds; injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._ops: dict[str, _Operation] = {}
        self._lock = threading.Lock()

    def delay(self, operation: str | None) -> float:
        """Seconds to hold a call of ``operation`` so it does not spend a token Sim does not have."""
        if operation is None:
            return 0.0
        with self._lock:
            op = self._ops.get(operation)
            if op is None:
                return 0.0
            now = self._clock()
            self._turn_windows(op, now)
            wait = max(0.0, op.blocked_until - now)
            if op.remaining is None and op.in_flight > 0 and op.limit is None:
                # nothing announced yet: let the first call's answer say what there is
                return max(wait, PROBE_WAIT_SECONDS)
            if op.remaining is not None and op.remaining <= 0:
                until = op.reset_at if op.reset_at is not None else now + 1.0
                if op.in_flight > 0:
                    # what is left counts every unanswered call, though Sim may have charged some
                    # already; their answers will say, so look again soon instead of until the reset
                    return max(wait, min(until - now, PROBE_WAIT_SECONDS))
                wait = max(wait, until - now + random.uniform(0, RESET_SPREAD_SECONDS))
            return wait

    @staticmethod
    def _turn_windows(op: _Operation, now: float) -> None:
        if op.reset_at is None or op.reset_at > now:
            return
        windows = 1 if op.window is None else math.floor((now - op.reset_at) / op.window) + 1
        op.reset_at = None if op.window is None else op.reset_at + windows * op.window
        if op.remaining is not None and op.limit:
            op.remaining = min(op.limit, op.remaining + windows * ((op.limit + 1) // 2))
        else:
            op.remaining = None

    def spend(self, operation: str | None) -> None:
        """Count a call being sent, before Sim's answer says what is left."""
        if operation is None:
            return
        with self._lock:
            op = self._ops.setdefault(operation, _Operation())
            op.in_flight += 1
            if op.remaining is not None:
                op.remaining -= 1

    def observe(self, operation: str | None, info: RateLimitInfo | None, *, limited: bool) -> None:
        """Take in the answer to a call :meth:`spend` counted (``info`` ``None``: no headers, or no
        answer at all); ``limited`` for a 429."""
        if operation is None:
            return
        with self._lock:
            op = self._ops.setdefault(operation, _Operation())
            now = self._clock()
            op.in_flight = max(0, op.in_flight - 1)
            if info is not None:
                if info.limit is not None:
                    op.limit = info.limit
                if info.reset_at is not None:
                    reset = info.reset_at.timestamp()
                    if op.reset_at is not None and reset - op.reset_at > MIN_WINDOW_SECONDS:
                        op.window = reset - op.reset_at
                    op.reset_at = reset
                if info.remaining is not None:
                    op.remaining = info.remaining - op.in_flight
            if limited:
                # Retry-After says when this operation may go again; a 429 for runs in flight
                # carries it with the headers of an execute bucket that still has tokens
                hint = info.retry_after if info is not None else None
                op.hint = hint
                if hint is not None:
                    op.blocked_until = max(op.blocked_until, now + hint)
                elif op.reset_at is not None and op.reset_at > now:
                    op.remaining = 0
                else:
                    op.blocked_until = max(op.blocked_until, now + 1.0)

    def holdup(self, operation: str) -> tuple[float, float | None]:
        """Seconds a call of ``operation`` is held by Sim's limits from now (0 when it may go), and
        the last 429's ``Retry-After`` for it."""
        with self._lock:
            op = self._ops.get(operation)
            if op is None:
                return 0.0, None
            now = self._clock()
            until = op.blocked_until
            if op.remaining is not None and op.remaining <= 0 and op.reset_at is not None:
                until = max(until, op.reset_at)
            return max(0.0, until - now), op.hint

    def refill_gap(self, operation: str) -> float | None:
        """Seconds between calls of ``operation`` that Sim's refill sustains (the window over the
        tokens a window adds), once an answer has told the bucket's size; else ``None``."""
        with self._lock:
            op = self._ops.get(operation)
            if op is None or not op.limit:
                return None
            return (op.window or SIM_WINDOW_SECONDS) / ((op.limit + 1) // 2)

    def remaining(self, operation: str) -> int | None:
        """Tokens Sim last said ``operation`` has left (less what was sent since), if known."""
        with self._lock:
            op = self._ops.get(operation)
            return None if op is None else op.remaining


_budgets: dict[tuple[str, str], RequestBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(base_url: str, api_key: str) -> RequestBudget:
    """The process-wide budget of one Sim account (base URL and key; the key only as a digest)."""
    key = (base_url, hashlib.sha256(api_key.encode()).hexdigest())
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = RequestBudget()
        return budget


def parse_reset(value: str | None) -> datetime | None:
    """``X-RateLimit-Reset``: ISO 8601 (v2) or an epoch number in seconds or milliseconds (older)."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not math.isfinite(number) or number < 0:
        return None
    seconds = number / 1000 if number > 1e11 else number
    return datetime.fromtimestamp(seconds, tz=UTC)


def parse_rate_limit(headers: Mapping[str, str], *, now: datetime | None = None) -> RateLimitInfo | None:
    """The ``X-RateLimit-*`` / ``Retry-After`` headers of an answer, if it has any."""
    headers = lowercase_keys(headers)
    limit, remaining, reset = (headers.get(f"x-ratelimit-{n}") for n in ("limit", "remaining", "reset"))
    retry_after = retry_after_seconds(headers, now=now, include_reset=False)
    if limit is None and remaining is None and reset is None and retry_after is None:
        return None
    return RateLimitInfo(
        limit=int(limit) if limit and limit.isdigit() else None,
        remaining=int(remaining) if remaining and remaining.isdigit() else None,
        reset_at=parse_reset(reset),
        retry_after=retry_after,
    )


def retry_after_seconds(
    headers: Mapping[str, str], *, now: datetime | None = None, include_reset: bool = True
) -> float | None:
    """How long the server asks us to wait: ``Retry-After`` (seconds or HTTP date), else (with
    ``include_reset``) the time until ``X-RateLimit-Reset``; ``None`` when it gave no hint (v1's 429)."""
    now = now or datetime.now(tz=UTC)
    headers = lowercase_keys(headers)
    retry_after = headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, (when - now).total_seconds())
    reset_at = parse_reset(headers.get("x-ratelimit-reset")) if include_reset else None
    if reset_at is not None:
        return max(0.0, (reset_at - now).total_seconds())
    return None


def forget_budgets() -> None:
    """Drop every account's budget (tests: a server that was reset announces afresh)."""
    with _budgets_lock:
        _budgets.clear()
