"""Sim operations as flows: generators that yield requests (and waits) and receive answers.

A flow holds all of an operation's logic and does no I/O, in the manner of httpx's
``Auth.auth_flow``. A driver (the sync :class:`~airflow_provider_sim.hooks.sim.SimHook` or the
async :class:`~airflow_provider_sim.hooks.sim_async.SimAsyncHook`) sends each yielded
:class:`RequestSpec` (with retries) and sends back the :class:`HttpResponse`, or throws the
exception the request ended in; it sleeps for each yielded :class:`Sleep`. So the sync and async
sides cannot drift: they run the same flows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from airflow_provider_sim.exceptions import (
    SimConflictError,
    SimNotFoundError,
    SimRateLimitError,
    SimWaitTimeoutError,
)
from airflow_provider_sim.protocol.build import (
    ExecuteMode,
    build_cancel,
    build_deployment_status,
    build_execute,
    build_get_job,
    build_get_run,
    build_get_workflow,
    build_list_runs,
    build_resume,
    build_usage_limits,
)
from airflow_provider_sim.protocol.models import (
    ApiVersion,
    CancelResult,
    DeploymentStatus,
    HttpResponse,
    RequestSpec,
    RunPage,
    RunStatus,
    SimRun,
    Sleep,
    UsageLimits,
    WorkflowInfo,
)
from airflow_provider_sim.protocol.parse import (
    parse_cancel,
    parse_deployment,
    parse_execute,
    parse_job,
    parse_run,
    parse_run_list,
    parse_usage_limits,
    parse_workflow,
)
from airflow_provider_sim.protocol.quota import poll_delay

T = TypeVar("T")
Flow = Generator[RequestSpec | Sleep, Any, T]

log = logging.getLogger(__name__)


def single(spec: RequestSpec, parse: Callable[[HttpResponse], T]) -> Flow[T]:
    """One request, one parse."""
    response = yield spec
    return parse(response)


def list_runs(workflow_id: str, *, start_date: datetime | None, cursor: str | None) -> Flow[RunPage]:
    """One page of a workflow's runs started at or after ``start_date`` (v2 only)."""
    spec = build_list_runs(workflow_id, start_date=start_date, cursor=cursor)
    return (yield from single(spec, lambda response: parse_run_list(response, workflow_id)))


def deployment_status(workflow_id: str) -> Flow[DeploymentStatus]:
    """Whether the workflow is deployed."""
    spec = build_deployment_status(workflow_id)
    return (yield from single(spec, lambda response: parse_deployment(response, workflow_id)))


def get_workflow(workflow_id: str) -> Flow[WorkflowInfo]:
    """Name and workspace of a workflow (v2)."""
    spec = build_get_workflow(workflow_id)
    return (yield from single(spec, lambda response: parse_workflow(response, workflow_id)))


def usage_limits() -> Flow[UsageLimits]:
    """Rate-limit buckets, spend and plan of the key's account."""
    return (yield from single(build_usage_limits(), parse_usage_limits))


def cancel(api: ApiVersion, workflow_id: str, run_id: str) -> Flow[CancelResult]:
    """Cancel a run. A run that already finished is reported (``cancelled=False``), not raised:
    v2 says so in ``reason``, v1 answers 409."""
    spec = build_cancel(api, workflow_id, run_id)
    try:
        response = yield spec
    except SimConflictError:
        return CancelResult(run_id, cancelled=False, reason="already_finished")
    return parse_cancel(spec, response, run_id)


def resume(
    api: ApiVersion, workflow_id: str, run_id: str, context_id: str, input: Any = None
) -> Flow[SimRun]:
    """Answer a run paused for human input. The answer has an execute's shape (a result, or 202
    queued) and may name a new resume attempt; the run is still ``run_id``, so that is returned
    (without the attempt's status URL: Sim answers it with 404)."""
    spec = build_resume(api, workflow_id, run_id, context_id, input)
    response = yield spec
    as_execute = replace(spec, is_execute=True, run_id=run_id)
    answer = parse_execute(as_execute, response, workflow_id)
    attempt = answer.run_id if answer.run_id != run_id else None
    return replace(answer, run_id=run_id, status_url=None, resume_attempt_id=attempt)


def get_run(
    api: ApiVersion,
    workflow_id: str,
    run_id: str,
    *,
    job_id: str | None = None,
    include_output: bool = True,
    selected_outputs: Sequence[str] | None = None,
) -> Flow[SimRun]:
    """Read a run: a legacy job when ``job_id`` is given, else a v2 run or a v1 execution."""
    if job_id:
        response = yield build_get_job(job_id)
        return parse_job(response, job_id, workflow_id, run_id)
    spec = build_get_run(
        api, workflow_id, run_id, include_output=include_output, selected_outputs=selected_outputs
    )
    response = yield spec
    return parse_run(spec, response, workflow_id, run_id)


def wait_for_run(
    api: ApiVersion,
    workflow_id: str,
    run_id: str,
    *,
    job_id: str | None = None,
    poll_interval: float = 5.0,
    max_poll_interval: float | None = None,
    timeout: float | None = None,
    return_on_pause: bool = True,
    selected_outputs: Sequence[str] | None = None,
    on_status: Callable[[SimRun, float], None] | None = None,
    first_wait: float | None = None,
) -> Flow[SimRun]:
    """Poll a run until it is terminal (or paused, with ``return_on_pause``).

    Reads come every ``poll_interval`` while the run is young, then less often
    (:func:`~airflow_provider_sim.protocol.quota.poll_delay`). A read Sim refuses for longer than
    the time left ends the wait at its deadline, not before: the run may still end meanwhile.

    :param timeout: seconds to wait in all; then :class:`SimWaitTimeoutError` (the run goes on).
    :param on_status: called with the run and the elapsed seconds whenever its status changes.
    :param first_wait: seconds between the first and second read, if not ``poll_interval``.
    """
    started = time.monotonic()
    last_status: RunStatus | None = None
    next_wait = first_wait
    while True:
        try:
            run = yield from get_run(
                api, workflow_id, run_id, job_id=job_id, selected_outputs=selected_outputs
            )
        except SimRateLimitError as limited:
            if not limited.deadline_exceeded or timeout is None:
                raise
            left = timeout - (time.monotonic() - started)
            if left > 0:
                yield Sleep(left)
            raise SimWaitTimeoutError(
                f"Stopped waiting for Sim run {run_id} of workflow {workflow_id!r} at the deadline: {limited}"
            ) from limited
        elapsed = time.monotonic() - started
        if run.status is not last_status:
            last_status = run.status
            if on_status is not None:
                on_status(run, elapsed)
        if run.status.is_terminal or (return_on_pause and run.status is RunStatus.PAUSED):
            return run
        if timeout is not None and elapsed >= timeout:
            raise SimWaitTimeoutError(
                f"Sim run {run_id} of workflow {workflow_id!r} is still {run.status.value} after "
                f"{elapsed:.0f} s; raise the timeout or wait for it with SimJobSensor"
            )
        wait = poll_delay(poll_interval, elapsed, max_poll_interval) if next_wait is None else next_wait
        next_wait = None
        yield Sleep(wait if timeout is None else min(wait, max(timeout - elapsed, 0.0)))


def execute(
    api: ApiVersion,
    workflow_id: str,
    input: Any = None,
    *,
    run_id: str,
    mode: ExecuteMode = "sync",
    selected_outputs: Sequence[str] | None = None,
    execution_timeout_seconds: int | None = None,
    sync_timeout: float | None = None,
    poll_interval: float = 2.0,
) -> Flow[SimRun]:
    """Start a run named ``run_id``; never a second one.

    When a resend of the execute (after a read timeout, a reset or an ambiguous 503) finds the id
    taken, the first attempt got through: the flow reads that run (and, for a synchronous execute,
    waits for it) instead of starting another. A 409 on the first attempt is raised: someone else
    used the id.
    """
    spec = build_execute(
        api,
        workflow_id,
        input,
        run_id=run_id,
        mode=mode,
        selected_outputs=selected_outputs,
        execution_timeout_seconds=execution_timeout_seconds,
        sync_timeout=sync_timeout,
    )
    try:
        response = yield spec
    except SimConflictError as conflict:
        if not conflict.after_resend:
            raise
        log.warning(
            "An earlier attempt to start Sim run %s of workflow %r got through; using that run "
            "instead of starting another",
            run_id,
            workflow_id,
        )
        if mode == "async":
            try:
                return (yield from get_run(api, workflow_id, run_id, selected_outputs=selected_outputs))
            except SimNotFoundError:  # accepted but not yet visible: it is queued
                return SimRun(run_id, workflow_id, RunStatus.QUEUED)
        return (
            yield from wait_for_run(
                api,
                workflow_id,
                run_id,
                poll_interval=poll_interval,
                timeout=sync_timeout,
                return_on_pause=True,
                selected_outputs=selected_outputs,
            )
        )
    run = parse_execute(spec, response, workflow_id)
    if run.status is RunStatus.PAUSED and run.paused is None:  # v2's execute answer omits where it waits
        status = yield from get_run(api, workflow_id, run.run_id, selected_outputs=selected_outputs)
        run = replace(run, paused=status.paused)  # the status read has no output for a paused run
    return run
