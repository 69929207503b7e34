"""``sim_task`` type-checks for DAG authors: mypy sees the operator's parameters and the
function's own, and flags a DAG file that gets either wrong."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_sim.version_compat import AIRFLOW_V_3_3_PLUS

USER_DAG = """
from airflow_provider_sim.decorators import sim_task
from airflow_provider_sim.files import SimFile


@sim_task(workflow_id="echo", deferrable=True, timeout=60)
def summarise(text: str) -> dict[str, object]:
    return {"text": text, "doc": SimFile.from_bytes(b"x", name="a.txt")}


summarise("hi")
summarise.partial().expand(text=["a", "b"])
reveal_type(summarise)


@sim_task(timeout="soon")  # line 15: no workflow_id; timeout is not a number
def broken() -> None: ...


summarise(1)  # line 19: text is a str
"""


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="the package is type-checked on the Airflow 3.3 line only")
def test_mypy_checks_the_decorators_and_the_functions_arguments(tmp_path: Path) -> None:
    dag = tmp_path / "user_dag.py"
    dag.write_text(textwrap.dedent(USER_DAG).lstrip())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--ignore-missing-imports",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(dag),
        ],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    report = done.stdout
    assert 'Revealed type is "airflow.sdk.bases.decorator.Task[[text: str], dict[str, object]]"' in report, (
        report
    )
    errors = re.findall(r"user_dag\.py:(\d+): error: (.*)", report)
    assert [(int(line), message.split('"')[1]) for line, message in errors] == [
        (15, "workflow_id"),
        (15, "timeout"),
        (19, "int"),
    ], report
