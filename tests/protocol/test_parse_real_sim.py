"""The provider's reading of every failure, conflict and status form a real Sim server gave.

The answers (status, headers, body) are copied verbatim from the real-Sim transcripts into
``real_sim/answers.json``; each test feeds one or more of them to the protocol's parsing and flows,
with no transport, exactly as a hook would (``raise_for_response`` first, then the flow's parse).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sim.exceptions import (
    SimApiError,
    SimAuthError,
    SimBadRequestError,
    SimConflictError,
    SimError,
    SimNotDeployedError,
    SimNotFoundError,
    SimRunFailedError,
    SimV2DisabledError,
)
from airflow_provider_sim.protocol import flows
from airflow_provider_sim.protocol.build import (
    build_cancel,
    build_deployment_status,
    build_execute,
    build_get_job,
    build_get_run,
    build_get_workflow,
    build_resume,
    build_usage_limits,
)
from airflow_provider_sim.protocol.models import (
    ApiVersion,
    HttpResponse,
    RequestSpec,
    RunStatus,
    SimRun,
    Sleep,
    StreamFrame,
)
from airflow_provider_sim.protocol.parse import (
    parse_deployment,
    parse_usage_limits,
    parse_workflow,
    raise_for_response,
)
from airflow_provider_sim.protocol.quota import parse_rate_limit
from airflow_provider_sim.protocol.sse import parse_stream_data

ANSWERS = Path(__file__).parent / "real_sim" / "answers.json"
V1, V2 = ApiVersion.V1, ApiVersion.V2
ECHO = "988b6346-5502-4de0-ace3-7eeeb19f94ff"
FAIL = "b2a5b0f5-1917-4c52-a277-6c8be5406cbc"
SLOW = "d007ded0-7422-4ccb-94c5-6571c5f1754d"
APPROVAL = "dfbe8534-751e-4efc-8b92-e42d0ea6bb27"
BOOM = "Function 1: Line 1: `throw new Error('boom from realsim');` - boom from realsim"
CONTEXT = "ba9dafe5-4b2b-4bc5-99be-88b309abc9df"
V1_RESUME = (
    "approval: v1 resume (POST /api/resume/{workflowId}/{executionId}/{contextId}, the _resume.apiUrl)"
)


@cache
def _recorded() -> dict[str, Any]:
    return json.loads(ANSWERS.read_text())  # type: ignore[no-any-return]


def answer(title: str, *, attempt: int = 1) -> HttpResponse:
    """The answer recorded under the transcript heading ``title``."""
    recorded = _recorded()[title]
    return HttpResponse(recorded["status"], recorded["headers"], recorded["body"].encode(), attempt)


def drive(flow: flows.Flow[Any], *titles: str, attempt: int = 1) -> tuple[Any, list[RequestSpec]]:
    """Run ``flow`` as a hook does, answering its requests with the recorded answers in order;
    returns the flow's result and the requests it made."""
    answers: Iterator[str] = iter(titles)
    sent: list[RequestSpec] = []
    reply: Any = None
    error: SimError | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(reply)
        except StopIteration as done:
            assert next(answers, None) is None, "the flow ended before reading every answer"
            return done.value, sent
        reply, error = None, None
        if isinstance(step, Sleep):
            continue
        sent.append(step)
        response = answer(next(answers), attempt=attempt)
        try:
            raise_for_response(step, response)
            reply = response
        except SimError as err:
            error = err


def refused(spec: RequestSpec, title: str) -> SimApiError:
    """The exception a recorded error answer to ``spec`` becomes."""
    with pytest.raises(SimApiError) as raised:
        raise_for_response(spec, answer(title))
    return raised.value


def execute(api: ApiVersion, workflow_id: str, run_id: str, mode: str = "sync") -> flows.Flow[SimRun]:
    return flows.execute(api, workflow_id, {"name": "x"}, run_id=run_id, mode=mode)  # type: ignore[arg-type]


# -- failures ----------------------------------------------------------------------------------------


def test_v2_failed_sync_run_and_its_read_give_the_same_message_each_with_sims_code() -> None:
    run_id = "realsim-v2-fail-098a8dc7"
    executed, _ = drive(execute(V2, FAIL, run_id), "v2 sync run of the failing workflow, named")
    read, [spec] = drive(flows.get_run(V2, FAIL, run_id), "v2 run status of that failed sync run")
    assert (executed.status, read.status) == (RunStatus.FAILED, RunStatus.FAILED)
    assert (executed.run_id, read.run_id) == (run_id, run_id)
    assert executed.error.code == "BLOCK_EXECUTION_FAILED"
    assert read.error.code == "EXECUTION_FAILED"
    # the execute answer names the block apart; the provider says it as the read does
    assert executed.error.message == read.error.message == BOOM
    with pytest.raises(SimRunFailedError, match="boom from realsim") as failed:
        executed.raise_for_status()
    assert failed.value.code == "BLOCK_EXECUTION_FAILED"
    assert spec.path == f"/api/v2/workflows/{FAIL}/runs/{run_id}"


def test_v2_failed_async_run_read() -> None:
    run, _ = drive(
        flows.get_run(V2, FAIL, "d4a8c005-1f51-44f4-ae9a-b482ca737370"),
        "v2 run status of the failed async run",
    )
    assert (run.status, run.error.code, run.error.message, run.output) == (
        RunStatus.FAILED,
        "EXECUTION_FAILED",
        BOOM,
        None,
    )
    assert run.cost == 0.005 and run.duration_ms == 170


def test_v2_sync_run_over_the_wait_blocks_cap_fails_naming_the_block() -> None:
    run, _ = drive(
        execute(V2, SLOW, "slow-301"),
        "slow: v2 sync execute, 301 s (over the Wait block's 5 min in-process cap)",
    )
    assert run.status is RunStatus.FAILED and run.error.code == "BLOCK_EXECUTION_FAILED"
    assert run.error.message.startswith("Wait: Wait time exceeds maximum of 5 minutes")


def test_v1_failed_sync_run_is_a_failed_run_not_an_api_error() -> None:
    run, [spec] = drive(execute(V1, FAIL, "realsim-v1-fail"), "v1 workflow whose Function block throws")
    assert spec.headers["X-Execution-Id"] == "realsim-v1-fail"
    assert (run.run_id, run.status, run.output) == ("realsim-v1-fail", RunStatus.FAILED, {})
    assert (run.error.message, run.error.code) == (BOOM, "EXECUTION_FAILED")
    assert run.started_at == "2026-12-01T19:27:14.660Z" and run.ended_at == "2026-12-01T19:27:14.780Z"
    assert run.duration_ms == pytest.approx(118.84, abs=0.01)


def test_v1_failed_async_job_reads_as_the_failed_execution() -> None:
    queued, _ = drive(execute(V1, FAIL, "unused", "async"), "v1 async execute of the failing workflow")
    job_id = "workflow-execution:7218ac00-42af-40f0-bc8f-7260df1e3254"
    assert (queued.status, queued.job_id, queued.run_id) == (
        RunStatus.QUEUED,
        job_id,
        "7218ac00-42af-40f0-bc8f-7260df1e3254",
    )
    run, [spec] = drive(
        flows.get_run(V1, FAIL, queued.run_id, job_id=queued.job_id), "v1 job status of the failed async run"
    )
    assert (run.status, run.output, run.error.message, run.error.code) == (
        RunStatus.FAILED,
        None,
        BOOM,
        "EXECUTION_FAILED",
    )
    assert (run.run_id, run.job_id, run.workflow_id) == (queued.run_id, job_id, FAIL)
    # the job id goes into the path as Sim's own statusUrl has it: the colon unescaped
    assert queued.status_url == f"http://localhost:3000{spec.path}"


def test_a_job_read_on_its_own_finds_the_execution_id_in_the_job_metadata() -> None:
    job_id = "workflow-execution:7218ac00-42af-40f0-bc8f-7260df1e3254"
    run, _ = drive(flows.get_run(V1, "", job_id, job_id=job_id), "v1 job status of the failed async run")
    assert run.run_id == "7218ac00-42af-40f0-bc8f-7260df1e3254" and run.workflow_id == FAIL


def test_v1_execution_status_of_a_failed_run_has_its_error_as_a_plain_string() -> None:
    run, _ = drive(
        flows.get_run(V1, FAIL, "realsim-v2-fail-098a8dc7"),
        "v1 execution status of the same run, includeOutput=true",
    )
    assert (run.status, run.error.message, run.error.code) == (RunStatus.FAILED, BOOM, "EXECUTION_FAILED")
    assert run.duration_ms == 105 and run.cost == 0.005


# -- conflicts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "title", "code"),
    [
        (V2, "v2 same X-Run-Id again (reuse)", "RUN_ID_CONFLICT"),
        (V2, "v2 same async X-Run-Id again (reuse)", "RUN_ID_CONFLICT"),
        (V1, "v1 same X-Execution-Id again (reuse)", "EXECUTION_ID_CONFLICT"),
        (V1, "v1 same async X-Execution-Id again (reuse)", "EXECUTION_ID_CONFLICT"),
    ],
)
def test_a_taken_run_id_on_the_first_attempt_is_raised_and_starts_nothing(
    api: ApiVersion, title: str, code: str
) -> None:
    run_id = json.loads(_recorded()[title]["body"]).get("executionId") or "realsim-v2-b3aa562b"
    with pytest.raises(SimConflictError) as raised:
        drive(execute(api, ECHO, run_id), title)
    err = raised.value
    assert (err.run_id, err.after_resend, err.http_status, err.code) == (run_id, False, 409, code)
    assert f"run id {run_id!r} is already taken" in str(err)
    assert err.request_id == answer(title).header("x-request-id")


def test_v2_conflict_on_a_resend_reads_the_run_the_first_attempt_started() -> None:
    run, sent = drive(
        execute(V2, ECHO, "realsim-v2-b3aa562b"),
        "v2 same X-Run-Id again (reuse)",
        "v2 run status of the sync run (includeOutput=true)",
        attempt=2,
    )
    assert [s.method for s in sent] == ["POST", "GET"]
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"result": {"greeting": "hello v2id", "doubled": 8}, "stdout": ""}
    assert run.trigger == "api"  # how the run was started, as Sim's reads say


def test_v1_and_v2_share_one_id_namespace() -> None:
    with pytest.raises(SimConflictError) as raised:
        drive(
            execute(V2, ECHO, "realsim-v1-io-098a8dc7"),
            "v1 X-Execution-Id reused across generations (v1 id sent to v2 as X-Run-Id)",
        )
    assert raised.value.run_id == "realsim-v1-io-098a8dc7"


def test_a_409_that_is_not_about_a_run_id_does_not_say_it_is() -> None:
    err = refused(build_resume(V2, APPROVAL, "r1", CONTEXT), "approval: v2 resume the same context again")
    assert isinstance(err, SimConflictError)
    assert "Paused execution is not resumable" in str(err) and "already taken" not in str(err)


def test_v1_cancel_of_a_finished_execution_is_reported_not_raised() -> None:
    result, _ = drive(flows.cancel(V1, ECHO, "realsim-v1-io-098a8dc7"), "v1 cancel a finished execution")
    assert (result.cancelled, result.reason) == (False, "already_finished")


@pytest.mark.parametrize(
    ("title", "cancelled", "reason"),
    [
        ("v2 cancel a finished run", False, "already_completed"),
        ("slow: v2 cancel the running run", True, "recorded"),
        ("approval: v2 cancel the paused run", True, "recorded"),
    ],
)
def test_v2_cancel_answers(title: str, cancelled: bool, reason: str) -> None:
    result, _ = drive(flows.cancel(V2, ECHO, "r1"), title)
    assert (result.cancelled, result.reason) == (cancelled, reason)


# -- status forms ------------------------------------------------------------------------------------


def test_v1_async_job_id_has_a_colon_and_is_used_as_is_in_the_path() -> None:
    queued, _ = drive(
        execute(V1, ECHO, "realsim-v1-async-b3aa562b", "async"),
        "v1 async execute (X-Execution-Mode: async, client-chosen X-Execution-Id)",
    )
    assert queued.job_id == "workflow-execution:realsim-v1-async-b3aa562b"
    assert build_get_job(queued.job_id).path == "/api/jobs/workflow-execution:realsim-v1-async-b3aa562b"
    assert queued.status_url == "http://localhost:3000" + build_get_job(queued.job_id).path


@pytest.mark.parametrize(
    ("title", "status", "output"),
    [
        ("slow: v1 job status while waiting", RunStatus.RUNNING, None),
        (
            "slow: v1 job status after completion",
            RunStatus.COMPLETED,
            {
                "result": {"tag": "v1", "seconds": 4, "waitedMs": 4000, "waitStatus": "completed"},
                "stdout": "",
            },
        ),
    ],
)
def test_v1_job_processing_and_completed(title: str, status: RunStatus, output: Any) -> None:
    job_id = "workflow-execution:0d82b687-7b19-4387-9242-b60ffe2affdb"
    run, _ = drive(flows.get_run(V1, SLOW, "0d82b687-7b19-4387-9242-b60ffe2affdb", job_id=job_id), title)
    assert (run.status, run.output, run.error) == (status, output, None)
    assert run.run_id == "0d82b687-7b19-4387-9242-b60ffe2affdb" and run.job_id == job_id


def test_v1_execution_status_right_after_a_sync_200_can_still_read_running() -> None:
    run, [spec] = drive(
        flows.get_run(V1, ECHO, "realsim-v1-io-098a8dc7"), "v1 execution status with includeOutput=true"
    )
    assert spec.params["includeOutput"] == "true"  # without it finalOutput is always null
    assert (run.status, run.output, run.error, run.status.is_terminal) == (
        RunStatus.RUNNING,
        None,
        None,
        False,
    )


def test_v1_execution_status_without_output_is_completed_with_none() -> None:
    run, _ = drive(
        flows.get_run(V1, ECHO, "realsim-v1-async-b3aa562b"),
        "v1 execution status (GET /api/workflows/{id}/executions/{executionId})",
    )
    assert (run.status, run.output, run.error, run.duration_ms) == (RunStatus.COMPLETED, None, None, 103)


def test_v2_reads_running_right_after_the_202() -> None:
    queued, _ = drive(
        execute(V2, ECHO, "realsim-v2-async-b3aa562b", "async"), "v2 async execute with X-Run-Id"
    )
    assert queued.status is RunStatus.QUEUED and queued.run_id == "realsim-v2-async-b3aa562b"
    read, _ = drive(flows.get_run(V2, ECHO, queued.run_id), "v2 run status immediately after the 202")
    assert (read.status, read.output, read.ended_at, read.cost) == (RunStatus.RUNNING, None, None, None)
    done, _ = drive(
        flows.get_run(V2, ECHO, queued.run_id), "v2 run status after completion (includeOutput=true)"
    )
    assert done.output == {"result": {"greeting": "hello v2async", "doubled": 16}, "stdout": ""}


def test_v2_sync_success_reads_output_and_timings() -> None:
    run, _ = drive(execute(V2, ECHO, "realsim-v2-b3aa562b"), "v2 sync execute with X-Run-Id")
    assert (run.status, run.run_id, run.workflow_id) == (RunStatus.COMPLETED, "realsim-v2-b3aa562b", ECHO)
    assert run.output == {"result": {"greeting": "hello v2id", "doubled": 8}, "stdout": ""}
    assert run.started_at == "2026-12-01T19:28:01.435Z" and run.error is None


def test_v1_sync_success_reads_output_and_timings() -> None:
    run, _ = drive(execute(V1, ECHO, "realsim-v1-io-098a8dc7"), "v1 sync run, named")
    assert (run.status, run.run_id, run.error) == (RunStatus.COMPLETED, "realsim-v1-io-098a8dc7", None)
    assert run.output == {"result": {"greeting": "hello io", "doubled": 14}, "stdout": ""}
    assert run.ended_at == "2026-12-01T19:31:27.323Z"


def test_v2_sync_execute_that_pauses_reads_where_it_waits_from_the_run() -> None:
    run, sent = drive(
        execute(V2, APPROVAL, "realsim-approval-sync-42ce5c4e"),
        "approval: v2 sync execute (pauses at the Human block)",
        "approval: v2 run status of the paused run",
    )
    assert run.status is RunStatus.PAUSED and len(sent) == 2
    assert (run.paused.context_id, run.paused.kind) == (CONTEXT, "human")
    assert run.paused.paused_at == "2026-12-01T20:11:55.229Z"
    assert run.output["data"]["operation"] == "human"  # the execute's output, not the read's null


def test_v1_sync_execute_that_pauses_is_paused_not_completed() -> None:
    run, _ = drive(
        execute(V1, APPROVAL, "e4f6f0b5-0f38-473e-b216-4efe3920acd2"),
        "approval: v1 sync execute (how v1 reports a paused run)",
    )
    assert run.status is RunStatus.PAUSED and not run.status.is_terminal
    assert run.paused.context_id == CONTEXT
    assert run.paused.resume_url == (
        f"http://localhost:3000/resume/{APPROVAL}/e4f6f0b5-0f38-473e-b216-4efe3920acd2"
    )


@pytest.mark.parametrize(
    ("api", "title"),
    [
        (V2, "approval: v2 run status once paused"),
        (V1, "approval: v1 execution status of the paused run"),
    ],
)
def test_paused_status_reads_carry_the_pause_kind(api: ApiVersion, title: str) -> None:
    run, _ = drive(flows.get_run(api, APPROVAL, "r1"), title)
    assert (run.status, run.paused.kind, run.paused.context_id) == (RunStatus.PAUSED, "human", CONTEXT)
    assert run.paused.blocked_on_block_id == CONTEXT and run.paused.resume_at is None


def test_v2_resume_answers_with_a_new_run_id_but_the_run_is_still_the_original() -> None:
    run, [spec] = drive(
        flows.resume(V2, APPROVAL, "realsim-approval-sync-42ce5c4e", CONTEXT, {"approved": True}),
        "approval: v2 resume (contextId from the status, approver input)",
    )
    assert spec.json_body == {"contextId": CONTEXT, "input": {"approved": True}}
    assert (run.run_id, run.status) == ("realsim-approval-sync-42ce5c4e", RunStatus.COMPLETED)
    assert run.output["result"]["approved"] is True


def test_v2_async_resume_does_not_point_at_the_status_url_sim_answers_404_for() -> None:
    run, _ = drive(
        flows.resume(V2, APPROVAL, "realsim-approval-async-42ce5c4e", CONTEXT, {"approved": False}),
        "approval: v2 resume of the async run, rejected",
    )
    assert (run.run_id, run.status) == ("realsim-approval-async-42ce5c4e", RunStatus.QUEUED)
    assert run.status_url is None or "d55f40c6" not in run.status_url


def test_v1_resume_answer() -> None:
    run, [spec] = drive(
        flows.resume(V1, APPROVAL, "e4f6f0b5-0f38-473e-b216-4efe3920acd2", CONTEXT, {"approved": True}),
        V1_RESUME,
    )
    assert spec.path == f"/api/resume/{APPROVAL}/e4f6f0b5-0f38-473e-b216-4efe3920acd2/{CONTEXT}"
    assert (run.run_id, run.status) == ("e4f6f0b5-0f38-473e-b216-4efe3920acd2", RunStatus.COMPLETED)


@pytest.mark.parametrize(
    ("api", "title"),
    [
        (V2, "approval: v2 run status after the cancel"),
        (V2, "slow: v2 run status after the cancel"),
    ],
)
def test_a_cancelled_run_is_terminal_and_not_a_success(api: ApiVersion, title: str) -> None:
    run, _ = drive(flows.get_run(api, APPROVAL, "r1"), title)
    assert run.status is RunStatus.CANCELLED and run.error is None
    with pytest.raises(SimRunFailedError, match="ended cancelled"):
        run.raise_for_status()


# -- error bodies ------------------------------------------------------------------------------------

V1_EXEC = build_execute(V1, ECHO, {}, run_id="r1")
V2_EXEC = build_execute(V2, ECHO, {}, run_id="r1")


@pytest.mark.parametrize(
    ("spec", "title", "error_class", "words"),
    [
        (V1_EXEC, "v1 bad API key", SimAuthError, "Invalid API key: check the API key"),
        (V1_EXEC, "v1 no credentials", SimAuthError, "Unauthorized: check the API key"),
        (V1_EXEC, "v1 undeployed workflow", SimNotDeployedError, "deploy the workflow"),
        (V1_EXEC, "v1 unknown workflow", SimNotFoundError, "Workflow not found: check the id"),
        (V1_EXEC, "v1 invalid X-Execution-Id", SimBadRequestError, "Invalid execution ID header"),
        (V1_EXEC, "v1 body over 10 MiB", SimBadRequestError, "exceeds maximum size"),
        (V2_EXEC, "v2 bad API key", SimAuthError, "Invalid API key: check the API key"),
        (V2_EXEC, "v2 valid key sent as Authorization: Bearer", SimAuthError, "Unauthorized"),
        (V2_EXEC, "v2 undeployed workflow", SimNotDeployedError, "deploy the workflow"),
        (V2_EXEC, "v2 unknown workflow", SimNotFoundError, "Workflow not found: check the id"),
        (V2_EXEC, "v2 unknown body key", SimBadRequestError, 'Unrecognized key: "bogus"'),
        (V2_EXEC, "v2 body over 10 MiB", SimBadRequestError, "Request body is too large"),
        (build_get_run(V2, ECHO, "x"), "v2 run status, unknown run id", SimNotFoundError, "Run not found"),
        (
            build_get_run(V1, ECHO, "x"),
            "v1 execution status, unknown id",
            SimNotFoundError,
            "Execution not found",
        ),
        (build_get_job("x"), "v1 job status, unknown job id", SimNotFoundError, "Task not found"),
        (
            build_deployment_status(ECHO),
            "v1 status of an unknown workflow",
            SimNotFoundError,
            "Workflow not found",
        ),
        (
            build_resume(V2, APPROVAL, "r1", "c1"),
            "approval: v2 resume with an unknown contextId",
            SimNotFoundError,
            "Pause point not found",
        ),
    ],
)
def test_error_bodies_of_both_generations(
    spec: RequestSpec, title: str, error_class: type[SimApiError], words: str
) -> None:
    err = refused(spec, title)
    assert type(err) is error_class
    assert words in str(err)
    assert err.request_id == answer(title).header("x-request-id") and err.request_id in str(err)
    assert not isinstance(err, SimV2DisabledError)


def test_v1_not_found_codes_are_kept_where_sim_sends_them() -> None:
    assert refused(build_get_job("x"), "v1 job status, unknown job id").code == "TASK_NOT_FOUND"
    assert (
        refused(build_deployment_status(ECHO), "v1 status of an unknown workflow").code
        == "WORKFLOW_NOT_FOUND"
    )
    assert refused(V1_EXEC, "v1 unknown workflow").code == "NOT_FOUND"  # no code: the class's own


def test_v2_401_with_www_authenticate_is_an_auth_error_naming_the_connection_field() -> None:
    response = answer("v2 bad API key")
    assert response.header("www-authenticate") == 'SimApiKey realm="Sim API", header="x-api-key"'
    err = refused(V2_EXEC, "v2 bad API key")
    assert isinstance(err, SimAuthError) and err.code == "UNAUTHORIZED" and err.http_status == 401
    assert "password field" in str(err)


@pytest.mark.parametrize(
    ("spec", "title"),
    [
        (V2_EXEC, "v2 execute, v2 switched off"),
        (build_get_run(V2, ECHO, "anything"), "v2 run status, v2 switched off"),
        (build_get_workflow(ECHO), "v2 unknown path"),
    ],
)
def test_v2_switched_off_says_how_to_fix_it(spec: RequestSpec, title: str) -> None:
    err = refused(spec, title)
    assert isinstance(err, SimV2DisabledError) and isinstance(err, SimApiError)
    assert not isinstance(err, SimNotFoundError)  # not "no such run": nothing else can be found either
    assert "api_version" in str(err) and "v1" in str(err) and "V2_API=true" in str(err)


# -- streams, usage limits, workflow, deployment, rate-limit headers --------------------------------


@pytest.mark.parametrize("title", ["v1 stream (stream: true)", "v2 stream (stream: true)"])
def test_stream_final_frame_without_status_or_error_then_done(title: str) -> None:
    body = _recorded()[title]["body"]
    data = [line[len("data: ") :] for line in body.splitlines() if line.startswith("data: ")]
    frames = [parse_stream_data(d) for d in data]
    expected = {"result": {"greeting": "hello stream", "doubled": 6}, "stdout": ""}
    assert frames == [
        StreamFrame(kind="final", output=expected, success=True, status=RunStatus.COMPLETED),
        StreamFrame(kind="done"),
    ]


def test_usage_limits_with_billing_off() -> None:
    limits = parse_usage_limits(answer("usage limits"))
    assert limits.sync is not None and limits.sync.requests_per_minute == 999999
    assert (limits.plan, limits.cost_limit, limits.current_period_cost, limits.auth_type) == (
        "free",
        99999,
        0,
        "api",
    )


def test_workflow_and_deployment_status() -> None:
    info = parse_workflow(answer("v2 workflow"), ECHO)
    assert (info.name, info.workspace_id) == ("realsim-echo", "realsim-ws-1")
    deployed = parse_deployment(answer("v1 deployment status"), ECHO)
    assert deployed.is_deployed and deployed.deployed_at == "2026-12-01T19:25:07.091Z"
    assert not parse_deployment(answer("v1 deployment status of the undeployed workflow"), "u").is_deployed


def test_rate_limit_headers_with_an_iso_reset() -> None:
    info = parse_rate_limit(answer("v2 sync execute").headers)
    assert info is not None and (info.limit, info.remaining) == (999999, 999998)
    assert info.reset_at is not None and info.reset_at.isoformat().startswith("2026-12-01T19:28:58.258")
    assert parse_rate_limit(answer("v2 bad API key").headers) is None


@pytest.mark.parametrize(
    ("title", "spec"),
    [
        ("usage limits", build_usage_limits()),
        ("v1 deployment status", build_deployment_status(ECHO)),
        ("v2 workflow", build_get_workflow(ECHO)),
        ("v1 cancel a finished execution", build_cancel(V1, ECHO, "realsim-v1-io-098a8dc7")),
        ("v2 cancel a finished run", build_cancel(V2, ECHO, "realsim-v2-async-b3aa562b")),
        (
            "v1 job status of the failed async run",
            build_get_job("workflow-execution:7218ac00-42af-40f0-bc8f-7260df1e3254"),
        ),
        (
            "v2 run status of the sync run (includeOutput=true)",
            build_get_run(V2, ECHO, "realsim-v2-b3aa562b"),
        ),
        (
            "v1 execution status with includeOutput=true",
            build_get_run(V1, ECHO, "realsim-v1-io-098a8dc7"),
        ),
        (
            "approval: v2 resume (contextId from the status, approver input)",
            build_resume(V2, APPROVAL, "realsim-approval-sync-42ce5c4e", CONTEXT),
        ),
        (
            V1_RESUME,
            build_resume(V1, APPROVAL, "e4f6f0b5-0f38-473e-b216-4efe3920acd2", CONTEXT),
        ),
        ("v2 sync execute with X-Run-Id", build_execute(V2, ECHO, {}, run_id="realsim-v2-b3aa562b")),
        (
            "v1 async execute (X-Execution-Mode: async, client-chosen X-Execution-Id)",
            build_execute(V1, ECHO, {}, run_id="realsim-v1-async-b3aa562b", mode="async"),
        ),
    ],
)
def test_the_provider_asks_for_what_was_recorded(title: str, spec: RequestSpec) -> None:
    request = _recorded()[title]["request"]
    assert (spec.method, spec.path) == (request["method"], request["target"].split("?")[0])
    for name, value in request["headers"].items():  # the recorded headers that name the run
        if name.lower().startswith(("x-run", "x-execution")):
            assert spec.headers[name] == value
