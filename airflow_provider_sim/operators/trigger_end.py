"""``end_from_trigger``: a deferred ``SimExecuteWorkflowOperator`` that the triggerer ends itself.

When the run completes, :class:`~airflow_provider_sim.triggers.sim.SimRunTrigger` yields Airflow's
``TaskSuccessEvent`` with the XComs the worker would push, and Airflow (2.10+) marks the task
successful from the triggerer: the task does not go back to a worker to run ``execute_complete``.
Every other ending resumes the task in the worker as without the option.

What the worker would have done and the triggerer does not: ``execute_complete``, the success
listeners (OpenLineage's COMPLETE event among them) and the task's Asset events. The task's
``on_success_callback`` still runs, in the DAG processor. Combinations that need the worker after
a success are refused here, when the task is built.

A runner that does not end tasks from the trigger (``dag.test()``, ``airflow tasks test``) resumes
the task with the bare ``TaskSuccessEvent`` payload instead; the task then reads the run again and
finishes in the worker (:func:`run_ended_in_trigger`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.links import XCOM_RUN_ID
from airflow_provider_sim.protocol.build import check_workflow_id
from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS, Asset, Context

if TYPE_CHECKING:
    from airflow_provider_sim.protocol.models import SimRun

#: the payload of Airflow's ``TaskSuccessEvent`` (``TaskInstanceState.SUCCESS``)
TASK_SUCCESS_PAYLOAD = "success"


def check_end_from_trigger(op: Any) -> None:
    """Refuse ``end_from_trigger=True`` where a successful run still needs the worker.

    :raises SimConfigurationError: naming what to change.
    """
    needs = [
        (
            AIRFLOW_V_3_0_PLUS,
            "Airflow 3 (its triggerer stores a TaskSuccessEvent's XComs as JSON strings, so the output "
            "would reach XCom and downstream tasks as a string; tests/triggers/test_sim_trigger_end.py)",
        ),
        (
            not op.deferrable,
            "deferrable=False (only a deferred task waits in the triggerer)",
        ),
        (not op.wait_for_completion, "wait_for_completion=False (the task does not wait for the run)"),
        (op.stream, "stream=True (the run is read in the worker)"),
        (op.on_pause == "airflow", "on_pause='airflow' (answers are asked and pushed by the worker)"),
        (not getattr(op, "do_xcom_push", True), "do_xcom_push=False (the trigger pushes the output)"),
        (getattr(op, "multiple_outputs", False), "multiple_outputs=True (the worker splits the output)"),
        (
            any(isinstance(outlet, Asset) for outlet in getattr(op, "outlets", None) or ()),
            "Asset outlets (their events and the run's facts in them are emitted by the worker)",
        ),
    ]
    refused = [why for refuses, why in needs if refuses]
    if refused:
        raise SimConfigurationError(
            "end_from_trigger=True ends the task in the triggerer when the run completes, which "
            f"cannot work with {'; '.join(refused)}. Drop end_from_trigger or change these."
        )


def is_task_end_payload(event: object) -> bool:
    """Whether a resumed task got the payload of a ``TaskSuccessEvent`` instead of our event."""
    return isinstance(event, str) and event == TASK_SUCCESS_PAYLOAD


def run_ended_in_trigger(op: Any, context: Context) -> SimRun:
    """The run the trigger saw complete, read again from Sim by the id the task pushed before
    deferring (a re-attached run of an earlier try has that try's id)."""
    ti = context["ti"]
    run_id = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_RUN_ID, map_indexes=getattr(ti, "map_index", -1))
    if not isinstance(run_id, str) or not run_id:
        raise SimConfigurationError(
            f"The trigger ended the task, but the task has no {XCOM_RUN_ID!r} XCom to read the run by."
        )
    op.log.info("The trigger saw Sim run %s complete; this runner resumed the task, reading it", run_id)
    run: SimRun = op.hook.get_run(check_workflow_id(op.workflow_id), run_id)
    return run
