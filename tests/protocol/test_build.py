"""Request building: every bad argument fails before a request exists, with the fix in the message."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest

from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.protocol.build import (
    build_cancel,
    build_execute,
    build_get_job,
    build_get_run,
    build_resume,
    check_run_id,
    check_workflow_id,
    client_headers,
    new_run_id,
    normalize_base_url,
    workflow_input,
)
from airflow_provider_sim.protocol.models import ApiVersion

V1, V2 = ApiVersion.V1, ApiVersion.V2


@pytest.mark.parametrize(
    "bad",
    ["", "a/b", "../etc", "..", ".", "id with space", "x?y=1", None, 42, "https://www.sim.ai/w/x", "echo\n"],
)
def test_path_like_or_empty_workflow_ids_are_rejected(bad: object) -> None:
    with pytest.raises(SimConfigurationError, match="workflow's URL"):
        check_workflow_id(bad)


def test_real_workflow_ids_pass() -> None:
    assert check_workflow_id("3f0c0a54-8d0e-4a8b-9a55-2f4b2c9d1e77") == "3f0c0a54-8d0e-4a8b-9a55-2f4b2c9d1e77"
    assert check_workflow_id("echo") == "echo"


@pytest.mark.parametrize("bad", ["", "a" * 129, "has space", "slash/y", None, "r1\n", "\nr1", "r1\r\n"])
def test_run_ids_follow_sims_pattern(bad: object) -> None:
    with pytest.raises(SimConfigurationError, match="1-128 characters"):
        check_run_id(bad)


@pytest.mark.parametrize("api", [V1, V2])
def test_a_trailing_newline_in_an_id_fails_before_any_request_exists(api: ApiVersion) -> None:
    # ``$`` matches before a final newline: "echo\n" would go out as echo%0A, "r1\n" in a header
    with pytest.raises(SimConfigurationError, match="workflow's URL"):
        build_execute(api, "echo\n", {}, run_id="r1")
    with pytest.raises(SimConfigurationError, match="1-128 characters"):
        build_execute(api, "echo", {}, run_id="r1\n")
    with pytest.raises(SimConfigurationError, match="1-128 characters"):
        build_get_run(api, "echo", "r1\n")
    with pytest.raises(SimConfigurationError, match="1-128 characters"):
        build_cancel(api, "echo", "r1\n")
    with pytest.raises(SimConfigurationError, match="context_id"):
        build_resume(api, "echo", "r1", "ctx\n")
    with pytest.raises(SimConfigurationError, match="job_id"):
        build_get_job("job\n")


def test_generated_run_ids_are_valid_and_distinct() -> None:
    first, second = new_run_id(), new_run_id()
    assert check_run_id(first) and first != second


@pytest.mark.parametrize("bad", ["www.sim.ai", "ftp://sim.ai", "http://", "https://sim.ai/?x=1"])
def test_base_url_needs_scheme_and_host(bad: str) -> None:
    with pytest.raises(SimConfigurationError, match="base URL"):
        normalize_base_url(bad, default="https://www.sim.ai")


def test_base_url_default_and_trailing_slash() -> None:
    assert normalize_base_url(None, default="https://www.sim.ai") == "https://www.sim.ai"
    assert normalize_base_url("http://127.0.0.1:8765/", default="x") == "http://127.0.0.1:8765"


@pytest.mark.parametrize("bad", ["", " sk-sim-x", "sk-sim-x\nX-Evil: 1"])
def test_api_key_with_whitespace_is_rejected_without_echoing_it(bad: str) -> None:
    with pytest.raises(SimConfigurationError) as caught:
        client_headers(bad)
    assert "X-Evil" not in str(caught.value)


def test_headers_name_the_provider() -> None:
    headers = client_headers("sk-sim-abc")
    assert headers["X-API-Key"] == "sk-sim-abc"
    assert headers["User-Agent"].startswith("airflow-provider-sim/")


def test_input_wrapping_follows_the_sdk() -> None:
    assert workflow_input({"a": 1}) == {"a": 1}
    assert workflow_input("hello") == {"input": "hello"}
    assert workflow_input(None) == {}


def test_file_objects_become_base64_file_values() -> None:
    upload = io.BytesIO(b"hello")
    upload.name = "/tmp/notes.txt"
    value = workflow_input({"doc": upload, "list": [upload]})
    assert value["doc"] == {
        "type": "file",
        "data": "data:text/plain;base64,aGVsbG8=",
        "name": "notes.txt",
        "mime": "text/plain",
    }
    assert upload.tell() == 0


def test_input_that_is_not_json_names_the_fix() -> None:
    with pytest.raises(SimConfigurationError, match="convert dates"):
        workflow_input({"when": datetime(2026, 1, 1)})
    for number in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(SimConfigurationError, match="NaN and Infinity have no JSON form"):
            workflow_input({"x": number})
    with pytest.raises(SimConfigurationError, match="not JSON"):
        workflow_input({"x": "\ud800"})  # a lone surrogate has no UTF-8 form


def test_bodies_are_encoded_once_as_compact_utf8() -> None:
    spec = build_execute(V2, "wf", {"text": "漢字 é"}, run_id="r-1")
    assert spec.body == '{"input":{"text":"漢字 é"}}'.encode()
    assert build_get_run(V2, "wf", "r-1").body is None


def test_v2_execute_names_its_run_and_uses_a_strict_body() -> None:
    spec = build_execute(
        V2,
        "wf",
        {"a": 1},
        run_id="r-1",
        mode="async",
        selected_outputs=["agent.content"],
        execution_timeout_seconds=60,
    )
    assert (spec.method, spec.path) == ("POST", "/api/v2/workflows/wf/execute")
    assert spec.headers["X-Run-Id"] == "r-1"
    assert spec.json_body == {
        "input": {"a": 1},
        "selectedOutputs": ["agent.content"],
        "async": True,
        "executionTimeoutSeconds": 60,
    }
    assert spec.is_execute and spec.run_id == "r-1" and spec.read_timeout is None


def test_v1_execute_uses_headers_for_mode_and_id() -> None:
    spec = build_execute(V1, "wf", {"a": 1}, run_id="r-1", mode="async", execution_timeout_seconds=5)
    assert spec.path == "/api/workflows/wf/execute"
    assert spec.headers == {
        "X-Execution-Id": "r-1",
        "X-Execution-Mode": "async",
        "X-Execution-Timeout-Seconds": "5",
    }
    assert spec.json_body == {"input": {"a": 1}}
    stream = build_execute(V1, "wf", None, run_id="r-2", mode="stream", sync_timeout=99)
    assert stream.headers["X-Stream-Response"] == "true" and stream.json_body["stream"] is True
    assert stream.stream and stream.read_timeout == 99


@pytest.mark.parametrize("value", [0, 604_801, 1.5, True, "60"])
def test_execution_timeout_out_of_range(value: object) -> None:
    with pytest.raises(SimConfigurationError, match="1 to 604800"):
        build_execute(V2, "wf", run_id="r", mode="async", execution_timeout_seconds=value)  # type: ignore[arg-type]


def test_execution_timeout_only_for_async() -> None:
    with pytest.raises(SimConfigurationError, match="async runs only"):
        build_execute(V2, "wf", run_id="r", mode="sync", execution_timeout_seconds=60)


def test_selected_outputs_must_be_a_list_of_strings() -> None:
    with pytest.raises(SimConfigurationError, match="selected_outputs"):
        build_execute(V2, "wf", run_id="r", selected_outputs="agent.content")  # type: ignore[arg-type]


def test_status_cancel_and_resume_paths() -> None:
    run = build_get_run(V2, "wf", "r1", selected_outputs=["a.b", "c.d"])
    assert run.path == "/api/v2/workflows/wf/runs/r1"
    assert run.params == {"includeOutput": "true", "selectedOutputs": "a.b,c.d"}
    assert build_get_run(V1, "wf", "r1").path == "/api/workflows/wf/executions/r1"
    assert build_get_job("job-1").path == "/api/jobs/job-1"
    assert build_cancel(V2, "wf", "r1").path == "/api/v2/workflows/wf/runs/r1/cancel"
    assert build_cancel(V1, "wf", "r1").path == "/api/workflows/wf/executions/r1/cancel"
    resume = build_resume(V2, "wf", "r1", "ctx", {"ok": True})
    assert resume.json_body == {"contextId": "ctx", "input": {"ok": True}} and not resume.safe_to_resend
    assert build_resume(V1, "wf", "r1", "ctx").path == "/api/resume/wf/r1/ctx"
    json.dumps(resume.json_body)
