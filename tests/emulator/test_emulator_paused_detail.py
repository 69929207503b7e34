"""The approval workflow pausing twice, and Sim's paused-execution detail of such a run, over HTTP."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_sim.emulator.control import EmulatorHandle


def call(emulator: EmulatorHandle, method: str, path: str, body: Any = None) -> requests.Response:
    url = path if path.startswith("http") else f"{emulator.base_url}{path}"
    return requests.request(method, url, json=body, headers=emulator.headers, timeout=5)


def detail(emulator: EmulatorHandle, run_id: str) -> requests.Response:
    return call(emulator, "GET", f"/api/workflows/approval/paused/{run_id}")


def test_a_run_that_pauses_twice_is_detailed_at_each_pause(emulator: EmulatorHandle) -> None:
    started = call(emulator, "POST", "/api/workflows/approval/execute", {"doc": 5, "pauses": 2}).json()
    run_id = started["executionId"]
    first = detail(emulator, run_id)
    assert first.status_code == 200
    record = first.json()
    assert (record["executionId"], record["status"], record["totalPauseCount"]) == (run_id, "paused", 1)
    [point] = record["pausePoints"]
    assert point["contextId"] == "approval" and point["pauseKind"] == "human"
    assert point["resumeStatus"] == "paused" and point["resumeLinks"]["executionId"] == run_id
    data = point["response"]["data"]  # the block's output: display data, form, links
    assert {"name": "doc", "type": "number", "value": 5} in data["responseStructure"]
    assert [f["name"] for f in data["inputFormat"]] == ["approved", "comment"]
    assert data["_resume"]["contextId"] == "approval" and record["queue"] == []

    answered = call(emulator, "POST", data["_resume"]["apiUrl"], {"input": {"approved": True}}).json()
    assert answered["status"] == "paused"  # the second Human in the Loop block
    assert answered["output"]["data"]["_resume"]["contextId"] == "approval-2"
    status = call(emulator, "GET", f"/api/workflows/approval/executions/{run_id}").json()
    assert status["paused"]["contextId"] == "approval-2"
    assert (status["paused"]["pausePointCount"], status["paused"]["resumedCount"]) == (2, 1)
    record = detail(emulator, run_id).json()
    assert (record["status"], record["totalPauseCount"], record["resumedCount"]) == (
        "partially_resumed",
        2,
        1,
    )
    done, waiting = record["pausePoints"]
    assert (done["contextId"], done["resumeStatus"]) == ("approval", "resumed")
    assert (waiting["contextId"], waiting["resumeStatus"]) == ("approval-2", "paused")
    shown = waiting["response"]["data"]["responseStructure"]
    assert shown == [{"name": "approved", "type": "boolean", "value": True}]  # the first answer
    [entry] = record["queue"]
    assert entry["contextId"] == "approval" and entry["newExecutionId"] == answered["executionId"]
    again = call(emulator, "POST", data["_resume"]["apiUrl"], {"input": {}})
    assert again.status_code == 404  # the first pause point is not where the run waits now

    second_url = waiting["resumeLinks"]["apiUrl"]
    final = call(emulator, "POST", second_url, {"input": {"approved": False}}).json()
    assert final["status"] == "completed"
    assert final["output"] == {"input": {"doc": 5, "pauses": 2}, "resumeInput": {"approved": False}}
    record = detail(emulator, run_id).json()
    assert (record["status"], record["resumedCount"]) == ("fully_resumed", 2)
    assert len(emulator.control.executions()) == 1


def test_a_single_pause_run_completes_at_its_first_answer(emulator: EmulatorHandle) -> None:
    started = call(emulator, "POST", "/api/workflows/approval/execute", {"doc": 1}).json()
    url = started["output"]["data"]["_resume"]["apiUrl"]
    assert call(emulator, "POST", url, {"input": {"approved": True}}).json()["status"] == "completed"


def test_runs_that_never_paused_and_unknown_ones_are_not_found(emulator: EmulatorHandle) -> None:
    echoed = call(emulator, "POST", "/api/workflows/echo/execute", {"a": 1}).json()
    never = call(emulator, "GET", f"/api/workflows/echo/paused/{echoed['executionId']}")
    assert (never.status_code, never.json()) == (404, {"error": "Paused execution not found"})
    assert detail(emulator, "no-such-run").status_code == 404
    assert call(emulator, "GET", "/api/workflows/nope/paused/x").json() == {"error": "Workflow not found"}
    keyless = requests.get(f"{emulator.base_url}/api/workflows/approval/paused/x", timeout=5)
    assert keyless.status_code == 401
