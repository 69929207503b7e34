"""OpenLineage: the events the OpenLineage provider's real listener emits for Sim tasks under
``dag.test()``, captured by its file transport, carry the Sim workflow, the Sim run and the
declared datasets; the provider imports and runs without OpenLineage installed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.emulator.process import EmulatorProcess
from tests.dag_runner import REPO_ROOT, AirflowEnv, DagRunner, RunDag, shared_runner

pytest.importorskip("airflow.providers.openlineage", reason="the openlineage extra is not installed")

from airflow_provider_sim.operators.lineage_facets import (
    SCHEMA_BASE_URL,
    SCHEMA_DIR,
    SimRunFacet,
    SimWorkflowJobFacet,
    schema_url,
)

ASSETS = "from airflow.providers.common.compat.sdk import Asset\n"
DATASETS = 'inlets=[Asset("file:///data/tickets.json")], outlets=[Asset("file:///data/summary.json")]'


class LineageEvents:
    """The OpenLineage events the file transport appended, one JSON document a line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def of(self, dag_id: str, task_id: str) -> dict[str, dict[str, Any]]:
        """The task's events by type (``START``, ``COMPLETE``, ``FAIL``): the last of each."""
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        events = [json.loads(line) for line in lines if line.strip()]
        mine = [e for e in events if e["job"]["name"] == f"{dag_id}.{task_id}"]
        return {e["eventType"]: e for e in mine}


@pytest.fixture(scope="module")
def lineage_runner(sim_server: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ``dag.test()`` worker of its own whose Airflow has OpenLineage on, writing every event to
    a file: the listener is registered as Airflow starts, so the shared worker can't be switched."""
    base = shared_runner(sim_server.base_url, sim_server.api_key)  # migrates the session's DB
    events = tmp_path_factory.mktemp("openlineage") / "events.jsonl"
    env = {
        **base.airflow.env,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "sim-tests",
    }
    runner = DagRunner(AirflowEnv(base.airflow.home, base.airflow.dags_folder, env))
    try:
        yield runner, LineageEvents(events)
    finally:
        runner.close()


@pytest.fixture
def run_dag(
    lineage_runner: tuple[DagRunner, LineageEvents], emulator: EmulatorHandle, request: pytest.FixtureRequest
) -> RunDag:
    return RunDag(lineage_runner[0], request.node.name, request.node.nodeid)


@pytest.fixture
def events(lineage_runner: tuple[DagRunner, LineageEvents]) -> LineageEvents:
    return lineage_runner[1]


def assert_matches_schema(facet_class: type, facet: dict[str, Any]) -> None:
    """``facet`` (as emitted) names its class's versioned schema and validates against the shipped
    file's own part (the base facet's part is OpenLineage's, a remote reference)."""
    import jsonschema

    name = facet_class.__name__
    assert facet["_schemaURL"] == schema_url(name)
    definition = json.loads((SCHEMA_DIR / f"{name}.json").read_text())["$defs"][name]
    own = next(part for part in definition["allOf"] if "$ref" not in part)
    jsonschema.validate(facet, own)


@pytest.mark.parametrize("facet_class", [SimRunFacet, SimWorkflowJobFacet])
def test_each_schema_file_describes_its_facet(facet_class: type) -> None:
    import attrs

    name = facet_class.__name__
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    assert schema["$id"] == f"{SCHEMA_BASE_URL}/{name}.json", "bump $id with the provider's version"
    own = next(part for part in schema["$defs"][name]["allOf"] if "$ref" not in part)
    fields = {f.name for f in attrs.fields(facet_class) if not f.name.startswith("_")}
    assert set(own["properties"]) == fields
    required = {f.name for f in attrs.fields(facet_class) if f.default is attrs.NOTHING}
    assert set(own["required"]) == required - {"_producer", "_schemaURL"}


def test_completed_run_names_the_workflow_the_run_and_the_datasets(
    run_dag: RunDag, events: LineageEvents
) -> None:
    result = run_dag(
        f'SimExecuteWorkflowOperator(task_id="summarise", workflow_id="echo", input={{"n": 1}}, '
        f"poll_interval=0.1, {DATASETS})",
        imports=ASSETS,
    )
    assert result.state == "success", result.tail()
    xcom = result.task("summarise").xcom
    emitted = events.of(run_dag.dag_id, "summarise")
    start, done = emitted["START"], emitted["COMPLETE"]
    for event in (start, done):
        workflow = event["job"]["facets"]["sim_workflow"]
        assert workflow["workflowId"] == "echo"
        assert_matches_schema(SimWorkflowJobFacet, workflow)
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("file", "/data/tickets.json")]
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [("file", "/data/summary.json")]
    assert "sim_run" not in start["run"]["facets"]  # no run exists yet as the task starts
    run = done["run"]["facets"]["sim_run"]
    assert_matches_schema(SimRunFacet, run)
    assert {k: v for k, v in run.items() if not k.startswith("_")} == {
        "runId": xcom["sim_run_id"],
        "workflowId": "echo",
        "status": "completed",
        "runUrl": xcom["sim_run_url"],
        "durationMs": xcom["sim_duration_ms"],
        "cost": xcom["sim_cost"],
    }
    assert run["cost"] is not None and run["runUrl"].endswith(xcom["sim_run_id"])
    assert done["run"]["facets"]["externalQuery"]["externalQueryId"] == xcom["sim_run_id"]
    assert done["run"]["facets"]["externalQuery"]["source"] == "sim"


def test_deferred_task_reports_the_run_from_its_resumed_half(run_dag: RunDag, events: LineageEvents) -> None:
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="deferred", workflow_id="echo", input={"n": 2}, '
        "deferrable=True, poll_interval=0.1)"
    )
    assert result.state == "success", result.tail()
    xcom = result.task("deferred").xcom
    run = events.of(run_dag.dag_id, "deferred")["COMPLETE"]["run"]["facets"]["sim_run"]
    assert (run["runId"], run["status"], run["runUrl"]) == (
        xcom["sim_run_id"],
        "completed",
        xcom["sim_run_url"],
    )
    assert run["cost"] == xcom["sim_cost"]


def test_failed_run_carries_sims_error(run_dag: RunDag, events: LineageEvents) -> None:
    result = run_dag(
        'SimExecuteWorkflowOperator(task_id="doomed", workflow_id="fail", '
        'input={"message": "the model refused"}, poll_interval=0.1, outlets=[Asset("file:///data/x.json")])',
        imports=ASSETS,
    )
    assert result.task("doomed").state == "failed", result.tail()
    emitted = events.of(run_dag.dag_id, "doomed")
    assert "COMPLETE" not in emitted
    failed = emitted["FAIL"]
    run = failed["run"]["facets"]["sim_run"]
    assert run["status"] == "failed"
    assert run["runId"] == result.task("doomed").xcom["sim_run_id"]
    assert "Workflow failed: the model refused" in run["error"]
    assert_matches_schema(SimRunFacet, run)
    assert [d["name"] for d in failed["outputs"]] == ["/data/x.json"]


# the provider's metadata stays readable: Airflow's provider discovery loads it from the entry point
METADATA = ("airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info")
BLOCK_OPENLINEAGE = f"""
import importlib.abc, sys

METADATA = {METADATA!r}

class NoOpenLineage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in METADATA:
            return None
        if name == "openlineage" or name.startswith(("openlineage.", "airflow.providers.openlineage")):
            raise ImportError(f"{{name}} is not installed (blocked by the test)")
        return None

sys.meta_path.insert(0, NoOpenLineage())
"""


def test_the_operator_needs_no_openlineage(tmp_path: Path) -> None:
    """Without OpenLineage installed, the operator module imports, builds a task with outlets, and
    fills the Asset events' extras; nothing of OpenLineage is loaded on the way."""
    script = BLOCK_OPENLINEAGE + textwrap.dedent(
        """
        from airflow.providers.common.compat.sdk import Asset
        from airflow_provider_sim.operators.lineage import RunFacts, add_to_outlet_events
        from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

        asset = Asset("file:///data/out.json")
        task = SimExecuteWorkflowOperator(task_id="t", workflow_id="echo", outlets=[asset])

        class Accessor:
            def __init__(self):
                self.extra = {"mine": 1}

        events = {}
        class Events(dict):
            def __getitem__(self, key):
                return events.setdefault(key.uri, Accessor())  # Assets are unhashable on 3.0

        facts = RunFacts("r1", "echo", "completed", None, 5.0, 0.25)
        add_to_outlet_events({"task": task, "outlet_events": Events()}, facts)
        assert events[asset.uri].extra == {"mine": 1, **facts.asset_extra()}, events
        loaded = sorted(m for m in sys.modules if "openlineage" in m and m not in METADATA)
        assert not loaded, loaded
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**_clean_env(), "AIRFLOW_HOME": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__OPENLINEAGE")}
