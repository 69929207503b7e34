"""The one retry policy: what it retries, how long it waits, and that it stops."""

from __future__ import annotations

import logging
import time

import pytest
from tenacity import RetryCallState, Retrying

from airflow_provider_sim.exceptions import (
    SimAuthError,
    SimConfigurationError,
    SimConnectionError,
    SimRateLimitError,
    SimServerError,
    SimServiceUnavailableError,
    SimUsageLimitError,
)
from airflow_provider_sim.protocol.build import build_execute, build_get_run, build_resume
from airflow_provider_sim.protocol.models import ApiVersion
from airflow_provider_sim.retry import (
    Deadline,
    RetrySettings,
    WaitForSim,
    call_deadline,
    deadline,
    retry_policy,
    should_retry,
    wait_deadline,
)

READ = build_get_run(ApiVersion.V2, "wf", "r1")
EXECUTE = build_execute(ApiVersion.V2, "wf", {}, run_id="r1")
RESUME = build_resume(ApiVersion.V2, "wf", "r1", "ctx")


def rate_limited(retry_after: float | None = None) -> SimRateLimitError:
    return SimRateLimitError("slow down", retry_after=retry_after, http_status=429)


@pytest.mark.parametrize(
    ("spec", "error", "expected"),
    [
        (EXECUTE, rate_limited(), True),
        (EXECUTE, SimConnectionError("reset", outcome_unknown=True), True),
        (EXECUTE, SimServiceUnavailableError("ambiguous", retry_after=None, http_status=503), True),
        (READ, SimServiceUnavailableError("gateway", retry_after=None, http_status=504), True),
        (RESUME, SimConnectionError("reset", outcome_unknown=True), False),
        (RESUME, SimConnectionError("refused", outcome_unknown=False), True),
        (RESUME, SimServiceUnavailableError("capacity", retry_after=5, http_status=503), True),
        (EXECUTE, SimUsageLimitError("limit", http_status=402), False),
        (EXECUTE, SimAuthError("key", http_status=401), False),
        (EXECUTE, SimServerError("boom", http_status=500), False),
        (READ, ValueError("not ours"), False),
    ],
)
def test_what_is_retried(spec: object, error: BaseException, expected: bool) -> None:
    assert should_retry(spec, error) is expected  # type: ignore[arg-type]


def state_after(error: BaseException, attempt: int) -> RetryCallState:
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


@pytest.mark.parametrize(("hint", "most"), [(2, 2.5), (7, 8.0), (60, 61.0)])
def test_wait_honours_the_servers_hint_plus_a_bounded_spread(hint: float, most: float) -> None:
    wait = WaitForSim(RetrySettings(jitter=0.25))
    waits = [wait(state_after(rate_limited(retry_after=hint), 1)) for _ in range(200)]
    assert min(waits) >= hint and max(waits) <= most and len(set(waits)) > 1


def test_wait_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    wait = WaitForSim(RetrySettings(initial_delay=1, max_delay=30, multiplier=2, jitter=0.25))
    for attempt, base in [(1, 1), (2, 2), (3, 4), (6, 30), (9, 30)]:
        waits = [wait(state_after(rate_limited(), attempt)) for _ in range(200)]
        assert base * 0.75 <= min(waits) and max(waits) <= base * 1.25


def unavailable() -> SimServiceUnavailableError:
    return SimServiceUnavailableError("busy", retry_after=3, http_status=503)


def policy_for(settings: RetrySettings, spec: object, left: float | None) -> dict[str, object]:
    limit = Deadline(None if left is None else time.time() + left, "the operator's timeout")
    policy = retry_policy(settings, spec, logging.getLogger("test.retry"), limit)  # type: ignore[arg-type]
    policy["sleep"] = lambda seconds: None
    return policy


def test_policy_stops_after_max_retries_and_logs_each_wait(caplog: pytest.LogCaptureFixture) -> None:
    calls = []
    with caplog.at_level(logging.WARNING, "test.retry"), pytest.raises(SimServiceUnavailableError):
        for attempt in Retrying(**policy_for(RetrySettings(max_retries=2), READ, 3600)):
            with attempt:
                calls.append(1)
                raise unavailable()
    assert len(calls) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "(1 of 2) in 3." in messages[0] and "(2 of 2) in 3." in messages[1]


@pytest.mark.parametrize("spec", [READ, EXECUTE])
def test_429s_wait_for_their_turn_beyond_max_retries_and_are_logged_once(
    spec: object, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []
    with caplog.at_level(logging.WARNING, "test.retry"):
        for attempt in Retrying(**policy_for(RetrySettings(max_retries=1), spec, None)):
            with attempt:
                calls.append(1)
                if len(calls) <= 12:
                    raise rate_limited(retry_after=5)
    assert len(calls) == 13
    assert len(caplog.records) == 1 and "waiting for our turn" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("limit_code", "fix"),
    [("EXECUTION_CONCURRENCY_LIMIT", "runs in flight"), ("RATE_LIMITED", "a longer poll_interval")],
)
def test_a_hint_past_the_deadline_ends_the_call_at_once_naming_the_limit_and_the_fix(
    limit_code: str, fix: str
) -> None:
    calls = []
    error = SimRateLimitError(
        "slow down", retry_after=3600, http_status=429, limit_code=limit_code, operation="workflows.execute"
    )
    with pytest.raises(SimRateLimitError) as raised:
        for attempt in Retrying(**policy_for(RetrySettings(), EXECUTE, 5)):
            with attempt:
                calls.append(1)
                raise error
    message = str(raised.value)
    assert len(calls) == 1 and raised.value.deadline_exceeded and raised.value.__cause__ is error
    assert "3600 s" in message and "the operator's timeout leaves" in message and limit_code in message
    assert fix in message and "Sim plan" in message


def test_a_bare_call_is_bounded_by_max_rate_limit_wait() -> None:
    limit = call_deadline(RetrySettings(max_rate_limit_wait=45))
    assert 44 < limit.left() <= 45 and "max_rate_limit_wait=45" in limit.source
    with deadline(None, "no deadline"):
        assert call_deadline(RetrySettings()).at is None
    with deadline(time.time() + 10, "the operator's timeout"):
        assert wait_deadline(3600).source == "the operator's timeout"
        assert "wait's timeout" in wait_deadline(2).source


@pytest.mark.parametrize(
    "kwargs", [{"max_retries": -1}, {"max_retries": True}, {"initial_delay": 0}, {"jitter": 1.5}]
)
def test_bad_retry_settings_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(SimConfigurationError):
        RetrySettings(**kwargs)  # type: ignore[arg-type]
