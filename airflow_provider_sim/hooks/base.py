"""What the sync and async Sim hooks share: the connection they read and the arguments that override it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_sim import connection_form
from airflow_provider_sim.exceptions import SimRateLimitError
from airflow_provider_sim.protocol.errors import raise_for_response
from airflow_provider_sim.protocol.models import HttpResponse, RateLimitInfo, RequestSpec
from airflow_provider_sim.protocol.quota import RequestBudget


@contextlib.contextmanager
def in_flight(budget: RequestBudget, spec: RequestSpec) -> Iterator[None]:
    """Count the call in ``budget`` while it is sent. A call that gets no answer (a connection
    error, or cancelled or interrupted while sent) no longer counts; an answer is recorded with
    :func:`settle_answer`. A call left counted would hold every later call of its operation."""
    budget.spend(spec.operation)
    try:
        yield
    except BaseException:
        budget.observe(spec.operation, None, limited=False)
        raise


def settle_answer(
    budget: RequestBudget, spec: RequestSpec, response: HttpResponse, info: RateLimitInfo | None
) -> None:
    """Record Sim's answer in the account's budget, then raise the error it carries, if any.

    A 429 for the account's runs in flight is not the rate limit: its ``Retry-After`` does not
    hold the next call of the operation (starts queued in the triggerer go when a run ends).
    """
    refusal: SimRateLimitError | None = None
    try:
        raise_for_response(spec, response)
    except SimRateLimitError as err:
        refusal = err
        raise
    finally:
        budget.observe(spec.operation, info, limited=refusal is not None and not refusal.is_concurrency_limit)


class SimBaseHook(BaseHook):
    """Base of :class:`~airflow_provider_sim.hooks.sim.SimHook` and
    :class:`~airflow_provider_sim.hooks.sim_async.SimAsyncHook`. Arguments given here win over the
    connection's extras.

    :param sim_conn_id: the Airflow connection id (``sim`` type).
    :param api_version: ``"v2"`` or ``"v1"``; overrides the connection.
    :param timeout: seconds an ordinary API call may take; overrides the connection.
    :param sync_timeout: seconds a synchronous execute may wait; overrides the connection.
    :param max_retries: retries after the first attempt (0 = none); overrides the connection.
    :param retry_initial_delay: first backoff wait in seconds; overrides the connection.
    :param retry_max_delay: longest backoff wait in seconds; overrides the connection.
    :param max_rate_limit_wait: longest wait of one call for its turn under Sim's rate limits when
        no task deadline applies; overrides the connection.
    """

    conn_name_attr = "sim_conn_id"
    default_conn_name = connection_form.DEFAULT_CONN_ID
    conn_type = connection_form.CONN_TYPE
    hook_name = connection_form.HOOK_NAME

    def __init__(
        self,
        sim_conn_id: str = connection_form.DEFAULT_CONN_ID,
        *,
        api_version: str | None = None,
        timeout: float | None = None,
        sync_timeout: float | None = None,
        max_retries: int | None = None,
        retry_initial_delay: float | None = None,
        retry_max_delay: float | None = None,
        max_rate_limit_wait: float | None = None,
    ) -> None:
        super().__init__()
        self.sim_conn_id = sim_conn_id
        # named as SimSettings.with_overrides takes them; None means "not given"
        self._overrides = {
            "api_version": api_version,
            "timeout": timeout,
            "sync_timeout": sync_timeout,
            "max_retries": max_retries,
            "initial_delay": retry_initial_delay,
            "max_delay": retry_max_delay,
            "max_rate_limit_wait": max_rate_limit_wait,
        }
