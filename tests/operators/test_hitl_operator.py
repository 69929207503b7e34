"""``on_pause="airflow"``: a Sim run paused for a person becomes an Airflow Required Action.

Real Airflow (``dag.test()``) against the emulator's approval workflow. The test answers as a
person would, through Airflow's own REST handler for ``PATCH .../taskInstances/{task}/-1/hitlDetails``
(called in this process on the shared metadata DB, as an api-server would), once the task waits
for the answer: deferred to Airflow's ``HITLTrigger`` on 3.1/3.2, ``awaiting_input`` on 3.3.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator
from airflow_provider_sim.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS
from tests.dag_runner import RunDag, RunHandle

needs_hitl = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="Airflow's human-in-the-loop is 3.1+")
#: DAG files of 3.1/3.2 let dag.test() run HITLTrigger inline (see hitl_dag_test_shim)
SHIM = "" if AIRFLOW_V_3_3_PLUS else ("from tests.operators.hitl_dag_test_shim import install\ninstall()\n")


@pytest.fixture(autouse=True)
def _readers_do_not_block_the_answer(dag_runner: Any) -> None:
    """SQLite in WAL mode (a setting of the DB file): ``dag.test()`` keeps a read transaction open
    while it waits for the answer, which in the default journal mode can starve this process's
    write of the answer for minutes; in WAL mode readers never block a writer."""
    from airflow.settings import engine

    if engine is not None and engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")


def pending_request(dag_id: str, task_id: str) -> dict[str, Any] | None:
    """The task's Required Action while it waits for an answer (``None`` before / after)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(TaskInstance, HITLDetail)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
            .order_by(DagRun.id.desc())
            .first()
        )
        if row is None:
            return None
        ti, detail = row
        state = str(getattr(ti.state, "value", ti.state))
        # 3.3 resumes a task only once it is parked: dag.test() writes its in-process state
        # (awaiting_input) over a resume given before that, and then waits for ever. Before 3.3
        # the trigger polls the row (3.2's dag.test() shows the task queued meanwhile), so the
        # row alone says it waits
        parked = state == "awaiting_input" or not AIRFLOW_V_3_3_PLUS
        if detail.responded_at is not None or not parked:
            return None
        return {
            "run_id": ti.run_id,
            "subject": detail.subject,
            "body": detail.body,
            "options": detail.options,
            "defaults": detail.defaults,
            "params": detail.params,
            "assignees": detail.assignees,
        }


def parked_by_dag_test(handle: RunHandle, task_id: str, times: int) -> bool:
    """On 3.3, whether ``dag.test()`` has set the task's state after its ``times``-th parking.

    The execution API parks the task, then ``dag.test()`` writes the state its in-process run
    reported (``awaiting_input``) again: an answer given between the two resumes the task in the DB
    and is then overwritten, and ``dag.test()`` waits for ever. It logs the end of each in-process
    run (each parking) only after that write.
    """
    return not AIRFLOW_V_3_3_PLUS or handle.output().count(f"end task task_id={task_id} ") >= times


def answer_as_a_person(
    dag_id: str, task_id: str, run_id: str, option: str, params_input: dict[str, Any]
) -> None:
    """What ``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/-1/hitlDetails`` does."""
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    create_auth_manager()  # the handler asks it whether the user is among the assignees
    with create_session() as session:
        update_hitl_detail(
            dag_id=dag_id,
            dag_run_id=run_id,
            task_id=task_id,
            update_hitl_detail_payload=UpdateHITLDetailPayload(
                chosen_options=[option], params_input=params_input
            ),
            user=SimpleAuthManagerUser(username="approver", role="admin"),
            session=session,
        )


def answering(
    dag_id: str,
    task_id: str,
    option: str,
    params_input: dict[str, Any],
    seen: list[dict[str, Any]],
    *more_inputs: dict[str, Any],
) -> Callable[[RunHandle], None]:
    """A ``during`` callback: wait for the task's Required Action, record it, answer it; then the
    same for each of ``more_inputs`` (a run that pauses again asks again)."""

    def during(handle: RunHandle) -> None:
        pending = [params_input, *more_inputs]
        deadline = time.monotonic() + 90 * len(pending)
        while pending and time.monotonic() < deadline:
            try:  # SQLite may be locked by the DAG run's own session for a moment
                request = pending_request(dag_id, task_id)
                if request is not None and parked_by_dag_test(handle, task_id, len(seen) + 1):
                    answer_as_a_person(dag_id, task_id, request["run_id"], option, pending[0])
                    seen.append(request)
                    pending.pop(0)
                    continue
            except Exception:  # shown with the test's output if the run then overruns
                traceback.print_exc()
            time.sleep(0.1)
        if pending:
            raise AssertionError(f"could not answer the Required Action of {task_id} ({len(seen)} answered)")

    return during


@pytest.mark.skipif(AIRFLOW_V_3_1_PLUS, reason="the error is for Airflow before 3.1")
def test_before_airflow_3_1_the_switch_fails_at_parse_naming_the_fallbacks() -> None:
    with pytest.raises(SimConfigurationError, match=r"needs Airflow 3\.1 or later") as raised:
        SimExecuteWorkflowOperator(task_id="t", workflow_id="approval", on_pause="airflow")
    assert "SimResumeRunOperator" in str(raised.value) and "SimJobSensor" in str(raised.value)


@needs_hitl
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"stream": True}, "cannot be combined"), ({"wait_for_completion": False}, "cannot be combined")],
)
def test_bad_combinations_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SimConfigurationError, match=message):
        SimExecuteWorkflowOperator(task_id="t", workflow_id="approval", on_pause="airflow", **kwargs)


@needs_hitl
def test_sync_run_asks_with_sims_form_and_the_answer_resumes_it(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    seen: list[dict[str, Any]] = []
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="ask", workflow_id="approval",
                                   input={"request": "coffee", "amount": 120},
                                   async_execution=False, on_pause="airflow", poll_interval=0.2,
                                   hitl_assignees=[{"id": "approver", "name": "approver"}])
        """,
        imports=SHIM,
        during=answering(run_dag.dag_id, "ask", "Resume", {"approved": True, "comment": "ok"}, seen),
    )
    ti = result.task("ask")
    assert ti.state == "success", result.tail()
    assert ti.return_value == {
        "input": {"request": "coffee", "amount": 120},
        "resumeInput": {"approved": True, "comment": "ok"},
    }
    [request] = seen
    assert request["options"] == ["Resume", "Cancel run"] and request["defaults"] is None
    assert "coffee" in request["subject"] or "coffee" in request["body"]
    assert "| amount | 120 |" in request["body"]  # Sim's display data
    assert request["params"]["approved"]["schema"]["type"] == ["boolean", "null"]  # Sim's form
    assert request["params"]["comment"]["schema"]["type"] == ["string", "null"]
    assert request["assignees"] == [{"id": "approver", "name": "approver"}]
    [answer] = ti.xcom["sim_hitl_answers"]
    assert answer["option"] == "Resume" and answer["input"] == {"approved": True, "comment": "ok"}
    assert answer["responded_by"]["name"] == "approver" and answer["responded_at"]
    assert answer["timed_out"] is False
    assert ti.xcom["sim_resume_url"].endswith(f"/resume/approval/{answer['run_id']}")
    assert "Asking in Airflow (Required Actions)" in result.log
    assert "approver answered at" in result.log
    [execution] = emulator.control.executions()  # one run, resumed in place
    assert execution["status"] == "completed"


@needs_hitl
@pytest.mark.timeout(600)  # two dag.test() waits for answers on a busy machine
def test_deferred_run_asks_with_sims_form_from_the_pause_detail_and_again_at_a_second_pause(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    seen: list[dict[str, Any]] = []
    first, second = {"approved": True, "comment": "first"}, {"approved": False, "comment": "second"}
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="asktwice", workflow_id="approval",
                                   input={"doc": 9, "pauses": 2},
                                   deferrable=True, on_pause="airflow", poll_interval=0.2)
        """,
        imports=SHIM,
        during=answering(run_dag.dag_id, "asktwice", "Resume", first, seen, second),
        timeout=300,
    )
    ti = result.task("asktwice")
    assert ti.state == "success", result.tail()
    assert ti.return_value == {"input": {"doc": 9, "pauses": 2}, "resumeInput": second}
    asked, asked_again = seen
    # a deferred wait reads the pause from a status, which has no form: Sim's pause detail has it
    assert "| doc | 9 |" in asked["body"]
    assert asked["params"]["approved"]["schema"]["type"] == ["boolean", "null"]
    assert set(asked_again["params"]) == {"approved", "comment"}
    answers = ti.xcom["sim_hitl_answers"]
    assert [(a["context_id"], a["input"]) for a in answers] == [("approval", first), ("approval-2", second)]
    assert "running trigger in line" in result.log
    assert len(emulator.control.executions()) == 1
    paths = [r["path"] for r in emulator.control.requests_received()]
    assert paths.count(f"/api/workflows/approval/paused/{answers[0]['run_id']}") == 2


@needs_hitl
@pytest.mark.timeout(600)  # two dag.test() waits for answers on a busy machine
def test_without_sims_pause_detail_the_declared_params_ask_and_cancel_run_cancels(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    emulator.control.add_fault("/api/workflows/approval/paused/*", status=404, times=10)
    seen: list[dict[str, Any]] = []
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="askcancel", workflow_id="approval", input={"doc": 1},
                                   on_pause="airflow", poll_interval=0.2,
                                   hitl_params={"approved": Param(False, type="boolean", description="OK?")})
        """,
        imports="from airflow.sdk import Param\n" + SHIM,
        during=answering(run_dag.dag_id, "askcancel", "Cancel run", {"approved": True}, seen),
        timeout=300,
    )
    assert result.task("askcancel").state == "failed", result.tail()
    assert "approver cancelled Sim run" in result.log
    assert [e["status"] for e in emulator.control.executions()] == ["cancelled"]
    [request] = seen
    assert request["params"]["approved"]["description"] == "OK?"  # hitl_params, as Sim sent no form
    assert "asking without Sim's form" in result.log


@needs_hitl
@pytest.mark.skipif(
    AIRFLOW_V_3_3_PLUS, reason="3.3's response timeout is the scheduler's sweep, not in dag.test()"
)
def test_response_timeout_answers_with_the_default(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        SimExecuteWorkflowOperator(task_id="asklate", workflow_id="approval", input={"doc": 2},
                                   async_execution=False, on_pause="airflow", poll_interval=0.2,
                                   hitl_response_timeout=timedelta(seconds=1),
                                   hitl_timeout_answer={"approved": False, "comment": "no answer"})
        SimExecuteWorkflowOperator(task_id="askfail", workflow_id="approval", input={"doc": 3},
                                   async_execution=False, on_pause="airflow", poll_interval=0.2,
                                   hitl_response_timeout=timedelta(seconds=1))
        """,
        imports=SHIM,
    )
    late = result.task("asklate")
    assert late.state == "success", result.tail()
    assert late.return_value["resumeInput"] == {"approved": False, "comment": "no answer"}
    [answer] = late.xcom["sim_hitl_answers"]
    assert answer["responded_by"] is None and answer["timed_out"] is True
    assert result.task("askfail").state == "failed"
    assert "No answer came before the response timeout" in result.log
    statuses = {e["input"]["doc"]: e["status"] for e in emulator.control.executions()}
    assert statuses == {2: "completed", 3: "paused"}  # an unanswered pause stays answerable in Sim
