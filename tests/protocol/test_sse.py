"""Stream frames: the current forms and the older ones Sim's docs still show."""

from __future__ import annotations

import json

from airflow_provider_sim.protocol.models import RunStatus
from airflow_provider_sim.protocol.sse import parse_stream_data


def test_chunks_final_and_done() -> None:
    chunk = parse_stream_data(json.dumps({"blockId": "agent1", "chunk": "Hel"}))
    assert chunk and (chunk.kind, chunk.block_id, chunk.chunk) == ("chunk", "agent1", "Hel")
    final = parse_stream_data(json.dumps({"event": "final", "data": {"success": True, "output": {"a": 1}}}))
    assert (
        final and final.kind == "final" and final.output == {"a": 1} and final.status is RunStatus.COMPLETED
    )
    assert parse_stream_data('"[DONE]"').kind == "done"  # type: ignore[union-attr]
    assert parse_stream_data("[DONE]").kind == "done"  # type: ignore[union-attr]


def test_errors() -> None:
    soft = parse_stream_data(json.dumps({"event": "stream_error", "blockId": "b", "error": "hiccup"}))
    assert soft and soft.kind == "stream_error" and soft.error == "hiccup"
    hard = parse_stream_data(json.dumps({"event": "error", "error": "Workflow failed"}))
    assert hard and hard.kind == "error" and hard.status is RunStatus.FAILED


def test_older_done_event_forms() -> None:
    with_result = parse_stream_data(json.dumps({"event": "done", "success": True, "output": {"x": 1}}))
    assert with_result and with_result.kind == "final" and with_result.output == {"x": 1}
    bare = parse_stream_data(json.dumps({"event": "done"}))
    assert bare and bare.kind == "done"


def test_keepalives_and_unknown_frames_are_skipped() -> None:
    assert parse_stream_data("") is None
    assert parse_stream_data(": ping") is None
    assert parse_stream_data(json.dumps({"event": "telemetry"})) is None
