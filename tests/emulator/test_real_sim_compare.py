"""The differential test's own parts: the transcript parser reads every pair, the comparison
catches each kind of difference it promises to (so the differential test can fail)."""

from __future__ import annotations

import json

import pytest
from real_sim_compare import compare_answer, compare_shape
from real_sim_transcript import RecordedResponse, parse_transcript

TRANSCRIPT = """# Transcript
Workflows: echo `988b6346-5502-4de0-ace3-7eeeb19f94ff` (...), fail `b2a5b0f5-1917-4c52-a277-6c8be5406cbc`.

## v1

### v1 async execute

```http
POST /api/workflows/988b6346-5502-4de0-ace3-7eeeb19f94ff/execute HTTP/1.1
X-API-Key: sk-sim-<key>
X-Execution-Mode: async

{"name": "x"}
```

Response (0.07s):

```http
HTTP/1.1 202 Accepted
content-type: application/json
x-request-id: 616f6061

{"success": true, "jobId": "workflow-execution:e1"}
```

{POLL}

### v1 job

```http
GET /api/jobs/workflow-execution:e1 HTTP/1.1
X-API-Key: sk-sim-<key>
```

Response (0.09s):

```http
HTTP/1.1 200 OK
content-type: application/json
x-request-id: feafe609

{"status": "completed"}
```

## Server restarted with V2_API=false

### v1 body over 10 MiB

```http
POST /api/workflows/988b6346-5502-4de0-ace3-7eeeb19f94ff/execute HTTP/1.1

<11534372 bytes of JSON>
```

Response (0.19s):

```http
HTTP/1.1 413 Payload Too Large
content-type: application/json
x-request-id: c19306f3

{"error":"too large"}
```
""".replace(
    "{POLL}",
    "_Polled `/api/jobs/workflow-execution:e1`: first answer HTTP 200 status='processing', "
    "stopped after 2 polls at HTTP 200 status='completed'. Final answer:_",
)


def test_the_parser_reads_pairs_sections_polls_and_sized_bodies() -> None:
    transcript = parse_transcript("t", TRANSCRIPT)
    assert transcript.workflows == {
        "988b6346-5502-4de0-ace3-7eeeb19f94ff": "echo",
        "b2a5b0f5-1917-4c52-a277-6c8be5406cbc": "fail",
    }
    first, job, large = transcript.pairs
    assert (first.request.method, first.request.header("x-execution-mode"), first.request.body) == (
        "POST",
        "async",
        '{"name": "x"}',
    )
    assert first.response.status == 202 and first.response.json()["jobId"] == "workflow-execution:e1"
    assert first.reached_status is None and job.reached_status == "completed"
    assert job.request.body is None and job.test_id == "t:v1 job"
    assert (first.v2_api, large.v2_api) == (True, False)
    assert large.request.body_size == 11534372 and large.request.body is None


def test_a_pair_without_its_answer_is_an_error() -> None:
    broken = "### lonely\n\n```http\nGET /x HTTP/1.1\n```\n"
    with pytest.raises(ValueError, match="lonely"):
        parse_transcript("t", broken)


RECORDED = RecordedResponse(
    200,
    {"content-type": "application/json", "x-request-id": "0a1b2c3d", "x-run-id": "mine"},
    json.dumps(
        {
            "data": {
                "runId": "mine",
                "status": "failed",
                "output": {"result": {"a": 1}},
                "error": {"message": "Line 1: boom", "code": "BLOCK_EXECUTION_FAILED", "blockName": "F 1"},
                "startedAt": "2026-12-01T19:27:58.525Z",
                "durationMs": 815.75,
            }
        }
    ),
)
HEADERS = {"content-type": "application/json", "x-request-id": "12345678", "x-run-id": "mine"}


def emulated(**data_changes: object) -> str:
    data = json.loads(RECORDED.body)["data"]
    data.update(data_changes)
    return json.dumps({"data": {key: value for key, value in data.items() if value is not ...}})


def test_same_shape_with_other_ids_times_outputs_and_failure_messages_agrees() -> None:
    body = emulated(
        output={"anything": "else"},
        error={"message": "other words", "code": "BLOCK_EXECUTION_FAILED", "blockName": "Wait"},
        startedAt="2027-01-01T00:00:00.000Z",
        durationMs=3,
    )
    assert compare_answer(RECORDED, 200, HEADERS, body, client_run_id="mine") == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "found"),
    [
        (emulated(), HEADERS, 201, "status: 200 recorded, 201"),
        (emulated(status="completed"), HEADERS, 200, "$.data.status: 'failed' recorded, 'completed'"),
        (emulated(extra=1), HEADERS, 200, "$.data: keys Sim does not send: extra"),
        (emulated(durationMs=...), HEADERS, 200, "$.data: keys missing: durationMs"),
        (emulated(durationMs="3"), HEADERS, 200, "$.data.durationMs: number"),
        (emulated(startedAt="yesterday"), HEADERS, 200, "'yesterday' is not an ISO 8601 time"),
        (
            emulated(error={"message": "m", "code": "EXECUTION_FAILED", "blockName": "F"}),
            HEADERS,
            200,
            "code",
        ),
        (emulated(), {**HEADERS, "x-request-id": "not-hex-at-all"}, 200, "x-request-id"),
        (emulated(), {**HEADERS, "x-run-id": "other"}, 200, "not the run named 'mine'"),
        (emulated(), {**HEADERS, "x-ratelimit-limit": "5"}, 200, "header x-ratelimit-limit"),
        (emulated(), {**HEADERS, "content-type": "text/plain"}, 200, "content type"),
    ],
)
def test_each_kind_of_difference_is_found(
    body: str, headers: dict[str, str], status: int, found: str
) -> None:
    problems = compare_answer(RECORDED, status, headers, body, client_run_id="mine")
    assert any(found in problem for problem in problems), problems


def test_a_paused_output_must_carry_resume_links_where_sim_puts_them() -> None:
    recorded = {"output": {"data": {"_resume": {"apiUrl": "u", "contextId": "c"}}, "status": 200}}
    assert compare_shape(recorded, {"output": {"data": {"_resume": {"apiUrl": "x", "contextId": "y"}}}}) == []
    [problem] = compare_shape(recorded, {"output": {"_resume": {"apiUrl": "x", "contextId": "y"}}})
    assert "$.output.data._resume: missing" in problem


def test_error_answers_compare_messages_exactly_and_stream_frames_one_by_one() -> None:
    recorded = RecordedResponse(
        409, {"content-type": "application/json"}, '{"error": "Execution ID has already been used"}'
    )
    [problem] = [
        p
        for p in compare_answer(
            recorded,
            409,
            {"x-request-id": "0a1b2c3d", "content-type": "application/json"},
            '{"error": "taken"}',
        )
        if "$.error" in p
    ]
    assert "'taken'" in problem
    stream = RecordedResponse(
        200,
        {"content-type": "text/event-stream"},
        'data: {"event":"final","data":{"success":true}}\n\ndata: "[DONE]"',
    )
    headers = {"content-type": "text/event-stream", "x-request-id": "0a1b2c3d"}
    assert (
        compare_answer(
            stream, 200, headers, 'data: {"event":"final","data":{"success":true}}\n\ndata: "[DONE]"'
        )
        == []
    )
    found = compare_answer(
        stream,
        200,
        headers,
        'data: {"event":"final","data":{"success":true,"status":"completed"}}\n\ndata: "[DONE]"',
    )
    assert any("keys Sim does not send: status" in problem for problem in found)
