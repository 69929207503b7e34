"""The example DAGs: they parse with no import errors on this Airflow, and each runs end to end
(``dag.test()``) against the emulator."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS
from tests.dag_runner import DagRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
FILES = sorted(EXAMPLES.glob("example_*.py"))
EXPECTED = {
    "example_sim_sync",
    "example_sim_deferrable",
    "example_sim_streaming",
    "example_sim_fire_and_forget",
    "example_sim_paused",
    "example_sim_mapped",
    "example_sim_resume",
    "example_sim_taskflow",
    "example_sim_files",
    "example_sim_run_events",
    "example_sim_assets",
    "example_sim_assets_downstream",
}
#: examples with no DAG before Airflow 3.0
AIRFLOW_3_ONLY = {"example_sim_run_events"}
#: examples that dag.test() cannot run end to end, and where they do run
RUN_ELSEWHERE = {
    "example_sim_run_events": "scheduled by a triggerer's Asset events: run in "
    "tests/cluster/test_run_events_cluster.py (its trigger in tests/triggers/test_run_ended_trigger.py)",
}


def test_every_example_is_there() -> None:
    assert {f.stem for f in FILES} == EXPECTED


def test_dagbag_imports_every_example_without_errors() -> None:
    try:  # Airflow 3.3: examples come from DAG bundles, so this DagBag has no include_examples
        from airflow.dag_processing.dagbag import DagBag

        dagbag = DagBag(dag_folder=str(EXAMPLES))
    except ImportError:  # Airflow 2.11 and 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

        dagbag = DagBag(dag_folder=str(EXAMPLES), include_examples=False)  # type: ignore[call-arg]
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == (EXPECTED if AIRFLOW_V_3_0_PLUS else EXPECTED - AIRFLOW_3_ONLY)
    for dag_id, dag in dagbag.dags.items():
        assert dag.tasks, dag_id
        assert {getattr(t, "sim_conn_id", "sim_default") for t in dag.tasks} == {"sim_default"}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_each_file_defines_one_dag_and_a_dag_test_main(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), "each example says what it shows"
    mains = [
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and "__main__" in ast.unparse(node.test)
        and "dag.test()" in ast.unparse(node)
    ]
    assert len(mains) == 1


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_each_example_runs_end_to_end(path: Path, dag_runner: DagRunner, emulator: EmulatorHandle) -> None:
    if path.stem in RUN_ELSEWHERE:
        pytest.skip(RUN_ELSEWHERE[path.stem])
    result = dag_runner.run_file(path, dag_id=path.stem)
    assert result.error is None, result.error
    assert result.state == "success", result.tail()
    assert all(t.state == "success" for t in result.tasks), result.states
    executions = emulator.control.executions()
    # every example starts one Sim run per Sim task instance (the sensor starts none)
    sim_tasks = [t for t in result.tasks if "sim_run_id" in t.xcom]
    # (a resume names the run it answered: that run is not started again)
    assert len(executions) == len({t.xcom["sim_run_id"] for t in sim_tasks}) and sim_tasks
    assert {e["id"] for e in executions} == {t.xcom["sim_run_id"] for t in sim_tasks}
    if path.stem == "example_sim_deferrable":
        assert "running trigger in line" in result.log
        assert result.task("run_workflow").return_value == {"seconds": 3, "report": "weekly-summary"}
    if path.stem == "example_sim_sync":
        assert result.task("follow_up").return_value == result.task("run_workflow").return_value
    if path.stem == "example_sim_mapped":
        tickets = [t.return_value["ticket"] for t in result.mapped("summarise_ticket")]
        assert tickets == ["T-101", "T-102", "T-103"]
    if path.stem == "example_sim_resume":
        assert result.task("answer").return_value["resumeInput"] == {
            "approved": True,
            "comment": "within budget",
        }
        assert result.task("answer").xcom["sim_run_id"] == result.task("request_approval").xcom["sim_run_id"]
    if path.stem == "example_sim_paused":
        assert result.task("request_approval").xcom["sim_status"] == "paused"
    if path.stem == "example_sim_taskflow":
        assert [t.xcom["sim_status"] for t in result.mapped("triage")] == ["completed"] * 3
        lines = result.task("report").return_value  # one per ticket, in map order, day rendered
        assert [line.split(": ", 1)[1] for line in lines] == [
            t.return_value["text"] for t in result.mapped("triage")
        ]
        assert "{{" not in lines[0] and sorted(e["input"]["text"] for e in executions) == sorted(
            t.return_value["text"] for t in result.mapped("triage")
        )
    if path.stem == "example_sim_files":
        [csv] = result.task("analyse").return_value["files"]
        assert (csv["name"], csv["type"], base64.b64decode(csv["base64"])[:14]) == (
            "sales.csv",
            "text/csv",
            b"region,revenue",
        )
        [chart] = result.task("describe_chart").return_value["files"]
        assert (chart["name"], chart["type"], chart["size"]) == ("chart.png", "image/png", 40)
