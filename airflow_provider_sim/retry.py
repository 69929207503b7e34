"""Backoff, defined once for the sync hook and the async trigger side (tenacity).

:func:`retry_policy` returns keyword arguments for both ``tenacity.Retrying`` and
``tenacity.AsyncRetrying``. The predicate matches only this provider's own exception types, so a
retry cannot silently die because a transport wrapped the error differently.

What is retried (defaults as Sim's SDK: 3 retries, 1 s initial, x2, 30 s cap, +-25 % jitter):

* 429 rate limits: always; nothing was done. Waits ``Retry-After`` / ``X-RateLimit-Reset`` when
  Sim sends them (plus up to ``jitter`` of it, at most 1 s, more; never less), else backs off (v1's
  429 has no headers).
* 502/503/504 and connection errors: when the request is safe to resend. Reads are; executes are
  too, because every execute names its run with a client-chosen id and a resend that finds the id
  taken reads that run instead of starting another.
* Never: 4xx other than 429 (402 usage limit, 401/403, 404, 409 ...), other 5xx, run failures.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

from airflow_provider_sim.exceptions import (
    SimConfigurationError,
    SimConnectionError,
    SimRateLimitError,
    SimServiceUnavailableError,
)
from airflow_provider_sim.protocol.models import RequestSpec

#: Longest server-requested wait we honour before giving up the retry instead.
MAX_SERVER_WAIT_SECONDS = 300.0
#: Most we add to a server-requested wait to keep waiting clients from waking in lockstep.
MAX_HINT_SPREAD_SECONDS = 1.0


@dataclass(frozen=True)
class RetrySettings:
    """How hard to retry: per hook argument, else the connection's extras, else these defaults.

    :param max_retries: retries after the first attempt (0 disables retrying).
    :param initial_delay: first backoff wait in seconds when Sim gave no hint.
    :param max_delay: cap of the exponential backoff in seconds.
    :param multiplier: growth of the backoff per attempt.
    :param jitter: relative jitter, 0.25 means +-25 %.
    """

    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise SimConfigurationError(f"max_retries must be a whole number >= 0, got {self.max_retries!r}.")
        for name in ("initial_delay", "max_delay", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SimConfigurationError(f"{name} must be a positive number, got {value!r}.")
        if not 0 <= self.jitter < 1:
            raise SimConfigurationError(f"jitter must be in [0, 1), got {self.jitter!r}.")


def should_retry(spec: RequestSpec, error: BaseException) -> bool:
    """Whether ``error`` from sending ``spec`` may be retried (see the module docstring)."""
    if isinstance(error, SimRateLimitError):
        return True
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
            wait = min(float(hint), MAX_SERVER_WAIT_SECONDS)
            return wait + random.uniform(0, min(s.jitter * wait, MAX_HINT_SPREAD_SECONDS))
        backoff = min(s.initial_delay * s.multiplier ** (retry_state.attempt_number - 1), s.max_delay)
        return backoff * random.uniform(1 - s.jitter, 1 + s.jitter)


def retry_policy(settings: RetrySettings, spec: RequestSpec, log: logging.Logger | Any) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike."""

    def log_before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Retrying Sim %s %s (%d of %d) in %.1f s%s after: %s",
            spec.method,
            spec.path,
            state.attempt_number,
            settings.max_retries,
            wait,
            f" under the same run id {spec.run_id}" if spec.is_execute else "",
            error,
        )

    return {
        "stop": stop_after_attempt(settings.max_retries + 1),
        "wait": WaitForSim(settings),
        "retry": retry_if_exception(lambda error: should_retry(spec, error)),
        "reraise": True,
        "before_sleep": log_before_sleep,
    }
