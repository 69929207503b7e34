"""Run a Sim workflow as an Airflow task."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_sim.connection_form import DEFAULT_CONN_ID
from airflow_provider_sim.events import run_from_event
from airflow_provider_sim.exceptions import SimConfigurationError, SimConflictError, SimWaitTimeoutError
from airflow_provider_sim.links import SimRunLink
from airflow_provider_sim.operators.hitl import AsksInAirflow, check_available
from airflow_provider_sim.operators.lineage import SimRunLineage
from airflow_provider_sim.operators.runs import (
    PAUSE_CHOICES,
    find_previous_run,
    parse_template_input,
    publish_run,
    remember_run,
    run_id_for_try,
    task_deadline,
)
from airflow_provider_sim.operators.trigger_end import (
    check_end_from_trigger,
    is_task_end_payload,
    run_ended_in_trigger,
)
from airflow_provider_sim.protocol.build import check_execution_timeout, check_timeout, check_workflow_id
from airflow_provider_sim.protocol.models import RunError, RunStatus, SimRun
from airflow_provider_sim.version_compat import BaseOperator, Context, default_deferrable

if TYPE_CHECKING:  # the hook (requests, tenacity, sseclient) and the trigger (Airflow's trigger base)
    # load when a task runs, not when a DAG file is parsed
    from airflow_provider_sim.hooks.sim import SimHook


#: how long the best-effort cancel of a run may wait for Sim (rate limits included) as a task ends
CANCEL_SECONDS = 30.0
#: the largest input (as JSON) a deferrable task hands to the triggerer to start the run with
MAX_TRIGGER_INPUT_BYTES = 64 * 1024
#: ``on_pause`` choices of the operator: the sensor's, and asking the person in Airflow
OPERATOR_PAUSE_CHOICES = (*PAUSE_CHOICES, "airflow")


class SimExecuteWorkflowOperator(SimRunLineage, AsksInAirflow, BaseOperator):
    """Run a deployed Sim workflow and return its output (XCom ``return_value``).

    Modes: by default the run is started asynchronously and polled from the worker;
    ``deferrable=True`` waits in the triggerer instead (no worker slot held);
    ``async_execution=False`` uses Sim's synchronous call; ``stream=True`` writes each streamed
    chunk to the task log; ``wait_for_completion=False`` starts the run and returns its id.

    Each try names its run with an id derived from the task instance and try number, so a retry
    re-attaches to a run an earlier try started (if it is still going or completed) instead of
    starting another, and nothing the hook retries can start a second run.

    XCom keys besides the return value: ``sim_run_id``, ``sim_workflow_id``, ``sim_run_url``
    (pushed before waiting), ``sim_status``, ``sim_duration_ms``, ``sim_cost`` (when Sim reports it).

    :param workflow_id: the workflow to run (templated).
    :param input: the workflow input: a dict, any JSON value, or a JSON string rendered from a
        template (templated).
    :param sim_conn_id: the ``sim`` connection (templated).
    :param selected_outputs: block outputs to return, e.g. ``["agent1.content"]`` (templated).
    :param stream: stream the run (Sim's synchronous call) and log each chunk as it arrives.
    :param wait_for_completion: wait for the result; ``False`` returns the run id at once.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param async_execution: start the run asynchronously and poll (default), or use Sim's
        synchronous call (``False``; Sim caps those at 300 s on free plans, 3,000 s on paid ones).
    :param poll_interval: seconds between status reads while waiting.
    :param timeout: seconds for the whole task, waiting for Sim to admit the run included; then the
        run is cancelled and the task fails. ``execution_timeout`` bounds the same way.
    :param execution_timeout_seconds: Sim's own cap for the run (async runs, 1-604800).
    :param check_deployed: check first that the workflow is deployed, and fail with a clear message if not.
    :param on_pause: when the run pauses for human input: ``"wait"`` (default) until it finishes,
        ``"succeed"`` (returning what Sim reports for the paused run: the output so far for a
        synchronous run, usually nothing when polled), ``"fail"``, or ``"airflow"`` (Airflow 3.1+):
        ask the person in Airflow (a Required Action on the task, answered in Airflow's UI or
        REST API), resume the run with the answer and wait on; each later pause asks again. The
        answers (who, when, what) go to XCom ``sim_hitl_answers``; at any pause, Sim's own page
        for it goes to XCom ``sim_resume_url`` and the log.
    :param hitl_params: with ``on_pause="airflow"``: the form (``Param`` or default value by field
        name) when Sim sends none with the pause (a polled run's status carries no display data or
        form; a synchronous run's answer does, and then Sim's form is used). Without either, the
        form is one JSON field ``input``: the whole resume input.
    :param hitl_assignees: who may answer: Airflow users as ``{"id": ..., "name": ...}``.
    :param hitl_response_timeout: how long the person may take; then ``hitl_timeout_answer``
        answers, or (without one) the task fails and the run stays paused in Sim.
    :param hitl_timeout_answer: the form's values to resume with when the response timeout passes
        (fields not named keep the form's defaults); ``None``: fail at the timeout.
    :param start_in_triggerer: with ``deferrable=True``, start the run from the triggerer too (when
        the input is JSON of at most 64 KiB): the worker slot is free at once, and when the
        account is at its plan's cap of runs in flight the triggerer's starts take turns, one per
        run it sees end, instead of each retrying and spending the execute budget on refusals.
    :param end_from_trigger: with ``deferrable=True``, a run that completes ends the task in the
        triggerer (Airflow's ``TaskSuccessEvent``, with the same XComs), saving the task's second
        turn in a worker. Skipped then: ``execute_complete``, success listeners (OpenLineage's
        COMPLETE event) and Asset events (``on_success_callback`` runs, in the DAG processor). A
        failed, cancelled, paused or timed-out run resumes in the worker as without it. Refused
        with ``on_pause="airflow"``, Asset outlets, ``stream`` or ``wait_for_completion=False``.
    """

    template_fields: Sequence[str] = ("workflow_id", "input", "sim_conn_id", "selected_outputs")
    template_fields_renderers = {"input": "json"}
    operator_extra_links = (SimRunLink(),)
    ui_color = "#7c3aed"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        workflow_id: str,
        input: Any = None,
        sim_conn_id: str = DEFAULT_CONN_ID,
        selected_outputs: Sequence[str] | None = None,
        stream: bool = False,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        async_execution: bool = True,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        execution_timeout_seconds: int | None = None,
        check_deployed: bool = False,
        on_pause: str = "wait",
        start_in_triggerer: bool = True,
        hitl_params: dict[str, Any] | None = None,
        hitl_assignees: list[dict[str, str]] | None = None,
        hitl_response_timeout: timedelta | None = None,
        hitl_timeout_answer: dict[str, Any] | None = None,
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.input = input
        self.sim_conn_id = sim_conn_id
        self.selected_outputs = selected_outputs
        self.stream = stream
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.async_execution = async_execution
        self.poll_interval = check_timeout(poll_interval, name="poll_interval")
        self.timeout = check_timeout(timeout, name="timeout") if timeout is not None else None
        self.execution_timeout_seconds = execution_timeout_seconds
        self.check_deployed = check_deployed
        if on_pause not in OPERATOR_PAUSE_CHOICES:
            raise SimConfigurationError(
                f"on_pause must be one of {OPERATOR_PAUSE_CHOICES}, got {on_pause!r}."
            )
        if on_pause == "airflow":
            check_available()
            if stream or not wait_for_completion:
                raise SimConfigurationError(
                    "on_pause='airflow' waits for the run and its answers: it cannot be combined "
                    "with stream=True or wait_for_completion=False."
                )
        self.on_pause = on_pause
        self.hitl_params = hitl_params
        self.hitl_assignees = hitl_assignees
        self.hitl_response_timeout = hitl_response_timeout
        self.hitl_timeout_answer = hitl_timeout_answer
        self.start_in_triggerer = start_in_triggerer
        if stream and (deferrable or not wait_for_completion):
            raise SimConfigurationError(
                "stream=True reads the run's output in the worker as it is produced: it cannot be "
                "combined with deferrable=True or wait_for_completion=False."
            )
        is_async = (async_execution or self.deferrable or not wait_for_completion) and not stream
        check_execution_timeout(execution_timeout_seconds, is_async=is_async)
        self.end_from_trigger = end_from_trigger
        if end_from_trigger:
            check_end_from_trigger(self)
        self._run: SimRun | None = None
        self._killed = False
        #: the task try this instance runs in; a deferral names it (see ``execute_complete``)
        self._try_number: int | None = None

    @cached_property
    def hook(self) -> SimHook:
        """The Sim hook for ``sim_conn_id``."""
        from airflow_provider_sim.hooks.sim import SimHook

        return SimHook(self.sim_conn_id)

    def execute(self, context: Context) -> Any:
        """Start (or re-attach to) the run, then wait for it the way the parameters say.

        Every call to Sim runs under the task's deadline (``timeout``, ``execution_timeout``): an
        execute Sim refuses for its rate or in-flight limits waits for its turn until then, and a
        rate-limit hint past it ends the task at once with a message naming the limit.
        """
        from airflow_provider_sim.retry import deadline

        self._try_number = int(context["ti"].try_number)
        with deadline(*task_deadline(context, self.timeout, self.execution_timeout)):
            return self._execute(context)

    def _execute(self, context: Context) -> Any:
        workflow_id = check_workflow_id(self.workflow_id)
        workflow_input = parse_template_input(self.input)
        if self.check_deployed and not self.hook.get_deployment_status(workflow_id).is_deployed:
            raise SimConfigurationError(
                f"Sim workflow {workflow_id!r} is not deployed: deploy it in Sim (Deploy button) first; "
                "an API key never runs a draft."
            )
        run = find_previous_run(self.hook, context, workflow_id, self.log)
        if run is None:
            run_id = run_id_for_try(context, int(context["ti"].try_number))
            if self.stream:
                return self._stream(context, workflow_id, workflow_input, run_id)
            if (start := self._start_for_trigger(workflow_input)) is not None:
                self._defer_start(context, SimRun(run_id, workflow_id, RunStatus.QUEUED), start)
            run = self._start(context, workflow_id, workflow_input, run_id)
        self._run = run
        publish_run(self.hook, context, run, self.log)
        if self.on_pause == "airflow":
            self._start_answers(context)
        if not self.wait_for_completion:
            return run.run_id
        if self._is_done(run):
            return self._finish(context, run)
        if self.deferrable:
            self._defer(run)
        return self._finish(context, self._wait(run))

    def _start(self, context: Context, workflow_id: str, workflow_input: Any, run_id: str) -> SimRun:
        is_async = self.async_execution or self.deferrable or not self.wait_for_completion
        self.log.info(
            "Starting Sim workflow %r as run %s (%s)", workflow_id, run_id, "async" if is_async else "sync"
        )
        asked = time.monotonic()
        # named before it exists, so a kill while the execute is under way still cancels it
        self._run = SimRun(run_id, workflow_id, RunStatus.QUEUED)
        try:
            run = self.hook.execute_workflow(
                workflow_id,
                workflow_input,
                run_id=run_id,
                async_execution=is_async,
                selected_outputs=self.selected_outputs,
                execution_timeout_seconds=self.execution_timeout_seconds,
            )
        except SimConflictError:  # this very try already started it (e.g. the worker was restarted)
            run = self.hook.get_run(workflow_id, run_id)
        if self._killed:  # killed while Sim started it: the cancel may have come before the run
            self._run = run
            self._cancel("the task was killed while Sim started the run")
        if (waited := time.monotonic() - asked) > 5:
            self.log.info("Sim admitted run %s after %.0f s waiting for its turn", run_id, waited)
        remember_run(context, run)
        return run

    def _stream(self, context: Context, workflow_id: str, workflow_input: Any, run_id: str) -> Any:
        self.log.info("Streaming Sim workflow %r as run %s", workflow_id, run_id)
        self._run = SimRun(run_id, workflow_id, RunStatus.RUNNING)
        publish_run(self.hook, context, self._run, self.log)  # id and link before the stream opens
        result = SimRun(run_id, workflow_id, RunStatus.FAILED)
        for frame in self.hook.stream_workflow(
            workflow_id, workflow_input, run_id=run_id, selected_outputs=self.selected_outputs
        ):
            if frame.kind == "chunk":
                self.log.info("[%s] %s", frame.block_id or "stream", frame.chunk)
            elif frame.kind == "stream_error":
                self.log.warning("[%s] stream error: %s", frame.block_id or "stream", frame.error)
            elif frame.kind in ("final", "error"):
                status = frame.status or (RunStatus.COMPLETED if frame.success else RunStatus.FAILED)
                error = RunError(frame.error) if frame.error else None
                result = SimRun(run_id, workflow_id, status, output=frame.output, error=error)
        return self._finish(context, result)

    def _is_done(self, run: SimRun) -> bool:
        return run.status.is_terminal or (run.status is RunStatus.PAUSED and self.on_pause != "wait")

    def _wait(self, run: SimRun) -> SimRun:
        try:  # bounded by the task's deadline, set around execute()
            return self.hook.wait_for_run(
                run.workflow_id,
                run.run_id,
                job_id=run.job_id,
                poll_interval=self.poll_interval,
                return_on_pause=self.on_pause != "wait",
            )
        except SimWaitTimeoutError:
            from airflow_provider_sim.retry import call_deadline

            self._cancel(f"{call_deadline(self.hook.settings.retry).source} passed")
            raise

    def _start_for_trigger(self, workflow_input: Any) -> dict[str, Any] | None:
        """The start's arguments for the triggerer, or ``None`` to start here (see ``start_in_triggerer``)."""
        if not (self.deferrable and self.start_in_triggerer and self.wait_for_completion):
            return None
        try:
            size = len(json.dumps(workflow_input))
        except (TypeError, ValueError):  # files or other values only the worker converts
            return None
        if size > MAX_TRIGGER_INPUT_BYTES:
            return None
        start: dict[str, Any] = {"input": workflow_input}
        if self.selected_outputs:
            start["selected_outputs"] = list(self.selected_outputs)
        if self.execution_timeout_seconds is not None:
            start["execution_timeout_seconds"] = self.execution_timeout_seconds
        return start

    def _defer_start(self, context: Context, run: SimRun, start: dict[str, Any]) -> None:
        self.log.info("Sim run %s of workflow %r starts from the triggerer", run.run_id, run.workflow_id)
        self._run = run
        remember_run(context, run)
        publish_run(self.hook, context, run, self.log)
        if self.on_pause == "airflow":
            self._start_answers(context)
        self._defer(run, start)

    def _defer(self, run: SimRun, start: dict[str, Any] | None = None) -> None:
        from airflow_provider_sim.retry import call_deadline
        from airflow_provider_sim.triggers.sim import SimRunTrigger

        self.defer(
            trigger=SimRunTrigger(
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                sim_conn_id=self.sim_conn_id,
                job_id=run.job_id,
                poll_interval=self.poll_interval,
                end_time=call_deadline(self.hook.settings.retry).at,
                cancel_on_timeout=True,
                return_on_pause=self.on_pause != "wait",
                start=start,
                try_number=self._try_number,
                end_from_trigger=self.end_from_trigger,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: validate its event, then finish like the non-deferred path.

        The event names the try that deferred. Airflow 3.0 resumes a retried task with the previous
        try's event (apache/airflow#56704); such a stale event is dropped and this try starts over,
        which re-attaches to the run an earlier try started.
        """
        current = int(context["ti"].try_number)
        try_number = event.get("try_number") if isinstance(event, dict) else None
        if try_number is not None and try_number != current:
            self.log.warning(
                "Try %s was resumed with the trigger event of try %s (apache/airflow#56704); "
                "ignoring it and waiting for the run again",
                current,
                try_number,
            )
            return self.execute(context)
        self._try_number = current
        if is_task_end_payload(event):  # dag.test(): it resumes a task the trigger ended
            return self._finish(context, run_ended_in_trigger(self, context))
        run = run_from_event(event)
        return self._finish(context, run)

    def _cancel(self, why: str) -> None:
        run = self._run
        if run is None or run.status.is_terminal:
            return
        from airflow_provider_sim.retry import deadline

        try:  # clean-up after the task's own deadline: it gets a bound of its own
            with deadline(time.time() + CANCEL_SECONDS, "the cancel as the task ends"):
                result = self.hook.cancel_run(run.workflow_id, run.run_id)
            self.log.info("Cancelled Sim run %s (%s): %s", run.run_id, why, result.reason or "cancelled")
        except Exception as err:  # best effort: the task is ending either way
            self.log.warning("Could not cancel Sim run %s (%s): %s", run.run_id, why, err)

    def on_kill(self) -> None:
        """The task was killed, timed out or marked failed while running in the worker: cancel the run."""
        self._killed = True
        self._cancel("the task was killed")
