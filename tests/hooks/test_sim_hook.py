"""SimHook against the emulator over real HTTP: every operation, in both API generations."""

from __future__ import annotations

import io

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import SimBadRequestError, SimConfigurationError
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.protocol.models import RunStatus


def test_sync_execute_returns_the_output_and_names_the_run(
    hook: SimHook, emulator: EmulatorHandle, api_version: str
) -> None:
    run = hook.execute_workflow("echo", {"question": "hi"}, run_id="my-run-1")
    assert (run.status, run.output, run.run_id) == (RunStatus.COMPLETED, {"question": "hi"}, "my-run-1")
    [received] = emulator.control.requests_received()
    header = "x-run-id" if api_version == "v2" else "x-execution-id"
    assert received["headers"][header] == "my-run-1"
    assert received["headers"]["user-agent"].startswith("airflow-provider-sim/")
    assert received["apiKeyMatched"] is True
    assert [e["id"] for e in emulator.control.executions()] == ["my-run-1"]


def test_scalar_input_and_files_are_sent_as_the_sdk_does(hook: SimHook) -> None:
    assert hook.execute_workflow("echo", "hello").output == {"input": "hello"}
    upload = io.BytesIO(b"%PDF-1")
    upload.name = "report.pdf"
    output = hook.execute_workflow("echo", {"doc": upload}).output
    [doc] = output["doc"]  # Sim stores the file and hands the workflow its record
    assert (doc["name"], doc["type"], doc["size"], doc["base64"]) == (
        "report.pdf",
        "application/pdf",
        6,
        "JVBERi0x",
    )


#: 9 MiB of CJK text: within Sim's 10 MiB as UTF-8 (3 bytes a character), 18 MiB as \\u escapes
CJK_TEXT = "漢字" * (9 * 1024 * 1024 // 6)


def test_bodies_go_out_as_utf8_not_escapes(hook: SimHook, emulator: EmulatorHandle) -> None:
    run = hook.execute_workflow("echo", {"text": CJK_TEXT})
    assert run.output == {"text": CJK_TEXT}
    [received] = emulator.control.requests_received()
    assert received["headers"]["content-type"] == "application/json"
    assert len(CJK_TEXT.encode()) < received["bodyBytes"] < len(CJK_TEXT.encode()) + 200


def test_a_body_over_10_mib_says_its_size_and_the_limit(hook: SimHook, emulator: EmulatorHandle) -> None:
    with pytest.raises(SimBadRequestError) as caught:
        hook.execute_workflow("echo", {"text": CJK_TEXT + "漢" * 400_000})
    [received] = emulator.control.requests_received()
    assert received["status"] == 413
    assert f"{received['bodyBytes']:,} bytes" in str(caught.value)
    assert "at most 10,485,760 bytes (10 MiB)" in str(caught.value)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_fail_before_sending(hook: SimHook, emulator: EmulatorHandle, number: float) -> None:
    with pytest.raises(SimConfigurationError, match="NaN and Infinity have no JSON form"):
        hook.execute_workflow("echo", {"score": number})
    assert emulator.control.requests_received() == []


def test_async_execute_then_wait(hook: SimHook, api_version: str) -> None:
    queued = hook.execute_workflow("sleep", {"seconds": 0.2}, async_execution=True)
    assert queued.status is RunStatus.QUEUED and queued.run_id
    assert (queued.job_id is not None) is (api_version == "v1")
    done = hook.wait_for_run("sleep", queued.run_id, job_id=queued.job_id, poll_interval=0.05, timeout=10)
    assert done.status is RunStatus.COMPLETED and done.output == {"seconds": 0.2}


def test_failed_run_is_returned_as_failed_never_success(hook: SimHook) -> None:
    run = hook.execute_workflow("fail", {"message": "tool crashed"})
    assert run.status is RunStatus.FAILED and not run.status.is_success
    assert run.error is not None and "tool crashed" in run.error.message
    with pytest.raises(Exception, match="tool crashed"):
        run.raise_for_status()


def test_async_failure_is_failed_on_status_reads(hook: SimHook) -> None:
    queued = hook.execute_workflow("fail", {"message": "late failure"}, async_execution=True)
    done = hook.wait_for_run("fail", queued.run_id, job_id=queued.job_id, poll_interval=0.05, timeout=10)
    assert done.status is RunStatus.FAILED and done.error and "late failure" in done.error.message


def test_stream_yields_chunks_then_final_then_done(hook: SimHook) -> None:
    frames = list(hook.stream_workflow("stream", {"text": "one two three", "delay": 0.01}))
    chunks = [f.chunk for f in frames if f.kind == "chunk"]
    assert "".join(chunks).split() == ["one", "two", "three"]
    assert [f.kind for f in frames[-2:]] == ["final", "done"]
    assert frames[-2].output == {"content": "one two three"}


def test_stream_of_a_failing_workflow_ends_with_an_error_frame(hook: SimHook) -> None:
    frames = list(hook.stream_workflow("fail", {"message": "nope"}))
    assert any(f.kind == "error" and "nope" in (f.error or "") for f in frames)
    assert not any(f.kind == "final" and f.success for f in frames)


def test_cancel_a_running_run_and_a_finished_one(hook: SimHook) -> None:
    queued = hook.execute_workflow("hold", {"tag": 1}, async_execution=True)  # running until released
    result = hook.cancel_run("hold", queued.run_id)
    assert result.cancelled
    assert hook.get_run("hold", queued.run_id).status is RunStatus.CANCELLED
    again = hook.cancel_run("hold", queued.run_id)
    assert not again.cancelled


def test_paused_run_and_resume(hook: SimHook) -> None:
    paused = hook.execute_workflow("approval", {"doc": 1})
    assert paused.status is RunStatus.PAUSED and paused.paused and paused.paused.context_id
    hook.resume_run("approval", paused.run_id, paused.paused.context_id, {"approved": True})
    done = hook.wait_for_run("approval", paused.run_id, poll_interval=0.05, timeout=10)
    assert done.status is RunStatus.COMPLETED
    assert done.output["resumeInput"] == {"approved": True}


def test_deployment_status_and_validate(hook: SimHook) -> None:
    assert hook.get_deployment_status("echo").is_deployed
    assert not hook.get_deployment_status("undeployed").is_deployed
    assert hook.validate_workflow("echo") and not hook.validate_workflow("undeployed")
    assert not hook.validate_workflow("no-such-workflow")


def test_usage_limits_and_rate_limit_headers(
    hook: SimHook, emulator: EmulatorHandle, api_version: str
) -> None:
    emulator.control.settings(rate_limit_sync=120, rate_limit_async=600)
    limits = hook.get_usage_limits()
    assert limits.sync is not None and limits.sync.requests_per_minute == 120
    hook.execute_workflow("echo", {})
    info = hook.get_rate_limit_info()
    if api_version == "v2":
        assert info is not None and info.limit is not None and info.reset_at is not None


def test_legacy_job_status(sim_conn: object, emulator: EmulatorHandle) -> None:
    hook = SimHook(sim_conn(api_version="v1"))  # type: ignore[operator]
    queued = hook.execute_workflow("echo", {"a": 1}, async_execution=True)
    assert queued.job_id
    done = hook.wait_for_run("echo", queued.run_id, job_id=queued.job_id, poll_interval=0.05, timeout=10)
    assert hook.get_job(queued.job_id).status is RunStatus.COMPLETED
    assert done.output == {"a": 1}


def test_workflow_info_for_links(sim_conn: object) -> None:
    info = SimHook(sim_conn()).get_workflow("echo")  # type: ignore[operator]
    assert info.workspace_id
