"""``on_pause="airflow"`` on real Airflow 3.3 components: a paused Sim run becomes a Required Action
that a person answers through the api-server's REST API, and the response timeout's default answer
comes from the scheduler's ``awaiting_input`` sweep (which ``dag.test()`` has no scheduler for).

One DAG, two tasks on the emulator's approval workflow: ``ask`` (deferrable, waits for the answer
in ``awaiting_input`` and for the run in the triggerer) is answered with
``PATCH .../taskInstances/ask/-1/hitlDetails``; ``late`` is never answered and resumes with its
``hitl_timeout_answer`` once its 2 s response timeout has passed.

Retries: Airflow 3.3.2 itself sometimes fails a task that resumes within seconds of deferring (a
stale executor event; see ``test_mapped_deferred_free_plan``): the tasks allow retries, and a retry
re-attaches to the paused run and asks again, so that race does not decide the test.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from tests.cluster.airflow_cluster import NOT_AIRFLOW_3_3, SKIP_REASON, AirflowCluster
from tests.dag_runner import dag_source

DAG_ID = "cluster_hitl_required_action"
DAG_BODY = """
SimExecuteWorkflowOperator(task_id="ask", workflow_id="approval", input={"doc": "ask"},
                           deferrable=True, on_pause="airflow", poll_interval=0.5,
                           hitl_params={"approved": False, "comment": ""})
SimExecuteWorkflowOperator(task_id="late", workflow_id="approval", input={"doc": "late"},
                           on_pause="airflow", poll_interval=0.5,
                           hitl_response_timeout=timedelta(seconds=2),
                           hitl_timeout_answer={"approved": False, "comment": "no answer"})
"""

pytestmark = [pytest.mark.skipif(NOT_AIRFLOW_3_3, reason=SKIP_REASON), pytest.mark.timeout(600)]


def hitl_path(run_id: str, task_id: str) -> str:
    return f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails"


def pending_request(cluster: AirflowCluster, run_id: str, task_id: str) -> dict[str, Any] | None:
    """The task's Required Action while the task is parked in ``awaiting_input`` unanswered."""
    states = {ti["task_id"]: ti.get("state") for ti in cluster.task_instances(DAG_ID, run_id)}
    if states.get(task_id) != "awaiting_input":
        return None
    detail = cluster.api("GET", hitl_path(run_id, task_id), ok=(404,))
    return detail if isinstance(detail, dict) and not detail.get("response_received") else None


def answer_until_the_run_ends(cluster: AirflowCluster, run_id: str, answer: dict[str, Any]) -> list[Any]:
    """Answer ``ask`` as a person would each time it asks (a retry after Airflow's stale-event race
    asks again); return the requests answered."""
    answered: list[Any] = []
    deadline = time.monotonic() + 240
    while cluster.run_state(DAG_ID, run_id) not in ("success", "failed"):
        assert time.monotonic() < deadline, f"the DAG run did not end{cluster.diagnostics()}"
        cluster.check_alive()
        request = pending_request(cluster, run_id, "ask")
        if request is not None:
            response = cluster.api("PATCH", hitl_path(run_id, "ask"), json_body=answer, ok=(409,))
            answered.append(request)
            assert response is None or "chosen_options" in response or "detail" in response
        time.sleep(0.5)
    return answered


def test_a_person_answers_through_the_rest_api_and_a_timeout_answers_with_the_default(
    airflow_cluster: AirflowCluster, emulator: EmulatorHandle
) -> None:
    cluster = airflow_cluster
    dag_kwargs = 'default_args={"retries": 3, "retry_delay": timedelta(seconds=1)}'
    cluster.add_dag(DAG_ID, dag_source(DAG_ID, DAG_BODY, dag_kwargs=dag_kwargs))
    cluster.unpause(DAG_ID)
    run_id = cluster.trigger(DAG_ID)
    answer = {"chosen_options": ["Resume"], "params_input": {"approved": True, "comment": "ok"}}
    answered = answer_until_the_run_ends(cluster, run_id, answer)
    assert answered, "ask never asked"
    assert answered[0]["options"] == ["Resume", "Cancel run"]
    assert set(answered[0]["params"]) == {"approved", "comment"}
    assert cluster.run_state(DAG_ID, run_id) == "success", cluster.explain(cluster.collect(DAG_ID, run_id))
    run = cluster.collect(DAG_ID, run_id, xcom_keys=None)
    ask, late = run.task("ask"), run.task("late")
    print(f"\n[{DAG_ID}] tries: ask {ask.try_number}, late {late.try_number}; answers {len(answered)}")
    assert ask.return_value == {"input": {"doc": "ask"}, "resumeInput": {"approved": True, "comment": "ok"}}
    if ask.try_number == 1:  # a retry that re-attached to the finished run has asked nothing
        [given] = ask.xcom["sim_hitl_answers"]
        assert given["responded_by"]["name"] and given["timed_out"] is False
        log = cluster.task_log(DAG_ID, run_id, "ask")
        assert "Asking in Airflow (Required Actions)" in log and "answered at" in log
    assert late.return_value["resumeInput"] == {"approved": False, "comment": "no answer"}
    [default] = late.xcom["sim_hitl_answers"]
    assert default["responded_by"] is None and default["timed_out"] is True
    # one Sim run per task, whatever the retries: a retry re-attaches to its paused or finished run
    assert sorted(e["status"] for e in emulator.control.executions()) == ["completed", "completed"]
