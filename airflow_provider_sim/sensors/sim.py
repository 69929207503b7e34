"""Wait for a Sim run (or legacy job) that something else started."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_sim.connection_form import DEFAULT_CONN_ID
from airflow_provider_sim.events import run_from_event
from airflow_provider_sim.exceptions import SimConfigurationError, SimError
from airflow_provider_sim.operators.runs import PAUSE_CHOICES, complete
from airflow_provider_sim.protocol.models import RunStatus, SimRun
from airflow_provider_sim.version_compat import (
    AirflowSkipException,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    default_deferrable,
)

if TYPE_CHECKING:  # the hook (requests, tenacity, sseclient) and the trigger (Airflow's trigger base)
    # load when a task runs, not when a DAG file is parsed
    from airflow_provider_sim.hooks.sim import SimHook


class SimJobSensor(BaseSensorOperator):
    """Wait until a Sim run finishes; its output becomes the sensor's XCom ``return_value``.

    Give ``workflow_id`` and ``run_id`` (a v2 run id or v1 execution id, e.g. from
    ``SimExecuteWorkflowOperator(wait_for_completion=False)``), or ``job_id`` for a legacy v1 job.
    Works in ``poke`` and ``reschedule`` mode and with ``deferrable=True``. A failed or cancelled
    run fails the task, or skips it with ``soft_fail=True``.

    :param workflow_id: the workflow the run belongs to (templated).
    :param run_id: the run to wait for (templated).
    :param job_id: a legacy async job id, instead of workflow and run id (templated).
    :param sim_conn_id: the ``sim`` connection (templated).
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param on_pause: when the run pauses for human input: ``"wait"`` (default) keeps waiting
        through the pause, in every mode (poke, reschedule, deferred), until someone answers it
        (in Sim, or with ``SimResumeRunOperator``) and the run ends; ``"succeed"`` ends the sensor
        at the pause (``sim_status`` is ``paused``); ``"fail"`` fails it there.
    """

    template_fields: Sequence[str] = ("workflow_id", "run_id", "job_id", "sim_conn_id")

    def __init__(
        self,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
        job_id: str | None = None,
        sim_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        on_pause: str = "wait",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not job_id and not (workflow_id and run_id):
            raise SimConfigurationError(
                'SimJobSensor needs workflow_id and run_id (e.g. \'{{ ti.xcom_pull(task_ids="start", '
                'key="sim_run_id") }}\'), or job_id for a legacy v1 job.'
            )
        if on_pause not in PAUSE_CHOICES:
            raise SimConfigurationError(f"on_pause must be one of {PAUSE_CHOICES}, got {on_pause!r}.")
        self.workflow_id = workflow_id or ""
        self.run_id = run_id
        self.job_id = job_id
        self.sim_conn_id = sim_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.on_pause = on_pause

    @cached_property
    def hook(self) -> SimHook:
        """The Sim hook for ``sim_conn_id``."""
        from airflow_provider_sim.hooks.sim import SimHook

        return SimHook(self.sim_conn_id)

    def _read(self) -> SimRun:
        return self.hook.get_run(self.workflow_id, self.run_id or str(self.job_id), job_id=self.job_id)

    def _is_done(self, run: SimRun) -> bool:
        return run.status.is_terminal or (run.status is RunStatus.PAUSED and self.on_pause != "wait")

    def _complete(self, context: Context, run: SimRun) -> Any:
        try:
            return complete(context, run, on_pause=self.on_pause, log=self.log)
        except SimError as err:
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping (soft_fail): {err}") from err
            raise

    def poke(self, context: Context) -> Any:
        """One status read; done when the run is terminal (or paused, unless waiting on pauses).

        A read Sim's rate limits would hold past the next poke is not made: the poke reports "not
        done" and the next one tries again (Sim's budget refills meanwhile), so a 429 never fails
        the sensor.
        """
        from airflow_provider_sim.exceptions import SimRateLimitError
        from airflow_provider_sim.retry import deadline

        try:
            with deadline(time.time() + float(self.poke_interval), "the sensor's next poke"):
                run = self._read()
        except SimRateLimitError as err:
            if not err.deadline_exceeded:
                raise
            self.log.info("Sim is rate-limiting run reads; trying again at the next poke: %s", err)
            return False
        self.log.info("Sim run %s is %s", run.run_id, run.status.value)
        if not self._is_done(run):
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._complete(context, run))

    def execute(self, context: Context) -> Any:
        """Poke/reschedule as usual, or (deferrable) check once and then wait in the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_sim.exceptions import SimRateLimitError
        from airflow_provider_sim.retry import deadline

        try:  # one look before deferring; if Sim's rate limits say wait, the trigger will look
            with deadline(time.time() + float(self.poke_interval), "the look before deferring"):
                run: SimRun | None = self._read()
        except SimRateLimitError as err:
            if not err.deadline_exceeded:
                raise
            run = None
        if run is not None and self._is_done(run):
            return self._complete(context, run)
        from airflow_provider_sim.triggers.sim import SimRunTrigger

        self.defer(
            trigger=SimRunTrigger(
                sim_conn_id=self.sim_conn_id,
                workflow_id=self.workflow_id,
                run_id=self.run_id,
                job_id=self.job_id,
                poll_interval=float(self.poke_interval),
                end_time=time.time() + float(self.timeout),
                cancel_on_timeout=False,
                return_on_pause=self.on_pause != "wait",
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: validate its event and finish like a poke would."""
        try:
            run = run_from_event(event)
        except SimError as err:
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping (soft_fail): {err}") from err
            raise
        return self._complete(context, run)
