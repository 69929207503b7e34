"""Server-Sent Events from both generations: chunks, final or error, then the quoted [DONE]."""

from __future__ import annotations

from typing import Any

import httpx
import requests
from emulator_helpers import sse_payloads

from airflow_provider_sim.emulator.control import EmulatorHandle


def stream_v2(
    emulator: EmulatorHandle, workflow: str, body: dict[str, object]
) -> tuple[httpx.Response, list[Any]]:
    url = f"{emulator.base_url}/api/v2/workflows/{workflow}/execute"
    with httpx.stream(
        "POST", url, json=body, headers={**emulator.headers, "X-Run-Id": f"sse-{workflow}"}
    ) as response:
        return response, sse_payloads(response.iter_lines())


def test_v2_stream_chunks_final_done(emulator: EmulatorHandle) -> None:
    response, frames = stream_v2(emulator, "stream", {"input": {"text": "one two three"}, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "x-run-id" not in response.headers  # Sim names the run in no header of a stream
    chunks = [frame for frame in frames if isinstance(frame, dict) and "chunk" in frame]
    assert "".join(chunk["chunk"] for chunk in chunks) == "one two three"
    assert all(chunk["blockId"] == "agent" for chunk in chunks) and len(chunks) == 3
    final = frames[-2]
    assert final["event"] == "final"
    # on Sim a successful run's final frame has no error and no status
    assert final["data"] == {"success": True, "output": {"content": "one two three"}}
    assert frames[-1] == "[DONE]"
    assert "sse-stream" not in repr(frames), "the run id appears in no frame"
    [run] = emulator.control.executions()
    assert run["mode"] == "stream" and run["status"] == "completed"


def test_v2_stream_failure_ends_with_one_error_and_no_final(emulator: EmulatorHandle) -> None:
    _, frames = stream_v2(emulator, "fail", {"input": {"message": "bad"}, "stream": True})
    assert frames == [{"event": "error", "error": "Workflow failed: bad"}, "[DONE]"]


def test_v1_stream_by_body_flag_and_by_header(emulator: EmulatorHandle) -> None:
    url = f"{emulator.base_url}/api/workflows/stream/execute"
    by_body = requests.post(
        url, json={"stream": True, "text": "a b"}, headers=emulator.headers, stream=True, timeout=5
    )
    frames = sse_payloads(by_body.iter_lines(decode_unicode=True))
    assert [f["chunk"] for f in frames if isinstance(f, dict) and "chunk" in f] == ["a ", "b"]
    assert frames[-2]["event"] == "final" and frames[-1] == "[DONE]"
    assert "x-execution-id" not in by_body.headers
    assert emulator.control.executions()[0]["id"] not in repr(frames)

    by_header = requests.post(
        url,
        json={"text": "c"},
        headers={**emulator.headers, "X-Stream-Response": "true"},
        stream=True,
        timeout=5,
    )
    frames = sse_payloads(by_header.iter_lines(decode_unicode=True))
    assert frames[0] == {"blockId": "agent", "chunk": "c"} and frames[-1] == "[DONE]"
    assert [run["mode"] for run in emulator.control.executions()] == ["stream", "stream"]


def test_stream_of_a_paused_workflow_reports_paused_status(emulator: EmulatorHandle) -> None:
    _, frames = stream_v2(emulator, "approval", {"input": {}, "stream": True})
    assert frames[0]["event"] == "final" and frames[0]["data"]["status"] == "paused"
    assert "_resume" in frames[0]["data"]["output"]["data"]


def test_stream_error_event_is_not_terminal(emulator: EmulatorHandle) -> None:
    body = {"input": {"text": "a b", "streamError": "tool hiccup"}, "stream": True}
    _, frames = stream_v2(emulator, "stream", body)
    assert frames[1] == {"event": "stream_error", "blockId": "agent", "error": "tool hiccup"}
    assert frames[-2]["event"] == "final" and frames[-2]["data"]["success"] is True
    assert frames[-1] == "[DONE]"
