"""SimResumeRunOperator through real Airflow (``dag.test()``) against the emulator's approval workflow.

The paused runs are started from the test (as another system would) and are paused before the DAG
runs, so nothing depends on timing; assertions are on what Airflow recorded and what the emulator
received.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.operators.resume import SimResumeRunOperator
from airflow_provider_sim.protocol.models import RunStatus
from tests.dag_runner import RunDag, wait_for_executions

IMPORTS = "from airflow_provider_sim.operators.resume import SimResumeRunOperator\n"


def start_paused(emulator: EmulatorHandle, hook: SimHook, *run_ids: str) -> None:
    """Start approval runs named ``run_ids`` and wait until each is paused."""
    for run_id in run_ids:
        hook.execute_workflow("approval", {"doc": run_id}, run_id=run_id, async_execution=True)
    wait_for_executions(
        emulator.control,
        lambda executions: sum(e["status"] == "paused" for e in executions) == len(run_ids),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"poll_interval": 0}, "poll_interval must be a positive number"), ({"timeout": -1}, "timeout must")],
)
def test_bad_parameters_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SimConfigurationError, match=message):
        SimResumeRunOperator(task_id="r", workflow_id="approval", run_id="r-1", **kwargs)


def test_templated_fields() -> None:
    assert set(SimResumeRunOperator.template_fields) == {
        "workflow_id",
        "run_id",
        "context_id",
        "input",
        "sim_conn_id",
    }


def test_resumes_the_current_pause_and_waits_on_the_original_run(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    start_paused(emulator, sim_hook, "hold-me")
    result = run_dag(
        """
        decide = SimExecuteWorkflowOperator(task_id="decide", workflow_id="echo",
                                            input={"approved": True, "comment": "ok"})
        answer = SimResumeRunOperator(
            task_id="answer", workflow_id="{{ 'approval' }}", run_id="{{ 'hold-me' }}",
            input="{{ ti.xcom_pull(task_ids='decide') | tojson }}", wait_for_completion=True,
            poll_interval=0.2)
        decide >> answer
        """,
        imports=IMPORTS,
    )
    assert result.states == {"decide": "success", "answer": "success"}, result.tail()
    ti = result.task("answer")
    assert ti.return_value == {
        "input": {"doc": "hold-me"},
        "resumeInput": {"approved": True, "comment": "ok"},
    }
    assert ti.xcom["sim_run_id"] == "hold-me"
    assert ti.xcom["sim_status"] == "completed"
    assert ti.xcom["sim_context_id"] == "approval"  # read from the run's paused.contextId
    attempt = ti.xcom["sim_resume_attempt_id"]
    assert attempt and attempt != "hold-me"
    assert sim_hook.get_run("approval", "hold-me").status is RunStatus.COMPLETED
    # the run goes on under its own id: resuming never starts another execution
    assert sorted(e["id"] for e in emulator.control.executions() if e["workflowId"] == "approval") == [
        "hold-me"
    ]


def test_without_waiting_returns_what_the_resume_answered(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    start_paused(emulator, sim_hook, "given-ctx")
    result = run_dag(
        """
        SimResumeRunOperator(task_id="answer", workflow_id="approval", run_id="given-ctx",
                             context_id="approval", input={"approved": False})
        """,
        imports=IMPORTS,
    )
    ti = result.task("answer")
    assert ti.state == "success", result.tail()
    answer = ti.return_value
    assert (answer["run_id"], answer["context_id"]) == ("given-ctx", "approval")
    assert answer["status"] == ti.xcom["sim_resume_status"]
    assert answer["resume_attempt_id"] == ti.xcom["sim_resume_attempt_id"] != "given-ctx"
    assert "Resuming Sim run given-ctx of workflow 'approval' at pause approval" in result.log


def test_refusals_fail_the_task_with_what_happened(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    start_paused(emulator, sim_hook, "twice", "wrong-ctx")
    sim_hook.execute_workflow("echo", {"x": 1}, run_id="done-run", async_execution=False)
    sim_hook.resume_run("approval", "twice", "approval", {"approved": True})
    result = run_dag(
        """
        SimResumeRunOperator(task_id="again", workflow_id="approval", run_id="twice",
                             context_id="approval", input={"approved": False})
        SimResumeRunOperator(task_id="unknownctx", workflow_id="approval", run_id="wrong-ctx",
                             context_id="no-such-context", input={"approved": True})
        SimResumeRunOperator(task_id="notpaused", workflow_id="echo", run_id="done-run",
                             input={"approved": True})
        """,
        imports=IMPORTS,
    )
    assert result.states == {"again": "failed", "unknownctx": "failed", "notpaused": "failed"}, result.tail()
    # short fragments: Airflow 3.0 logs the error inside a wrapped rich traceback
    assert "already answered" in result.log
    assert "knows no pause point" in result.log
    assert "completed, not paused" in result.log
    assert sim_hook.get_run("approval", "wrong-ctx").status is RunStatus.PAUSED  # left as it was


def test_a_run_that_pauses_again_is_answered_again_at_its_new_pause(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook
) -> None:
    # a synchronous run's resume answers once the run has settled: paused again, here
    sim_hook.execute_workflow("approval", {"doc": 8, "pauses": 2}, run_id="twice", async_execution=False)
    result = run_dag(
        """
        first = SimResumeRunOperator(task_id="first", workflow_id="approval", run_id="twice",
                                     input={"approved": True})
        second = SimResumeRunOperator(task_id="second", workflow_id="approval", run_id="twice",
                                      input={"approved": False}, wait_for_completion=True,
                                      poll_interval=0.2)
        first >> second
        """,
        imports=IMPORTS,
    )
    assert result.states == {"first": "success", "second": "success"}, result.tail()
    first, second = result.task("first"), result.task("second")
    assert (first.xcom["sim_context_id"], first.xcom["sim_resume_status"]) == ("approval", "paused")
    assert second.xcom["sim_context_id"] == "approval-2"  # the current pause, read from the status
    assert second.return_value == {"input": {"doc": 8, "pauses": 2}, "resumeInput": {"approved": False}}
    assert [e["status"] for e in emulator.control.executions()] == ["completed"]
