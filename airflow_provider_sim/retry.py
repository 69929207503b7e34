"""Backoff and deadlines, defined once for the sync hook and the async side (tenacity).

:func:`retry_policy` returns keyword arguments for both ``tenacity.Retrying`` and
``tenacity.AsyncRetrying``. The predicate matches only this provider's own exception types, so a
retry cannot silently die because a transport wrapped the error differently.

What is retried (defaults as Sim's SDK: 3 retries, 1 s initial, x2, 30 s cap, +-25 % jitter):

* 429 (rate limits, runs in flight, admission capacity): **until the deadline**, not counted as
  failures: Sim did nothing, so waiting for our turn is always safe. Waits ``Retry-After`` /
  ``X-RateLimit-Reset`` when Sim sends them (plus up to ``jitter`` of it, at most 1 s, more; never
  less), else backs off (v1's 429 has no headers).
* 502/503/504 and connection errors, ``max_retries`` times: when the request is safe to resend.
  Reads are; executes are too, because every execute names its run with a client-chosen id and a
  resend that finds the id taken reads that run instead of starting another.
* Never: 4xx other than 429 (402 usage limit, 401/403, 404, 409 ...), other 5xx, run failures.

**Deadlines.** Every call runs under a :class:`Deadline`: the task's (operator ``timeout``,
``execution_timeout``, a trigger's ``end_time``), set around the calls with :func:`deadline`, or
else the hook's own bound for one call (``max_rate_limit_wait``, 60 s by default). No wait
sleeps past it: a hint that runs past the deadline ends the call at once with a
:class:`~airflow_provider_sim.exceptions.SimRateLimitError` whose message names the limit, the
hint and what to change.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState, retry_if_exception
from tenacity.wait import wait_base

from airflow_provider_sim.exceptions import (
    SimConfigurationError,
    SimConnectionError,
    SimRateLimitError,
    SimServiceUnavailableError,
)
from airflow_provider_sim.protocol.models import RequestSpec
from airflow_provider_sim.protocol.quota import RequestBudget

#: Most we add to a server-requested wait to keep waiting clients from waking in lockstep.
MAX_HINT_SPREAD_SECONDS = 1.0
#: The default bound of one hook call outside a task's deadline: long enough for a rate-limit
#: window to turn (60 s), short enough that an hour's Retry-After fails at once.
DEFAULT_MAX_RATE_LIMIT_WAIT = 90.0


@dataclass(frozen=True)
class RetrySettings:
    """How hard to retry: per hook argument, else the connection's extras, else these defaults.

    :param max_retries: retries after the first attempt on errors other than 429 (0 disables).
    :param initial_delay: first backoff wait in seconds when Sim gave no hint.
    :param max_delay: cap of the exponential backoff in seconds.
    :param multiplier: growth of the backoff per attempt.
    :param jitter: relative jitter, 0.25 means +-25 %.
    :param max_rate_limit_wait: the longest one hook call waits for its turn (429s, Sim's budget)
        when no task deadline applies.
    """

    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.25
    max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise SimConfigurationError(f"max_retries must be a whole number >= 0, got {self.max_retries!r}.")
        for name in ("initial_delay", "max_delay", "multiplier", "max_rate_limit_wait"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SimConfigurationError(f"{name} must be a positive number, got {value!r}.")
        if not 0 <= self.jitter < 1:
            raise SimConfigurationError(f"jitter must be in [0, 1), got {self.jitter!r}.")


@dataclass(frozen=True)
class Deadline:
    """When a call or a wait must be over, and what set that (named in error messages).

    :param at: epoch seconds; ``None`` for no limit (a task without timeouts waits its turn).
    :param source: e.g. ``"the operator's timeout"``.
    """

    at: float | None
    source: str
    started: float = field(default_factory=time.time, compare=False)

    def left(self, now: float | None = None) -> float:
        """Seconds left (``inf`` without a limit; never negative)."""
        if self.at is None:
            return math.inf
        return max(0.0, self.at - (time.time() if now is None else now))

    def earlier(self, at: float | None, source: str) -> Deadline:
        """This deadline or ``at``, whichever comes first."""
        if at is None or (self.at is not None and self.at <= at):
            return self
        return Deadline(at, source)


_task_deadline: ContextVar[Deadline | None] = ContextVar("sim_task_deadline", default=None)


@contextlib.contextmanager
def deadline(at: float | None, source: str) -> Iterator[Deadline]:
    """Bound every Sim call made inside (this thread or task) by ``at`` (epoch seconds, ``None``:
    no limit), e.g. ``with deadline(time.time() + 300, "the operator's timeout"):``."""
    current = Deadline(at, source)
    token = _task_deadline.set(current)
    try:
        yield current
    finally:
        _task_deadline.reset(token)


def call_deadline(settings: RetrySettings) -> Deadline:
    """The deadline of a call made now: the task's (see :func:`deadline`), else the hook's bound."""
    current = _task_deadline.get()
    if current is not None:
        return current
    bound = settings.max_rate_limit_wait
    return Deadline(time.time() + bound, f"the hook's bound for one call (max_rate_limit_wait={bound:g} s)")


def should_retry(spec: RequestSpec, error: BaseException) -> bool:
    """Whether ``error`` from sending ``spec`` may be retried (see the module docstring)."""
    if isinstance(error, SimRateLimitError):
        return not error.deadline_exceeded
    if isinstance(error, SimServiceUnavailableError):
        return spec.safe_to_resend or (error.http_status == 503 and error.retry_after is not None)
    if isinstance(error, SimConnectionError):
        return spec.safe_to_resend or not error.outcome_unknown
    return False


class WaitForSim(wait_base):
    """Wait what Sim asked for (``retry_after`` on the error), else exponential backoff with jitter."""

    def __init__(self, settings: RetrySettings) -> None:
        self.settings = settings

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(error, "retry_after", None)
        s = self.settings
        if isinstance(hint, int | float):
            # Never earlier than asked, and only a little later: Sim refills its bucket at the time it
            # names, so a refill spends its tokens on whoever is awake. The spread keeps clients that
            # got the same whole-second Retry-After from all retrying at the same instant.
            wait = float(hint)
            return wait + random.uniform(0, min(s.jitter * wait, MAX_HINT_SPREAD_SECONDS))
        backoff = min(s.initial_delay * s.multiplier ** (retry_state.attempt_number - 1), s.max_delay)
        return backoff * random.uniform(1 - s.jitter, 1 + s.jitter)


def rate_limit_advice(*, concurrency: bool, hook_bound: bool) -> str:
    """What to change when Sim's limits hold a task past its deadline."""
    if concurrency:
        fix = (
            "the account has as many runs in flight as its Sim plan admits: run fewer at once (an "
            "Airflow pool or max_active_tis_per_dag sized to the plan's cap)"
        )
    else:
        fix = (
            "make fewer calls (a longer poll_interval, fewer concurrent tasks: a pool or "
            "max_active_tis_per_dag)"
        )
    more_time = "raise the connection extra max_rate_limit_wait" if hook_bound else "give the task more time"
    return f"{fix}, {more_time}, or move to a Sim plan with a higher quota"


def _advice(error: SimRateLimitError, deadline: Deadline) -> str:
    return rate_limit_advice(
        concurrency=error.is_concurrency_limit, hook_bound=deadline.source.startswith("the hook's bound")
    )


def past_deadline(error: SimRateLimitError, wait: float, deadline: Deadline) -> SimRateLimitError:
    """The error for a wait for our turn that would run past ``deadline``: names the limit, the
    hint, the deadline and what to change."""
    limit = error.limit_code or error.code
    wait = error.retry_after if error.retry_after is not None else wait
    where = f" on {error.operation}" if error.operation else ""
    return SimRateLimitError(
        f"Sim rate limit{where} ({limit}, HTTP 429): Sim asks to wait {wait:.0f} s but "
        f"{deadline.source} leaves {deadline.left():.0f} s; {_advice(error, deadline)}",
        retry_after=error.retry_after,
        operation=error.operation,
        limit_code=error.limit_code,
        deadline_exceeded=True,
        http_status=error.http_status,
        code=error.code,
        request_id=error.request_id,
        details=error.details,
    )


class _Progress:
    """Per call: failures that count toward ``max_retries`` and what was logged last."""

    def __init__(self) -> None:
        self.failures = 0
        self.past_deadline = False
        self.logged: tuple[Any, ...] | None = None


def retry_policy(
    settings: RetrySettings,
    spec: RequestSpec,
    log: logging.Logger | Any,
    deadline: Deadline,
    *,
    wait_for_turn: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike.

    :param wait_for_turn: retry a 429 for the account's runs in flight; ``False`` raises it at once,
        for a caller that queues its starts itself (:mod:`airflow_provider_sim.protocol.turns`).
    """
    progress = _Progress()

    def retryable(error: BaseException) -> bool:
        if not wait_for_turn and isinstance(error, SimRateLimitError) and error.is_concurrency_limit:
            return False
        return should_retry(spec, error)

    def stop(state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if state.upcoming_sleep > deadline.left():
            progress.past_deadline = isinstance(error, SimRateLimitError)
            return True
        if isinstance(error, SimRateLimitError):
            return False
        progress.failures += 1
        return progress.failures > settings.max_retries

    def give_up(state: RetryCallState) -> Any:
        error = state.outcome.exception() if state.outcome else None
        if progress.past_deadline and isinstance(error, SimRateLimitError):
            raise past_deadline(error, state.upcoming_sleep, deadline) from error
        return state.outcome.result() if state.outcome else None  # re-raises the last error

    def log_before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if isinstance(error, SimRateLimitError):
            # a wait for our turn can take many tries: say so when it starts or its reason changes
            key: tuple[Any, ...] = (error.limit_code, error.operation)
            if key == progress.logged:
                log.debug("Still waiting for Sim (%s), next try in %.1f s", error.limit_code, wait)
                return
            progress.logged = key
            what = (
                "no more runs in flight for this account (its plan's cap)"
                if error.is_concurrency_limit
                else f"rate limit on {error.operation or spec.path}"
            )
            log.warning(
                "Sim %s: waiting for our turn (next try in %.1f s, until %s at the latest)%s: %s",
                what,
                wait,
                "no deadline" if deadline.at is None else f"{deadline.left():.0f} s from now",
                f"; nothing was started, run id {spec.run_id} stays reserved" if spec.is_execute else "",
                error,
            )
            return
        log.warning(
            "Retrying Sim %s %s (%d of %d) in %.1f s%s after: %s",
            spec.method,
            spec.path,
            progress.failures,
            settings.max_retries,
            wait,
            f" under the same run id {spec.run_id}" if spec.is_execute else "",
            error,
        )

    return {
        "stop": stop,
        "wait": WaitForSim(settings),
        "retry": retry_if_exception(retryable),
        "retry_error_callback": give_up,
        "before_sleep": log_before_sleep,
    }


def budget_hold(budget: RequestBudget, spec: RequestSpec, deadline: Deadline) -> float:
    """Seconds to hold ``spec`` so it spends only what Sim said the account has left.

    :raises SimRateLimitError: when the hold would run past ``deadline`` (as for a 429 whose hint does).
    """
    wait = budget.delay(spec.operation)
    if wait > deadline.left():
        spent = SimRateLimitError(
            f"Sim's budget for {spec.operation} is spent until its next refill",
            retry_after=wait,
            operation=spec.operation,
            limit_code="RATE_LIMITED",
            http_status=429,
            code="RATE_LIMITED",
        )
        raise past_deadline(spent, wait, deadline)
    return wait


def wait_deadline(timeout: float | None) -> Deadline:
    """The deadline of a wait for a run: the task's, or ``timeout`` from now if that is earlier.
    Unlike a single call, a wait without either has no limit: it lasts as long as the run."""
    current = _task_deadline.get() or Deadline(None, "no deadline")
    if timeout is None:
        return current
    return current.earlier(time.time() + timeout, f"the wait's timeout ({timeout:g} s)")
