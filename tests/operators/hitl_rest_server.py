"""A paused Sim run waiting as a Required Action on a real Airflow api-server (3.1+), answered
through its REST API. Standard library only, like :mod:`tests.ui.airflow_server` (which starts the
server): ``scripts/screenshots.py`` uses it from its browser-driver venv too.

The DAG runs under ``airflow dags test`` in its own process, on the server's SQLite database (in
WAL mode, so the server's reads never block the run's writes); Airflow 3.1/3.2 DAG files install
the triggerer's HITL handling for ``dags test`` (:mod:`tests.operators.hitl_dag_test_shim`).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.ui.airflow_server import AirflowServer

ROOT = Path(__file__).resolve().parents[2]
SHIM = "from tests.operators.hitl_dag_test_shim import install\ninstall()\n"


def use_wal(server: AirflowServer) -> None:
    """Put the server's SQLite database in WAL mode (a setting of the file; after ``db migrate``)."""
    with sqlite3.connect(server.home / "airflow.db") as db:
        db.execute("PRAGMA journal_mode=WAL")


#: the state of a task that waits for a person's answer on 3.3 (scheduler-managed, no trigger)
PARKED_STATE = "awaiting_input"


def parks_tasks(server: AirflowServer) -> bool:
    """Whether this Airflow parks a task waiting for a person in ``awaiting_input`` (3.3+)."""
    major, minor = (int(part) for part in server.version.split(".")[:2])
    return (major, minor) >= (3, 3)


def task_path(dag_id: str, run_id: str, task_id: str) -> str:
    """Airflow's REST path of an unmapped task instance."""
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"


def hitl_path(dag_id: str, run_id: str, task_id: str) -> str:
    """Airflow's REST path of a task's Required Action (the same on 3.1, 3.2 and 3.3)."""
    return f"{task_path(dag_id, run_id, task_id)}/-1/hitlDetails"


def dag_file(dag_id: str, body: str, *, shim: bool) -> str:
    """A DAG file with one Sim task per line of ``body``."""
    tasks = "\n".join("    " + line for line in body.strip().splitlines())
    return (
        (SHIM if shim else "")
        + "from datetime import datetime, timedelta\n"
        + "from airflow.sdk import DAG\n"
        + "from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator\n"
        + f"with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):\n"
        + tasks
        + "\n"
    )


def start_dag_test(
    server: AirflowServer, dag_id: str, source: str, *, sim_base_url: str, sim_api_key: str, log: Path
) -> subprocess.Popen[bytes]:
    """Write the DAG into the server's DAG folder and start ``airflow dags test`` on it."""
    (server.home / "dags" / f"{dag_id}.py").write_text(source)
    connection = {"conn_type": "sim", "host": sim_base_url, "password": sim_api_key}
    env = {**server.env, "AIRFLOW_CONN_SIM_DEFAULT": json.dumps(connection), "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(server.airflow_bin), "dags", "test", dag_id],
            env=env,
            cwd=server.home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_required_action(
    server: AirflowServer,
    dag_id: str,
    task_id: str,
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 240,
) -> tuple[str, dict[str, Any]]:
    """The DAG run id and the task's unanswered Required Action, read through the REST API; on 3.3
    once the task is parked for it (``awaiting_input``). On 3.1/3.2 ``HITLTrigger`` reads the answer
    whenever it comes.

    Waiting for the parked state matters on 3.3: an answer given between the operator writing its
    request and the task parking is resumed by the execution API (the TI goes to ``scheduled``), but
    ``airflow dags test`` then sets the state its in-process run reported (``awaiting_input``) over
    it, and waits for an answer that was already given. A real worker does not do that.

    :raises AssertionError: ``dags test`` ended, or nothing asked within ``timeout``; the message
        has the last REST answers, the tail of ``dags test``'s output (``log``) and the server's log.
    """
    deadline = time.monotonic() + timeout
    last_answers: dict[str, str] = {}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"airflow dags test exited {process.returncode} before {task_id} asked\n{_tail(log)}"
            )
        runs = server.request("GET", f"/api/v2/dags/{dag_id}/dagRuns")
        last_answers["dagRuns"] = f"{runs.status} {runs.text[:300]}"
        for run in runs.json().get("dag_runs", []) if runs.status == 200 else []:
            detail = server.request("GET", hitl_path(dag_id, run["dag_run_id"], task_id))
            last_answers[run["dag_run_id"]] = f"{detail.status} {detail.text[:300]}"
            if detail.status == 200 and not detail.json().get("response_received"):
                if not parks_tasks(server):
                    return str(run["dag_run_id"]), detail.json()
                task = server.request("GET", task_path(dag_id, run["dag_run_id"], task_id))
                state = task.json().get("state") if task.status == 200 else None
                last_answers["task state"] = str(state)
                if state == PARKED_STATE:
                    return str(run["dag_run_id"]), detail.json()
        time.sleep(0.5)
    raise AssertionError(
        f"{task_id} asked nothing through the REST API within {timeout:.0f} s; last answers {last_answers}\n"
        f"--- airflow dags test ---\n{_tail(log)}\n--- api-server ---\n{server.log_tail(3000)}"
    )


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no output)"


def answer(
    server: AirflowServer, dag_id: str, run_id: str, task_id: str, option: str, params_input: dict[str, Any]
) -> dict[str, Any]:
    """Answer as a person does: ``PATCH .../hitlDetails``; return what the server answered."""
    body = {"chosen_options": [option], "params_input": params_input}
    reply = server.request("PATCH", hitl_path(dag_id, run_id, task_id), body=body)
    if reply.status != 200:
        raise AssertionError(f"PATCH hitlDetails: HTTP {reply.status}: {reply.text[:500]}")
    return dict(reply.json())


def wait_for_exit(process: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> str:
    """Wait for ``airflow dags test`` to end; return its output."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"airflow dags test overran {timeout:.0f} s\n{_tail(log)}") from None
    return log.read_text(errors="replace")
