"""Asset events: a Sim task with outlets leaves, in each Asset event Airflow records for it, the
run's id, status, duration and cost (read back from Airflow's DB), and a DAG scheduled on that
Asset reads them (the example pair ``example_sim_assets`` / ``example_sim_assets_downstream``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from tests.dag_runner import DagRunner, RunDag

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
ASSETS = "from airflow.providers.common.compat.sdk import Asset\n"
FACTS = ("sim_run_id", "sim_workflow_id", "sim_status", "sim_duration_ms", "sim_cost", "sim_run_url")


def asset_events(uri: str) -> list[dict[str, Any]]:
    """Every event of the Asset (Dataset on Airflow 2) ``uri`` in the metadata DB, oldest first:
    the task that emitted it and its ``extra``."""
    from airflow.utils.session import create_session

    event: Any
    model: Any
    try:  # Airflow 3
        from airflow.models.asset import AssetEvent, AssetModel

        event, model, asset_id = AssetEvent, AssetModel, AssetEvent.asset_id
    except ImportError:  # Airflow 2: Datasets
        from airflow.models.dataset import DatasetEvent, DatasetModel

        event, model, asset_id = DatasetEvent, DatasetModel, DatasetEvent.dataset_id
    with create_session() as session:
        rows = session.query(event).join(model, asset_id == model.id).filter(model.uri == uri)
        return [
            {"dag_id": row.source_dag_id, "task_id": row.source_task_id, "extra": dict(row.extra or {})}
            for row in rows.order_by(event.id)
        ]


def facts_in(xcom: dict[str, Any]) -> dict[str, Any]:
    return {key: xcom.get(key) for key in FACTS}


@pytest.mark.parametrize("deferrable", [False, True], ids=["polled", "deferred"])
def test_each_asset_event_carries_the_run(run_dag: RunDag, deferrable: bool) -> None:
    summary, scores = (f"file:///data/{run_dag.dag_id}/{name}.json" for name in ("summary", "scores"))
    result = run_dag(
        f'SimExecuteWorkflowOperator(task_id="summarise", workflow_id="echo", input={{"n": 1}}, '
        f'poll_interval=0.1, deferrable={deferrable}, outlets=[Asset("{summary}"), Asset("{scores}")])',
        imports=ASSETS,
    )
    assert result.state == "success", result.tail()
    xcom = result.task("summarise").xcom
    assert xcom["sim_status"] == "completed" and xcom["sim_cost"] is not None
    for uri in (summary, scores):
        (event,) = asset_events(uri)
        assert (event["dag_id"], event["task_id"]) == (run_dag.dag_id, "summarise")
        assert event["extra"] == facts_in(xcom)


def test_a_run_without_cost_still_names_every_key(run_dag: RunDag) -> None:
    """Sim's synchronous answer reports no cost: the key is there, ``None``."""
    uri = f"file:///data/{run_dag.dag_id}/sync.json"
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="quick", workflow_id="echo", async_execution=False, '
        f'outlets=[Asset("{uri}")])',
        imports=ASSETS,
    )
    assert result.state == "success", result.tail()
    (event,) = asset_events(uri)
    assert set(event["extra"]) == set(FACTS)
    assert event["extra"]["sim_cost"] is None
    assert event["extra"]["sim_run_id"] == result.task("quick").xcom["sim_run_id"]


def test_a_dag_scheduled_on_the_asset_reads_the_run(dag_runner: DagRunner, emulator: EmulatorHandle) -> None:
    produced = dag_runner.run_file(EXAMPLES / "example_sim_assets.py", dag_id="example_sim_assets")
    assert produced.state == "success", produced.tail()
    upstream = produced.task("summarise_week").xcom
    latest = asset_events("s3://reports/weekly-summary.json")[-1]
    assert latest["extra"] == facts_in(upstream)

    consumed = dag_runner.run_file(
        EXAMPLES / "example_sim_assets_downstream.py", dag_id="example_sim_assets_downstream"
    )
    assert consumed.state == "success", consumed.tail()
    read = consumed.task("upstream_sim_run").return_value
    assert read == {key: upstream[key] for key in ("sim_run_id", "sim_status", "sim_duration_ms", "sim_cost")}
    # the follow-up workflow (echo) got them as its input
    assert consumed.task("review_summary").return_value["produced_by"] == read


def test_a_run_without_a_link_leaves_the_url_out(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    """The task builds no link when it can't read the workflow's workspace: the event says so."""
    uri = f"file:///data/{run_dag.dag_id}/nolink.json"
    not_found = {"error": {"code": "NOT_FOUND", "message": "Workflow not found"}}
    emulator.control.add_fault("/api/v2/workflows/echo", method="GET", status=404, body=not_found)
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="unlinked", workflow_id="echo", poll_interval=0.1, '
        f'outlets=[Asset("{uri}")])',
        imports=ASSETS,
    )
    assert result.state == "success", result.tail()
    xcom = result.task("unlinked").xcom
    assert "sim_run_url" not in xcom
    (event,) = asset_events(uri)
    assert event["extra"] == facts_in(xcom)
    assert event["extra"]["sim_run_url"] is None and event["extra"]["sim_run_id"] == xcom["sim_run_id"]
