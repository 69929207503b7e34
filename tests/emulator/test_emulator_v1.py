"""The v1 API over real HTTP, asserted against CONTRACT.md."""

from __future__ import annotations

import uuid
from typing import Any

import requests
from emulator_helpers import poll

from airflow_provider_sim.emulator.control import EmulatorHandle


def execute(emulator: EmulatorHandle, workflow: str, body: Any = None, **headers: str) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/api/workflows/{workflow}/execute",
        json={} if body is None else body,
        headers={**emulator.headers, **headers},
        timeout=5,
    )


def get(emulator: EmulatorHandle, path: str, **params: str) -> requests.Response:
    return requests.get(f"{emulator.base_url}{path}", headers=emulator.headers, params=params, timeout=5)


def is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


def test_auth_missing_wrong_and_bearer_keys_get_401_with_request_id(emulator: EmulatorHandle) -> None:
    url = f"{emulator.base_url}/api/workflows/echo/execute"
    for headers in ({}, {"X-API-Key": "sk-sim-wrong"}, {"Authorization": f"Bearer {emulator.api_key}"}):
        response = requests.post(url, json={}, headers=headers, timeout=5)
        assert response.status_code == 401
        assert isinstance(response.json()["error"], str)
        assert response.headers["x-request-id"]
    assert emulator.control.executions() == []


def test_sync_execute_echoes_the_body_minus_control_keys(emulator: EmulatorHandle) -> None:
    response = execute(emulator, "echo", {"a": 1, "stream": False, "selectedOutputs": ["echo"]})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and "error" not in body  # a v1 sync 200 has no error key on Sim
    assert "x-execution-id" not in response.headers
    assert body["output"] == {"a": 1}
    assert is_uuid(body["executionId"])
    assert set(body["metadata"]) == {"duration", "startTime", "endTime"}
    assert response.headers["x-request-id"]


def test_input_wrapper_body_gives_the_wrapped_input(emulator: EmulatorHandle) -> None:
    assert execute(emulator, "echo", {"input": {"x": [1, 2]}}).json()["output"] == {"x": [1, 2]}


def test_async_job_lifecycle(emulator: EmulatorHandle) -> None:
    emulator.control.settings(async_queue="external", async_queue_delay_seconds=0.3)
    response = execute(emulator, "sleep", {"seconds": 0.3}, **{"X-Execution-Mode": "async"})
    assert response.status_code == 202
    receipt = response.json()
    assert receipt["success"] is True and receipt["async"] is True and receipt["message"]
    assert receipt["jobId"] == f"workflow-execution:{receipt['executionId']}"
    assert receipt["statusUrl"] == f"{emulator.base_url}/api/jobs/{receipt['jobId']}"

    def job() -> dict[str, Any]:
        return requests.get(receipt["statusUrl"], headers=emulator.headers, timeout=5).json()

    first = job()
    assert first["success"] is True and first["taskId"] == receipt["jobId"] and first["status"] == "pending"
    assert first["output"] is None and first["metadata"]["correlation"] == {
        "source": "workflow",
        "requestId": response.headers["x-request-id"],
        "workflowId": "sleep",
        "executionId": receipt["executionId"],
        "triggerType": "api",
    }
    poll(job, lambda j: j["status"] == "processing")
    done = poll(job, lambda j: j["status"] == "completed")
    assert done["output"]["success"] is True
    assert done["output"]["output"] == {"seconds": 0.3}
    assert done["output"]["executionId"] == receipt["executionId"]
    assert done["output"]["workflowId"] == "sleep" and done["output"]["executedAt"]
    [run] = emulator.control.executions()
    assert run["mode"] == "async" and run["jobId"] == receipt["jobId"] and run["status"] == "completed"


def test_unknown_job_is_404_task_not_found(emulator: EmulatorHandle) -> None:
    response = get(emulator, "/api/jobs/no-such-job")
    assert response.status_code == 404
    assert response.json() == {"error": "Task not found", "code": "TASK_NOT_FOUND"}


def test_failed_run_is_500_without_execution_id(emulator: EmulatorHandle) -> None:
    response = execute(emulator, "fail", {"message": "boom"})
    assert response.status_code == 500
    body = response.json()
    # the message names the failing block, as on Sim
    assert body["success"] is False and body["error"] == "Function 1: Workflow failed: boom"
    assert "executionId" not in body
    assert emulator.control.executions()[0]["status"] == "failed"


def test_soft_failure_is_200_success_false_and_async_job_completed(emulator: EmulatorHandle) -> None:
    body = execute(emulator, "fail", {"soft": True}).json()
    assert body["success"] is False and body["executionId"] and body["error"].startswith("Workflow failed: ")
    receipt = execute(emulator, "fail", {"soft": True}, **{"X-Execution-Mode": "async"}).json()
    job = poll(
        lambda: get(emulator, f"/api/jobs/{receipt['jobId']}").json(), lambda j: j["status"] == "completed"
    )
    assert job["output"]["success"] is False


def test_thrown_failure_makes_the_async_job_fail(emulator: EmulatorHandle) -> None:
    receipt = execute(emulator, "fail", {}, **{"X-Execution-Mode": "async"}).json()
    job = poll(
        lambda: get(emulator, f"/api/jobs/{receipt['jobId']}").json(), lambda j: j["status"] == "failed"
    )
    assert job["error"].startswith("Function 1: Workflow failed: ") and job["output"] is None


def test_sync_timeout_is_408(emulator: EmulatorHandle) -> None:
    emulator.control.settings(sync_timeout_seconds=0.2)
    response = execute(emulator, "hold", {"tag": 1})  # held: only the timeout ends it
    assert response.status_code == 408
    assert response.json()["success"] is False and "timed out" in response.json()["error"]
    assert emulator.control.executions()[0]["status"] == "failed"


def test_async_execution_timeout_header_fails_the_job(emulator: EmulatorHandle) -> None:
    headers = {"X-Execution-Mode": "async", "X-Execution-Timeout-Seconds": "1"}
    receipt = execute(emulator, "hold", {"tag": 1}, **headers).json()
    job = poll(
        lambda: get(emulator, f"/api/jobs/{receipt['jobId']}").json(), lambda j: j["status"] == "failed"
    )
    assert "timed out" in job["error"]


def test_bad_timeout_and_id_headers_are_400(emulator: EmulatorHandle) -> None:
    async_mode = {"X-Execution-Mode": "async"}
    assert (
        execute(emulator, "echo", {}, **async_mode, **{"X-Execution-Timeout-Seconds": "0"}).status_code == 400
    )
    assert (
        execute(emulator, "echo", {}, **async_mode, **{"X-Execution-Timeout-Seconds": "604801"}).status_code
        == 400
    )
    assert execute(emulator, "echo", {}, **{"X-Execution-Timeout-Seconds": "10"}).status_code == 400  # sync
    assert execute(emulator, "echo", {}, **{"X-Execution-Id": "has space"}).status_code == 400
    assert execute(emulator, "echo", {}, **{"X-Execution-Id": "x" * 129}).status_code == 400
    assert emulator.control.executions() == []


def test_execution_status_and_include_output(emulator: EmulatorHandle) -> None:
    run_id = execute(emulator, "echo", {"k": "v"}).json()["executionId"]
    path = f"/api/workflows/echo/executions/{run_id}"
    plain = get(emulator, path).json()
    assert plain["executionId"] == run_id and plain["workflowId"] == "echo"
    assert plain["status"] == "completed" and plain["finalOutput"] is None
    assert plain["cost"]["total"] > 0 and plain["paused"] is None and plain["error"] is None
    assert isinstance(plain["totalDurationMs"], int) and plain["endedAt"]
    full = get(emulator, path, includeOutput="true", selectedOutputs="echo.k,echo.missing").json()
    assert full["finalOutput"] == {"k": "v"}
    assert full["blockOutputs"] == {"echo.k": "v"}
    assert get(emulator, "/api/workflows/echo/executions/nope").status_code == 404


def test_cancel_running_then_finished_is_409(emulator: EmulatorHandle) -> None:
    receipt = execute(emulator, "hold", {"tag": 1}, **{"X-Execution-Mode": "async"}).json()
    run_id = receipt["executionId"]
    cancel_url = f"{emulator.base_url}/api/workflows/hold/executions/{run_id}/cancel"
    poll(
        lambda: get(emulator, f"/api/workflows/hold/executions/{run_id}").json()["status"],
        lambda s: s == "running",
    )
    response = requests.post(cancel_url, headers=emulator.headers, timeout=5)
    assert response.status_code == 200
    assert response.json()["success"] is True and response.json()["executionId"] == run_id
    assert get(emulator, f"/api/workflows/hold/executions/{run_id}").json()["status"] == "cancelled"
    assert get(emulator, f"/api/jobs/{receipt['jobId']}").json()["status"] == "cancelled"

    done_id = execute(emulator, "echo").json()["executionId"]
    finished = requests.post(
        f"{emulator.base_url}/api/workflows/echo/executions/{done_id}/cancel",
        headers=emulator.headers,
        timeout=5,
    )
    assert finished.status_code == 409 and "error" in finished.json()


def test_paused_run_and_resume(emulator: EmulatorHandle) -> None:
    response = execute(emulator, "approval", {"ticket": 7})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    # the Human-in-the-loop block's output, as on Sim: the form and the links under data
    assert body["output"]["status"] == 200 and body["output"]["data"]["operation"] == "human"
    resume = body["output"]["data"]["_resume"]
    assert set(resume) == {"apiUrl", "uiUrl", "contextId", "executionId", "workflowId"}
    assert resume["executionId"] == body["executionId"] and resume["workflowId"] == "approval"
    status = get(emulator, f"/api/workflows/approval/executions/{body['executionId']}").json()
    assert status["status"] == "paused"
    assert status["paused"]["pauseKind"] == "human" and status["paused"]["contextId"] == resume["contextId"]

    resumed = requests.post(
        resume["apiUrl"], json={"input": {"approved": True}}, headers=emulator.headers, timeout=5
    )
    assert resumed.status_code == 200
    result = resumed.json()
    assert result["success"] is True and result["status"] == "completed"
    assert result["executionId"] != body["executionId"]
    assert result["output"]["resumeInput"] == {"approved": True}
    final = get(
        emulator, f"/api/workflows/approval/executions/{body['executionId']}", includeOutput="true"
    ).json()
    assert final["status"] == "completed" and final["finalOutput"]["resumeInput"] == {"approved": True}
    again = requests.post(resume["apiUrl"], json={"input": {}}, headers=emulator.headers, timeout=5)
    assert (again.status_code, again.json()) == (409, {"error": "Paused execution is not resumable"})


def test_client_chosen_id_reuse_is_409_and_never_a_second_run(emulator: EmulatorHandle) -> None:
    first = execute(emulator, "echo", {"n": 1}, **{"X-Execution-Id": "task-42:try-1"})
    assert first.status_code == 200 and first.json()["executionId"] == "task-42:try-1"
    second = execute(emulator, "echo", {"n": 2}, **{"X-Execution-Id": "task-42:try-1"})
    assert second.status_code == 409
    assert second.json()["code"] == "EXECUTION_ID_CONFLICT"
    [run] = emulator.control.executions()
    assert run["id"] == "task-42:try-1" and run["clientChosenId"] is True and run["input"] == {"n": 1}


def test_errors_before_a_run_starts(emulator: EmulatorHandle) -> None:
    assert execute(emulator, "no-such-workflow").status_code == 404
    undeployed = execute(emulator, "undeployed", **{"X-Execution-Id": "reusable-id"})
    assert undeployed.status_code == 403 and "error" in undeployed.json()
    emulator.control.settings(usage_limit_exceeded=True)
    limited = execute(emulator, "echo", **{"X-Execution-Id": "reusable-id"})
    assert limited.status_code == 402 and "error" in limited.json()
    assert emulator.control.executions() == []
    emulator.control.settings(usage_limit_exceeded=False)
    # a refused request claims nothing: the id is still free
    assert execute(emulator, "echo", **{"X-Execution-Id": "reusable-id"}).status_code == 200


def test_body_over_10_mib_is_413(emulator: EmulatorHandle) -> None:
    response = requests.post(
        f"{emulator.base_url}/api/workflows/echo/execute",
        data=b"x" * (10 * 1024 * 1024 + 1),
        headers={**emulator.headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert emulator.control.executions() == []


def test_workflow_status(emulator: EmulatorHandle) -> None:
    deployed = get(emulator, "/api/workflows/echo/status").json()
    assert (
        deployed["isDeployed"] is True and deployed["deployedAt"] and deployed["needsRedeployment"] is False
    )
    assert get(emulator, "/api/workflows/undeployed/status").json()["isDeployed"] is False
    missing = get(emulator, "/api/workflows/nope/status")
    assert missing.status_code == 404
    request_id = missing.headers["x-request-id"]
    assert missing.json() == {
        "error": "Workflow not found",
        "code": "WORKFLOW_NOT_FOUND",
        "requestId": request_id,
    }


def test_usage_limits_reflect_the_configured_rate_limits(emulator: EmulatorHandle) -> None:
    emulator.control.settings(rate_limit_sync=30, rate_limit_async=120)
    body = get(emulator, "/api/users/me/usage-limits").json()
    assert body["success"] is True
    sync, async_ = body["rateLimit"]["sync"], body["rateLimit"]["async"]
    assert sync["requestsPerMinute"] == 30 and sync["maxBurst"] == 60 and sync["remaining"] == 60
    assert async_["requestsPerMinute"] == 120 and async_["isLimited"] is False and async_["resetAt"]
    assert set(body["usage"]) == {"currentPeriodCost", "limit", "plan"}
    assert set(body["storage"]) == {"usedBytes", "limitBytes", "percentUsed"}


def test_ids_with_a_trailing_newline_are_not_the_id_without_it(emulator: EmulatorHandle) -> None:
    assert execute(emulator, "echo", {}, **{"X-Execution-Id": "r1"}).status_code == 200
    assert execute(emulator, "echo%0A").status_code == 404
    assert get(emulator, "/api/workflows/echo/executions/r1%0A").status_code == 404
    assert get(emulator, "/api/workflows/echo%0A/status").status_code == 404
    assert get(emulator, "/api/workflows/echo/executions/r1").status_code == 200
