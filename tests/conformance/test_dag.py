"""One DAG through real Airflow (``dag.test()``) against the target: a synchronous task, a task that
polls in the worker, a deferred task, a failing run and a run-id conflict, in each API generation."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conformance.target import Target
from tests.dag_runner import DagRunner, RunHandle, act_on_each, dag_source, shared_runner, sim_connection

INPUT = {"name": "conformance", "count": 2}

CONFLICT_OPERATOR = '''
from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_sim.hooks.sim import SimHook


class ExecuteTwice(BaseOperator):
    """Starts a run under a fixed id, then asks for the same id again: Sim must refuse the second."""

    def __init__(self, *, workflow_id, run_id, **kwargs):
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.sim_run_id = run_id

    def execute(self, context):
        hook = SimHook()
        hook.execute_workflow(self.workflow_id, {}, run_id=self.sim_run_id)
        hook.execute_workflow(self.workflow_id, {}, run_id=self.sim_run_id)
'''


@pytest.fixture
def dag_runner(target: Target) -> DagRunner:
    return shared_runner(target.base_url, target.api_key)


def test_one_dag_with_every_kind_of_task(target: Target, api: str, dag_runner: DagRunner) -> None:
    # a run that lasts: the emulator holds it until the test has seen it running; yours sleeps 3 s
    slow = target.slow or target.echo
    slow_input = target.slow_input(3) if target.slow else INPUT
    conflict_id = f"conformance-dag-{api}-{uuid.uuid4().hex[:12]}"
    dag_id = f"conformance_{api}_{uuid.uuid4().hex[:6]}"  # never a stale serialized DAG of the same id
    body = f"""
        SimExecuteWorkflowOperator(task_id="sync", workflow_id={target.echo!r}, input={INPUT!r},
                                   async_execution=False)
        SimExecuteWorkflowOperator(task_id="polled", workflow_id={slow!r}, input={slow_input!r},
                                   deferrable=False, poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="deferred", workflow_id={slow!r}, input={slow_input!r},
                                   deferrable=True, poll_interval=0.2)
        SimExecuteWorkflowOperator(task_id="failure", workflow_id={target.fail!r}, input={INPUT!r},
                                   async_execution=False)
        ExecuteTwice(task_id="conflict", workflow_id={target.echo!r}, run_id={conflict_id!r})
    """

    def release_held_runs(_handle: RunHandle) -> None:
        if target.emulator is not None:
            act_on_each(target.emulator, ["polled", "deferred"], "running", lambda e: target.release(e["id"]))

    connection = sim_connection(
        target.base_url, target.api_key, api_version=api, retry_initial_delay=0.05, retry_max_delay=1.0
    )
    result = dag_runner.run_source(
        dag_source(dag_id, body, imports=CONFLICT_OPERATOR),
        dag_id=dag_id,
        env={"AIRFLOW_CONN_SIM_DEFAULT": connection},
        timeout=240,
        during=release_held_runs,
    )
    states = result.states
    assert states == {
        "sync": "success",
        "polled": "success",
        "deferred": "success",
        "failure": "failed",
        "conflict": "failed",
    }, result.tail()
    for task_id in ("sync", "polled", "deferred"):
        ti = result.task(task_id)
        assert ti.xcom["sim_status"] == "completed" and ti.return_value is not None, (task_id, ti.xcom)
    if target.is_emulator:
        assert result.task("sync").return_value == INPUT
    log = re.sub(r"[\s│]+", " ", result.log)  # Airflow 3.0 prints tracebacks in boxes, wrapped
    assert "running trigger in line" in log, result.tail()  # the deferred task really deferred
    assert "SimRunFailedError" in log and "ended failed" in log
    assert "SimConflictError" in log and f"run id {conflict_id!r} is already taken" in log
    if target.emulator is not None:
        assert [e["id"] for e in target.emulator.executions()].count(conflict_id) == 1
