"""The trigger that waits for a Sim run in the triggerer, so no worker slot is held."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sim.events import error_event, run_event
from airflow_provider_sim.exceptions import SimConfigurationError, SimError, SimWaitTimeoutError
from airflow_provider_sim.protocol.build import check_run_id, check_timeout, check_workflow_id
from airflow_provider_sim.protocol.models import RunStatus
from airflow_provider_sim.retry import Deadline

if TYPE_CHECKING:  # imported where used: DAG files import this module, the triggerer runs it
    from airflow_provider_sim.hooks.sim_async import SimAsyncHook
    from airflow_provider_sim.protocol.models import SimRun


class SimRunTrigger(BaseTrigger):
    """Poll a Sim run until it finishes (or pauses), then fire one event.

    Everything it needs is in its arguments, all JSON primitives, so a restarted triggerer resumes
    the wait from the run id alone; it starts the run only when given ``start``, and never twice.
    The API key is not among them: the trigger reads the connection itself, with Airflow's async-safe lookup.

    :param sim_conn_id: the Airflow connection to Sim.
    :param workflow_id: the workflow the run belongs to (not needed with ``job_id``).
    :param run_id: the run to wait for (v2 run id / v1 execution id).
    :param job_id: a legacy async job id (``/api/jobs/{id}``), instead of or besides the run id.
    :param poll_interval: seconds between status reads.
    :param end_time: absolute deadline (Unix epoch seconds); ``None`` waits without limit. An
        absolute time survives triggerer restarts, unlike a duration.
    :param cancel_on_timeout: cancel the run on Sim when the deadline passes, and (Airflow 3.3+) when
        the deferred task is marked failed or success, or cleared. Set by the operator, which started
        the run; not by the sensor, which only watches one.
    :param return_on_pause: fire when the run pauses for human input, instead of waiting on.
    :param start: start the run first, as an async run named ``run_id``: ``{"input": ...,
        "selected_outputs": [...], "execution_timeout_seconds": n}`` (JSON). Starts of one account
        take turns in the triggerer when Sim's cap of runs in flight is reached (see
        :mod:`airflow_provider_sim.hooks.run_starter`); a restarted trigger finds its run started
        (409) and waits for it, so it never starts a second one.
    :param try_number: the task try that deferred, repeated in the event so the task can tell a
        stale event from its own (Airflow 3.0 hands a retried task the previous try's event,
        apache/airflow#56704).
    :param end_from_trigger: end the task from the triggerer when the run completes: a
        ``TaskSuccessEvent`` whose XComs are those the worker would push (the output as
        ``return_value``, ``sim_status``, ``sim_duration_ms``, ``sim_cost``), so the task does not
        run in a worker again. Any other ending (failure, cancel, pause, timeout, API error) fires
        the usual event and resumes the task in the worker. Serialised only when set, so triggers
        serialised before it existed load unchanged.
    """

    def __init__(
        self,
        *,
        sim_conn_id: str,
        workflow_id: str = "",
        run_id: str | None = None,
        job_id: str | None = None,
        poll_interval: float = 5.0,
        end_time: float | None = None,
        cancel_on_timeout: bool = True,
        return_on_pause: bool = False,
        start: dict[str, Any] | None = None,
        try_number: int | None = None,
        end_from_trigger: bool = False,
    ) -> None:
        super().__init__()
        self.job_id = check_run_id(job_id, name="job_id") if job_id is not None else None
        if self.job_id is None and not (workflow_id and run_id):
            raise SimConfigurationError(
                "Give workflow_id and run_id of the run to wait for, or the job_id of a v1 job."
            )
        self.workflow_id = check_workflow_id(workflow_id) if workflow_id else ""
        self.run_id = check_run_id(run_id) if run_id else str(self.job_id)
        if not isinstance(sim_conn_id, str) or not sim_conn_id:
            raise SimConfigurationError(f"sim_conn_id must be a connection id string, got {sim_conn_id!r}.")
        self.sim_conn_id = sim_conn_id
        self.poll_interval = check_timeout(poll_interval, name="poll_interval")
        if end_time is not None and (
            isinstance(end_time, bool) or not isinstance(end_time, int | float) or not math.isfinite(end_time)
        ):
            raise SimConfigurationError(
                "end_time must be an absolute Unix timestamp in seconds (e.g. time.time() + 3600), "
                f"got {end_time!r}."
            )
        self.end_time = float(end_time) if end_time is not None else None
        self.cancel_on_timeout = bool(cancel_on_timeout)
        self.return_on_pause = bool(return_on_pause)
        if start is not None and (not isinstance(start, dict) or self.job_id is not None or not run_id):
            raise SimConfigurationError(
                "start is a dict of the start's arguments and needs run_id (not job_id)."
            )
        self.start = start
        if try_number is not None and (isinstance(try_number, bool) or not isinstance(try_number, int)):
            raise SimConfigurationError(
                f"try_number must be the task's try number (int), got {try_number!r}."
            )
        self.try_number = try_number
        self.end_from_trigger = bool(end_from_trigger)
        json.dumps(self.serialize()[1])  # kwargs must stay JSON primitives; fail here, in the worker

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath (derived from the class) and JSON-primitive kwargs."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workflow_id": self.workflow_id,
                "run_id": self.run_id,
                "sim_conn_id": self.sim_conn_id,
                "job_id": self.job_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "cancel_on_timeout": self.cancel_on_timeout,
                "return_on_pause": self.return_on_pause,
                **({"start": self.start} if self.start is not None else {}),
                **({"try_number": self.try_number} if self.try_number is not None else {}),
                **({"end_from_trigger": True} if self.end_from_trigger else {}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait through the process's shared run watcher for this account; fire exactly one event.

        The watcher lists the workflow's runs for every trigger at once and paces its calls to the
        budget Sim announces; this trigger only registers its run and awaits its own result under
        its own deadline, and leaves the watcher when it is cancelled.
        """
        from airflow_provider_sim.hooks.run_watcher import RunWatcher
        from airflow_provider_sim.hooks.sim_async import SimAsyncHook

        deadline = Deadline(self.end_time, "the task's deadline (the trigger's end_time)")
        async with SimAsyncHook(self.sim_conn_id) as hook:
            try:
                job_id = self.job_id
                if self.start is not None:
                    job_id = (await self._start_run(hook, deadline)).job_id
                watcher = RunWatcher.for_settings(await hook.settings())
                run = await watcher.wait(
                    self.workflow_id,
                    self.run_id,
                    job_id=job_id,
                    poll_interval=self.poll_interval,
                    return_on_pause=self.return_on_pause,
                    deadline=deadline,
                )
            except SimWaitTimeoutError:
                yield self._event(await self._time_out(hook))
                return
            except SimError as err:
                yield self._event(error_event(self.workflow_id, self.run_id, err))
                return
            self.log.info("Sim run %s is %s", self.run_id, run.status.value)
            if self.end_from_trigger and run.status is RunStatus.COMPLETED:
                yield self._task_success(run)
                return
            yield self._event(run_event(run))

    def _event(self, payload: dict[str, Any]) -> TriggerEvent:
        return TriggerEvent(
            payload if self.try_number is None else {**payload, "try_number": self.try_number}
        )

    def _task_success(self, run: SimRun) -> TriggerEvent:
        """Airflow marks the task successful with these XComs, without resuming it in a worker."""
        from airflow.triggers.base import TaskSuccessEvent

        from airflow_provider_sim.operators.runs import result_xcoms

        return TaskSuccessEvent(xcoms=result_xcoms(run, with_return_value=True))

    async def _start_run(self, hook: SimAsyncHook, deadline: Deadline) -> SimRun:
        from airflow_provider_sim.hooks.run_starter import start_in_turn

        assert self.start is not None
        run = await start_in_turn(
            hook,
            self.workflow_id,
            self.start.get("input"),
            run_id=self.run_id,
            deadline=deadline,
            selected_outputs=self.start.get("selected_outputs"),
            execution_timeout_seconds=self.start.get("execution_timeout_seconds"),
        )
        self.log.info(
            "Started Sim run %s of workflow %r (%s)",
            run.run_id,
            self.workflow_id,
            run.status.value,
        )
        return run

    async def _time_out(self, hook: SimAsyncHook) -> dict[str, Any]:
        message = f"Sim run {self.run_id} did not finish before the operator's timeout"
        if self.cancel_on_timeout:
            try:
                result = await hook.cancel_run(self.workflow_id, self.run_id)
                message += (
                    "; cancelled it on Sim" if result.cancelled else f"; not cancelled ({result.reason})"
                )
            except SimError as err:
                message += f"; cancelling it failed: {err}"
        self.log.warning(message)
        return error_event(self.workflow_id, self.run_id, SimError(message, code="TIMEOUT"), timed_out=True)

    async def on_kill(self) -> None:
        """Airflow 3.3+ calls this when the deferred task is marked failed/success or cleared (not on
        a triggerer restart): cancel the run, best effort."""
        if not self.cancel_on_timeout:
            return
        from airflow_provider_sim.hooks.sim_async import SimAsyncHook

        try:
            async with SimAsyncHook(self.sim_conn_id) as hook:
                result = await hook.cancel_run(self.workflow_id, self.run_id)
            self.log.info(
                "Task stopped while deferred: Sim run %s %s",
                self.run_id,
                "cancelled" if result.cancelled else f"not cancelled ({result.reason})",
            )
        except SimError as err:
            self.log.warning(
                "Task stopped while deferred; cancelling Sim run %s failed: %s", self.run_id, err
            )
