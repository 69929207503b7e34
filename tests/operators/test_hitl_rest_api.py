"""``on_pause="airflow"`` answered through a real api-server's REST API, on Airflow 3.1, 3.2 and 3.3.

The DAG runs under ``airflow dags test`` beside an ``airflow api-server`` on the same database
(:mod:`tests.operators.hitl_rest_server`); the test finds the Required Action and answers it with
``PATCH .../hitlDetails`` as a person's client would, twice, as the Sim run pauses twice. The
scheduler-driven paths (3.3's response-timeout sweep) are in ``tests/cluster/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS, AIRFLOW_VERSION
from tests.operators import hitl_rest_server as rest
from tests.ui.airflow_server import make_server

pytestmark = [
    pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="Airflow's Required Actions (HITL REST API) are 3.1+"),
    pytest.mark.timeout(900),
]
DAG_ID = "hitl_rest_api"
DAG_BODY = """
SimExecuteWorkflowOperator(task_id="ask", workflow_id="approval", input={"doc": 11, "pauses": 2},
                           deferrable=True, on_pause="airflow", poll_interval=0.5)
"""


def test_a_person_answers_each_pause_through_the_rest_api(tmp_path: Path, emulator: EmulatorHandle) -> None:
    server = make_server(Path(sys.executable).parent / "airflow", AIRFLOW_VERSION, tmp_path)
    server.start()
    log = tmp_path / "dags-test.log"
    try:
        rest.use_wal(server)
        source = rest.dag_file(DAG_ID, DAG_BODY, shim=not AIRFLOW_V_3_3_PLUS)
        process = rest.start_dag_test(
            server, DAG_ID, source, sim_base_url=emulator.base_url, sim_api_key=emulator.api_key, log=log
        )
        try:
            run_id, first = rest.wait_for_required_action(server, DAG_ID, "ask", process, log)
            assert first["options"] == ["Resume", "Cancel run"]
            assert "| doc | 11 |" in first["body"]  # Sim's display data, from its pause detail
            assert set(first["params"]) == {"approved", "comment"}  # Sim's form
            reply = rest.answer(server, DAG_ID, run_id, "ask", "Resume", {"approved": True, "comment": "a"})
            assert reply["chosen_options"] == ["Resume"]
            _, second = rest.wait_for_required_action(server, DAG_ID, "ask", process, log)
            rest.answer(server, DAG_ID, run_id, "ask", "Resume", {"approved": False, "comment": "b"})
            output = rest.wait_for_exit(process, log)
        finally:
            if process.poll() is None:
                process.kill()
        assert set(second["params"]) == {"approved", "comment"}
        tis = server.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()
        assert [ti["state"] for ti in tis["task_instances"]] == ["success"], output[-3000:]
        xcom = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/ask/xcomEntries"
        answers = server.request("GET", f"{xcom}/sim_hitl_answers?deserialize=true").json()["value"]
        assert [(a["context_id"], a["input"]) for a in answers] == [
            ("approval", {"approved": True, "comment": "a"}),
            ("approval-2", {"approved": False, "comment": "b"}),
        ]
        assert all(a["responded_by"] and a["responded_at"] for a in answers)  # who, when: the REST caller
        [execution] = emulator.control.executions()  # one run, resumed in place twice
        assert execution["status"] == "completed"
    finally:
        server.stop()
