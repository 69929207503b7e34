"""A Sim run paused for a person, asked as an Airflow Required Action (``on_pause="airflow"``).

Sim's Human in the Loop block pauses a run with *display data* (``responseStructure``: what the
approver sees) and a *resume form* (``inputFormat``: typed fields). This module turns a pause into
the subject, body and ``Param`` form of Airflow's own human-in-the-loop request (Airflow 3.1+,
written and awaited by :func:`~airflow_provider_sim.version_compat.wait_for_human`), and the
person's answer back into the resume input. Sim sends the pause's data with a synchronous run's
answer (execute or resume); a status read of a paused run carries none, so for polled and deferred
runs it is read from Sim's paused-execution detail. Only when Sim has none (an older Sim, an
endpoint refused) does the form come from ``hitl_params``, else a single JSON field ``input``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from airflow_provider_sim.exceptions import SimApiError, SimConfigurationError, SimError
from airflow_provider_sim.operators.resume import resume
from airflow_provider_sim.operators.runs import complete, task_deadline
from airflow_provider_sim.protocol.build import resume_page_url
from airflow_provider_sim.protocol.models import RunStatus, SimRun
from airflow_provider_sim.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_VERSION, Context, wait_for_human

#: what the person chooses between; the form's fields are the answer sent with ``RESUME``
OPTION_RESUME = "Resume"
OPTION_CANCEL = "Cancel run"
OPTIONS = [OPTION_RESUME, OPTION_CANCEL]
#: the one field of the form when neither Sim nor ``hitl_params`` says what the form is
GENERIC_FIELD = "input"
XCOM_HITL_ANSWERS = "sim_hitl_answers"
#: the pause being asked (workflow, run, context, form fields), read back when the answer comes
XCOM_HITL_REQUEST = "sim_hitl_request"
XCOM_RESUME_URL = "sim_resume_url"
_SCHEMA_TYPES = {"string": "string", "number": "number", "boolean": "boolean", "object": "object"}
_SCHEMA_TYPES["array"] = "array"


def check_available() -> None:
    """Raise at DAG parse on an Airflow without human-in-the-loop, naming the way around it."""
    if not AIRFLOW_V_3_1_PLUS:
        raise SimConfigurationError(
            f"on_pause='airflow' needs Airflow 3.1 or later (Required Actions); this is Airflow "
            f"{AIRFLOW_VERSION}. On this version answer the pause in Sim (the resume page is logged "
            "and in XCom 'sim_resume_url' with on_pause='succeed'), from the DAG with "
            "SimResumeRunOperator, and wait for the run with SimJobSensor (it waits through pauses)."
        )


def pause_data(output: Any) -> dict[str, Any]:
    """The Human in the Loop block's data in a run's output (``{}`` when Sim sent none)."""
    if isinstance(output, dict) and isinstance(output.get("data"), dict):
        data = output["data"]
        if "inputFormat" in data or "responseStructure" in data or "_resume" in data:
            return data
    return {}


def pause_context_id(run: SimRun) -> str | None:
    """Where the run waits: its status's ``paused.contextId``, else the output's ``_resume``."""
    if run.paused is not None and run.paused.context_id:
        return run.paused.context_id
    resume = pause_data(run.output).get("_resume")
    return str(resume["contextId"]) if isinstance(resume, dict) and resume.get("contextId") else None


@dataclass(frozen=True)
class PauseRequest:
    """What the person is asked: ``fields`` names the form's fields sent to Sim on resume
    (``None``: the generic ``input`` field's value is the whole resume input)."""

    subject: str
    body: str
    params: dict[str, Any]
    fields: list[str] | None


def _param(field: dict[str, Any], default: Any) -> Any:
    from airflow.sdk import Param

    kind = _SCHEMA_TYPES.get(str(field.get("type") or "string"))
    schema: dict[str, Any] = {}
    if kind is not None:
        schema["type"] = kind if field.get("required") is True else [kind, "null"]
    description = field.get("description") or field.get("placeholder")
    title = field.get("label") or field["name"]
    return Param(default, description=description, title=str(title), **schema)


def pause_request(
    run: SimRun,
    *,
    resume_url: str,
    declared: dict[str, Any] | None,
    timeout_answer: dict[str, Any] | None,
) -> PauseRequest:
    """The Required Action for a paused run: display data as the body, the resume form as params.

    :param declared: ``hitl_params`` (``Param`` or plain defaults by field name), used when Sim sent
        no form with the run.
    :param timeout_answer: field values that answer the pause when the response timeout passes.
    """
    from airflow.sdk import Param

    data = pause_data(run.output)
    answer = timeout_answer or {}
    fields = [f for f in data.get("inputFormat") or [] if isinstance(f, dict) and f.get("name")]
    params: dict[str, Any]
    if fields:
        params = {}
        for field in fields:
            value = field.get("value")
            default = answer.get(field["name"], None if value in ("", None) else value)
            params[field["name"]] = _param(field, default)
        names: list[str] | None = list(params)
    elif declared:
        params = {k: v if isinstance(v, Param) else Param(v) for k, v in declared.items()}
        for name, value in answer.items():
            if name in params:
                params[name] = Param(value, **params[name].schema, description=params[name].description)
        names = list(params)
    else:
        params = {
            GENERIC_FIELD: Param(
                answer or {},
                type="object",
                description="The resume input Sim expects (the pause's form fields as a JSON object)",
            )
        }
        names = None
    rows = [r for r in data.get("responseStructure") or [] if isinstance(r, dict) and r.get("name")]
    lines = [f"Sim run `{run.run_id}` of workflow `{run.workflow_id}` is waiting for an answer.", ""]
    if rows:
        lines += ["| Field | Value |", "| --- | --- |"]
        lines += [f"| {r['name']} | {_cell(r.get('value'))} |" for r in rows]
        lines.append("")
    elif not fields:
        lines += ["Sim sent no display data with this run's status; see it on Sim's page.", ""]
    lines.append(f"[Open the pause in Sim]({resume_url})")
    subject = f"Sim workflow {run.workflow_id}: answer needed (run {run.run_id})"
    return PauseRequest(subject=subject, body="\n".join(lines), params=params, fields=names)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class HumanAnswer:
    """The person's answer as Airflow recorded it (``responded_by`` is ``None`` for the timeout
    default)."""

    option: str
    params_input: dict[str, Any]
    responded_by: dict[str, Any] | None
    responded_at: str | None
    timed_out: bool

    def resume_input(self, fields: list[str] | None) -> Any:
        """What Sim gets as the resume input: the form's fields (empty ones left out), or the
        generic field's JSON value."""
        if fields is None:
            value = self.params_input.get(GENERIC_FIELD) or {}
            return json.loads(value) if isinstance(value, str) else value
        return {k: v for k, v in self.params_input.items() if k in fields and v is not None}


def read_answer(event: object, *, run_id: str, resume_url: str) -> HumanAnswer:
    """The answer in the event Airflow resumes the task with; a timeout or error raises.

    :raises SimError: no answer before the response timeout (and no default), or a bad answer.
    """
    if not isinstance(event, dict):
        raise SimError(f"Unexpected human-in-the-loop event {event!r}: Airflow reported no answer")
    if "error" in event:
        kind = event.get("error_type")
        what = "No answer came before the response timeout" if kind == "timeout" else "The answer failed"
        raise SimError(
            f"{what} ({event['error']}); Sim run {run_id} is still paused: answer it in Sim "
            f"({resume_url}) or with SimResumeRunOperator",
            code="HITL_TIMEOUT" if kind == "timeout" else "HITL_ERROR",
        )
    chosen = list(event.get("chosen_options") or [])
    if len(chosen) != 1 or chosen[0] not in OPTIONS:
        raise SimError(f"The human-in-the-loop answer chose {chosen!r}, expected one of {OPTIONS}")
    at = event.get("responded_at")
    return HumanAnswer(
        option=chosen[0],
        params_input=dict(event.get("params_input") or {}),
        responded_by=dict(event["responded_by_user"]) if event.get("responded_by_user") else None,
        responded_at=at.isoformat() if isinstance(at, datetime) else (str(at) if at else None),
        timed_out=bool(event.get("timedout")),
    )


class AsksInAirflow:
    """What ``SimExecuteWorkflowOperator`` does with ``on_pause="airflow"``: ask, resume, wait on.

    A mixin so the operator module stays about running a workflow; it uses the operator's
    ``hook``, ``log``, ``deferrable``, ``poll_interval``, ``_defer``, ``_wait`` and ``hitl_*``
    parameters. The pause being asked and the answers so far are kept in the task's own XComs
    (``sim_hitl_request``, ``sim_hitl_answers``), which every resume of the same try reads back:
    unlike a deferral's kwargs, they survive Airflow 3.1's ``dag.test()`` too.
    """

    def _start_answers(self, context: Context) -> None:
        """No answers yet: written before the first wait, so every later read finds the key."""
        context["ti"].xcom_push(key=XCOM_HITL_ANSWERS, value=[])

    def _finish(self, context: Context, run: SimRun) -> Any:
        """The end of a wait: a pause for a person is asked in Airflow (``on_pause="airflow"``),
        anything else completes the task as before."""
        op: Any = self
        if run.status is RunStatus.PAUSED:
            url = resume_page_url(op.hook.settings.base_url, run.workflow_id, run.run_id)
            context["ti"].xcom_push(key=XCOM_RESUME_URL, value=url)
            op.log.info("Sim run %s waits for a person; Sim's page for it: %s", run.run_id, url)
            if op.on_pause == "airflow":
                return self._ask(context, run, _own_xcom(context, XCOM_HITL_ANSWERS) or [])
        return complete(context, run, on_pause=op.on_pause, log=op.log)

    def _ask(self, context: Context, run: SimRun, answers: list[dict[str, Any]]) -> Any:
        op: Any = self
        context_id = pause_context_id(run)
        if context_id is None:  # a status read without the pause's context: read it again
            run = op.hook.get_run(run.workflow_id, run.run_id)
            context_id = pause_context_id(run)
        if context_id is None:
            raise SimError(f"Sim run {run.run_id} is paused but Sim names no pause point (contextId)")
        from_status_read = not pause_data(run.output)
        if answers and answers[-1]["context_id"] == context_id and from_status_read:
            # Sim reports the answered pause until the resume it queued starts running
            op.log.info("Sim still shows pause %s answered; waiting for the run to go on", context_id)
            time.sleep(op.poll_interval)
            return self._wait_on(context, run)
        if from_status_read:
            run = self._with_pause_data(run, context_id)
        url = resume_page_url(op.hook.settings.base_url, run.workflow_id, run.run_id)
        request = pause_request(
            run, resume_url=url, declared=op.hitl_params, timeout_answer=op.hitl_timeout_answer
        )
        op.log.info(
            "Asking in Airflow (Required Actions) for Sim run %s, pause %s: %s; form fields %s",
            run.run_id,
            context_id,
            request.subject,
            sorted(request.params),
        )
        pending = {"workflow_id": run.workflow_id, "run_id": run.run_id, "context_id": context_id}
        context["ti"].xcom_push(key=XCOM_HITL_REQUEST, value={**pending, "fields": request.fields})
        wait_for_human(
            op,
            context,
            subject=request.subject,
            body=request.body,
            options=list(OPTIONS),
            params=request.params,
            defaults=[OPTION_RESUME] if op.hitl_timeout_answer is not None else None,
            assigned_users=op.hitl_assignees,
            response_timeout=op.hitl_response_timeout,
            poke_interval=op.poll_interval,
            method_name="execute_answered",
            kwargs={},
        )

    def _with_pause_data(self, run: SimRun, context_id: str) -> SimRun:
        """``run`` with the pause's display data and form from Sim's paused-execution detail, as a
        synchronous run's answer carries them; unchanged when Sim has no detail for the pause."""
        op: Any = self
        try:
            detail = op.hook.get_paused_execution(run.workflow_id, run.run_id)
        except SimApiError as err:  # an older Sim without the endpoint; the fallbacks still ask
            op.log.info("Sim gave no detail of pause %s (%s); asking without Sim's form", context_id, err)
            return run
        point = detail.waiting_at(context_id)
        if point is None or not pause_data(point.response):
            op.log.info("Sim's detail of run %s has no open pause %s with a form", run.run_id, context_id)
            return run
        return replace(run, output=point.response)

    def execute_answered(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the person answered (or the response timeout passed): resume the Sim run
        with the answer, then wait for its end (or its next pause) as before."""
        from airflow_provider_sim.retry import deadline

        op: Any = self
        op._try_number = int(context["ti"].try_number)
        pending = _own_xcom(context, XCOM_HITL_REQUEST)
        if not isinstance(pending, dict):
            raise SimError("Resumed for a human-in-the-loop answer, but this task asked nothing")
        workflow_id, run_id, context_id = pending["workflow_id"], pending["run_id"], pending["context_id"]
        fields = pending.get("fields")
        answers = list(_own_xcom(context, XCOM_HITL_ANSWERS) or [])
        url = resume_page_url(op.hook.settings.base_url, workflow_id, run_id)
        answer = read_answer(event, run_id=run_id, resume_url=url)
        who = (answer.responded_by or {}).get("name") or "the timeout default"
        record = {
            "run_id": run_id,
            "context_id": context_id,
            "option": answer.option,
            "input": answer.resume_input(fields),
            "responded_by": answer.responded_by,
            "responded_at": answer.responded_at,
            "timed_out": answer.timed_out,
        }
        answers = [*answers, record]
        context["ti"].xcom_push(key=XCOM_HITL_ANSWERS, value=answers)
        op._run = SimRun(run_id, workflow_id, RunStatus.PAUSED)
        with deadline(*task_deadline(context, op.timeout, op.execution_timeout)):
            if answer.option == OPTION_CANCEL:
                op._cancel(f"{who} chose {OPTION_CANCEL!r}")
                raise SimError(
                    f"{who} cancelled Sim run {run_id} at pause {context_id}", code="HITL_CANCELLED"
                )
            op.log.info(
                "%s answered at %s: resuming Sim run %s at pause %s",
                who,
                answer.responded_at,
                run_id,
                context_id,
            )
            resumed = resume(op.hook, workflow_id, run_id, context_id, record["input"])
            op.log.info("Sim took the answer (%s); waiting for run %s", resumed.status.value, run_id)
            return self._wait_on(context, resumed)

    def _wait_on(self, context: Context, run: SimRun) -> Any:
        """After an answer: finish at once if Sim's answer says how the run stands (a synchronous
        run's resume), else wait for the run in the triggerer or here, as the operator waits."""
        op: Any = self
        op._run = run
        if run.status.is_terminal or (run.status is RunStatus.PAUSED and pause_data(run.output)):
            return self._finish(context, run)
        if op.deferrable:
            op._defer(run)
        return self._finish(context, op._wait(run))


def _own_xcom(context: Context, key: str) -> Any:
    """An XCom this task instance pushed earlier in the same try."""
    ti = context["ti"]
    return ti.xcom_pull(task_ids=ti.task_id, key=key, map_indexes=getattr(ti, "map_index", -1))
