"""``@task.sim`` through real Airflow (``dag.test()``) against the emulator: the function's return
value is what the emulator received as the input, the task's XCom is the workflow output."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_sim.decorators.sim import sim_task
from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimConfigurationError
from tests.dag_runner import RunDag

IMPORTS = "from airflow.providers.common.compat.sdk import task\n"


def test_task_sim_is_the_providers_decorator() -> None:
    from airflow.providers.common.compat.sdk import task

    assert task.sim is sim_task


def test_input_is_the_functions_to_return() -> None:
    from datetime import datetime

    from airflow.providers.common.compat.sdk import DAG

    with (
        DAG("t_input_arg", schedule=None, start_date=datetime(2025, 1, 1)),
        pytest.raises(SimConfigurationError, match="return the input from the function"),
    ):

        @sim_task(workflow_id="echo", input={"a": 1})
        def f() -> None: ...

        f()


def test_the_function_gives_the_input_and_the_task_returns_the_output(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    result = run_dag(
        """
        @task
        def fetch() -> str:
            return "quarterly numbers"

        @task.sim(workflow_id="echo", async_execution=False)
        def summarise(text: str, day: str) -> dict:
            return {"text": text.upper(), "day": day}

        summarise(fetch(), day="{{ ds }}")
        """,
        imports=IMPORTS,
    )
    ti = result.task("summarise")
    assert ti.state == "success", result.tail()
    [execution] = emulator.control.executions()
    assert execution["input"]["text"] == "QUARTERLY NUMBERS"
    assert execution["input"]["day"] != "{{ ds }}" and len(execution["input"]["day"]) == 10
    assert ti.return_value == execution["input"]
    assert ti.xcom["sim_run_id"] == execution["id"]


def test_mapped_over_the_functions_arguments(run_dag: RunDag, emulator: EmulatorHandle) -> None:
    result = run_dag(
        """
        @task.sim(workflow_id="echo", async_execution=False)
        def summarise(ticket: str, team: str) -> dict[str, str]:  # a dict annotation: still one XCom
            return {"ticket": ticket, "team": team}

        summarise.partial(team="support").expand(ticket=["T-1", "T-2", "T-3"])
        """,
        imports=IMPORTS,
    )
    mapped = result.mapped("summarise")
    assert [t.state for t in mapped] == ["success"] * 3, result.tail()
    assert [t.return_value for t in mapped] == [{"ticket": f"T-{n}", "team": "support"} for n in (1, 2, 3)]
    assert "ticket" not in mapped[0].xcom  # multiple_outputs stays off
    executions = emulator.control.executions()
    assert sorted(e["input"]["ticket"] for e in executions) == ["T-1", "T-2", "T-3"]
    assert sorted(t.xcom["sim_run_id"] for t in mapped) == sorted(e["id"] for e in executions)


def test_deferred_the_function_runs_once_and_the_trigger_waits(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    result = run_dag(
        """
        calls = []

        @task.sim(workflow_id="echo", deferrable=True, poll_interval=0.2, timeout=60, on_pause="fail")
        def ask(question: str) -> dict:
            calls.append(question)
            print(f"input built {len(calls)} time(s)")
            return {"question": question}

        ask("{{ dag.dag_id }}?")
        """,
        imports=IMPORTS,
    )
    ti = result.task("ask")
    assert ti.state == "success", result.tail()
    assert "running trigger in line" in result.log
    assert result.log.count("input built 1 time(s)") == 1 and "input built 2" not in result.log
    [execution] = emulator.control.executions()
    assert execution["input"] == {"question": f"{result.dag_id}?"} == ti.return_value


def test_files_from_the_function_and_from_an_upstream_task_reach_the_workflow(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    result = run_dag(
        """
        @task
        def make_report() -> dict:  # XCom carries Sim's own file value: plain JSON
            return SimFile.from_bytes(b"%PDF-1 report", name="report.pdf").to_value()

        @task
        def write_notes() -> str:  # a path, read by the Sim task in its worker
            path = Path(tempfile.mkdtemp()) / "notes.txt"
            path.write_text("call the customer")
            return str(path)

        @task.sim(workflow_id="echo", async_execution=False)
        def review(report: dict, notes_path: str) -> dict:
            return {"report": report, "notes": Path(notes_path), "raw": [b"\\x00\\x01"]}

        review(make_report(), write_notes())
        SimExecuteWorkflowOperator(
            task_id="operator", workflow_id="echo", input={"report": make_report()}, async_execution=False
        )
        """,
        imports=IMPORTS
        + "import tempfile\nfrom pathlib import Path\nfrom airflow_provider_sim.files import SimFile\n",
    )
    assert result.state == "success", result.tail()
    output = result.task("review").return_value
    [report], [notes], [raw] = output["report"], output["notes"], output["raw"]
    assert (report["name"], report["type"], base64.b64decode(report["base64"])) == (
        "report.pdf",
        "application/pdf",
        b"%PDF-1 report",
    )
    assert (notes["name"], notes["type"], base64.b64decode(notes["base64"])) == (
        "notes.txt",
        "text/plain",
        b"call the customer",
    )
    assert (raw["name"], raw["size"]) == ("file", 2)
    [from_operator] = result.task("operator").return_value["report"]
    assert base64.b64decode(from_operator["base64"]) == b"%PDF-1 report"
    assert len(emulator.control.executions()) == 2


def test_a_file_over_sims_limit_fails_the_task_before_any_run(
    run_dag: RunDag, emulator: EmulatorHandle
) -> None:
    result = run_dag(
        """
        @task.sim(workflow_id="echo", retries=0)
        def send() -> dict:
            return {"video": b"x" * (20 * 1024 * 1024 + 1)}

        send()
        """,
        imports=IMPORTS,
    )
    assert result.task("send").state == "failed"
    # short fragments: Airflow 3.0 logs the error inside a wrapped rich traceback
    assert "SimConfigurationError" in result.log and "(20 MiB) per" in result.log
    assert emulator.control.executions() == []
