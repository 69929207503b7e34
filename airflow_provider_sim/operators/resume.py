"""Answer a Sim run paused for human input, from a DAG (an upstream task decides)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_sim.connection_form import DEFAULT_CONN_ID
from airflow_provider_sim.exceptions import (
    SimBadRequestError,
    SimConflictError,
    SimError,
    SimNotFoundError,
)
from airflow_provider_sim.links import XCOM_RUN_ID, XCOM_WORKFLOW_ID
from airflow_provider_sim.operators.runs import complete, parse_template_input, task_deadline
from airflow_provider_sim.protocol.build import check_run_id, check_timeout, check_workflow_id
from airflow_provider_sim.protocol.models import RunStatus, SimRun
from airflow_provider_sim.version_compat import BaseOperator, Context

if TYPE_CHECKING:  # requests, tenacity and sseclient load when a task runs, not when a DAG parses
    from airflow_provider_sim.hooks.sim import SimHook

#: XCom keys of a resume, besides ``sim_run_id`` / ``sim_workflow_id`` (the original run)
XCOM_CONTEXT_ID = "sim_context_id"
XCOM_RESUME_ATTEMPT_ID = "sim_resume_attempt_id"
XCOM_RESUME_STATUS = "sim_resume_status"


def current_pause(hook: SimHook, workflow_id: str, run_id: str) -> str:
    """The context id the run waits at now (its status read's ``paused.contextId``).

    :raises SimError: the run is not paused (code ``NOT_PAUSED``), or Sim names no context.
    """
    run = hook.get_run(workflow_id, run_id, include_output=False)
    if run.status is not RunStatus.PAUSED:
        raise SimError(
            f"Sim run {run_id} of workflow {workflow_id!r} is {run.status.value}, not paused: there "
            "is no pause to answer (give context_id to answer a known pause point)",
            code="NOT_PAUSED",
        )
    if run.paused is None or not run.paused.context_id:
        raise SimError(
            f"Sim run {run_id} is paused but its status names no contextId; give context_id",
            code="NOT_PAUSED",
        )
    return run.paused.context_id


def resume(hook: SimHook, workflow_id: str, run_id: str, context_id: str, answer: Any) -> SimRun:
    """Resume the run with ``answer``; Sim's refusals become errors that say what happened."""
    try:
        return hook.resume_run(workflow_id, run_id, context_id, answer)
    except SimNotFoundError as err:
        raise SimError(
            f"Sim knows no pause point {context_id!r} on run {run_id} of workflow {workflow_id!r} "
            f"(or no such run): {err}",
            code=err.code or "NOT_FOUND",
        ) from err
    except SimConflictError as err:
        raise SimError(
            f"Sim run {run_id} is not resumable at {context_id!r}: that pause was already answered, "
            f"or the run was cancelled: {err}",
            code=err.code or "CONFLICT",
        ) from err
    except SimBadRequestError as err:
        raise SimError(
            f"Sim refused the resume of run {run_id} as malformed (check the input is the resume "
            f"form's fields as a JSON object): {err}",
            code=err.code or "BAD_REQUEST",
        ) from err


class SimResumeRunOperator(BaseOperator):
    """Answer a Sim run paused for human input (Sim's Human in the Loop block), and optionally
    wait for the run to end.

    The run keeps its id through the resume: Sim names the resume *attempt* with a new id (whose
    status reads 404), so this operator polls the original run. XComs: ``sim_run_id`` and
    ``sim_workflow_id`` (the original run), ``sim_context_id`` (the pause answered),
    ``sim_resume_attempt_id`` (Sim's id of the attempt, when it gives one), ``sim_resume_status``
    (what the resume answered: ``completed`` for a synchronous run, ``queued`` for an async one,
    ``paused`` if it paused again). The return value is, without waiting, ``{"run_id",
    "workflow_id", "context_id", "resume_attempt_id", "status", "output"}`` of the resume's answer;
    with ``wait_for_completion=True``, the run's output, like ``SimExecuteWorkflowOperator``.

    :param workflow_id: the workflow of the paused run (templated).
    :param run_id: the paused run (templated), e.g.
        ``'{{ ti.xcom_pull(task_ids="start", key="sim_run_id") }}'``.
    :param context_id: the pause point to answer (templated); ``None`` (default) answers the pause
        the run waits at now (its status's ``paused.contextId``), and fails if it is not paused.
    :param input: the answer: the resume form's fields as a dict, or a JSON string (templated).
    :param sim_conn_id: the ``sim`` connection (templated).
    :param wait_for_completion: after resuming, wait (in the worker) until the run ends; a later
        pause is waited through, bounded by ``timeout`` / ``execution_timeout``.
    :param poll_interval: seconds between status reads while waiting.
    :param timeout: seconds for the whole task; then the task fails (the run goes on).
    """

    template_fields: Sequence[str] = ("workflow_id", "run_id", "context_id", "input", "sim_conn_id")
    template_fields_renderers = {"input": "json"}
    ui_color = "#7c3aed"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        workflow_id: str,
        run_id: str,
        context_id: str | None = None,
        input: Any = None,
        sim_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = False,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.context_id = context_id
        self.input = input
        self.sim_conn_id = sim_conn_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = check_timeout(poll_interval, name="poll_interval")
        self.timeout = check_timeout(timeout, name="timeout") if timeout is not None else None

    @cached_property
    def hook(self) -> SimHook:
        """The Sim hook for ``sim_conn_id``."""
        from airflow_provider_sim.hooks.sim import SimHook

        return SimHook(self.sim_conn_id)

    def execute(self, context: Context) -> Any:
        """Find the pause (unless given), resume it, push what Sim answered, then wait if asked."""
        from airflow_provider_sim.retry import deadline

        with deadline(*task_deadline(context, self.timeout, self.execution_timeout)):
            return self._execute(context)

    def _execute(self, context: Context) -> Any:
        workflow_id = check_workflow_id(self.workflow_id)
        run_id = check_run_id(self.run_id)
        answer = parse_template_input(self.input)
        context_id = self.context_id or current_pause(self.hook, workflow_id, run_id)
        self.log.info("Resuming Sim run %s of workflow %r at pause %s", run_id, workflow_id, context_id)
        answered = resume(self.hook, workflow_id, run_id, context_id, answer)
        ti = context["ti"]
        ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
        ti.xcom_push(key=XCOM_WORKFLOW_ID, value=workflow_id)
        ti.xcom_push(key=XCOM_CONTEXT_ID, value=context_id)
        ti.xcom_push(key=XCOM_RESUME_ATTEMPT_ID, value=answered.resume_attempt_id)
        ti.xcom_push(key=XCOM_RESUME_STATUS, value=answered.status.value)
        self.log.info(
            "Sim accepted the answer (%s; resume attempt %s); the run is still %s",
            answered.status.value,
            answered.resume_attempt_id or "unnamed",
            run_id,
        )
        if not self.wait_for_completion:
            return {
                "run_id": run_id,
                "workflow_id": workflow_id,
                "context_id": context_id,
                "resume_attempt_id": answered.resume_attempt_id,
                "status": answered.status.value,
                "output": answered.output,
            }
        run = answered
        if not run.status.is_terminal:  # bounded by the task's deadline, set around execute()
            run = self.hook.wait_for_run(
                workflow_id, run_id, poll_interval=self.poll_interval, return_on_pause=False
            )
        return complete(context, run, on_pause="wait", log=self.log)
