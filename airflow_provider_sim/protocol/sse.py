"""Interpreting the Server-Sent Events of a streamed execution. No I/O.

The byte-level SSE framing is left to a kept parser (``sseclient-py``); this module turns each
event's ``data`` into a :class:`StreamFrame`, accepting the current and the older frame forms.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from airflow_provider_sim.protocol.models import RunStatus, SimRun, StreamFrame

_DONE = StreamFrame(kind="done")


def parse_stream_data(data: str) -> StreamFrame | None:
    """One event's ``data`` field as a frame; ``None`` for keep-alives and frames we don't know.

    Accepted: ``{"blockId", "chunk"}``; ``{"event": "stream_error", ...}``; ``{"event": "final",
    "data": {...}}``; ``{"event": "error", "error"}``; the end marker ``"[DONE]"`` (JSON-quoted, or
    bare as in Sim's older docs) and the older ``{"event": "done", ...}``.
    """
    text = data.strip()
    if not text:
        return None
    if text == "[DONE]":
        return _DONE
    try:
        payload: Any = json.loads(text)
    except ValueError:
        return None
    if payload == "[DONE]":
        return _DONE
    if not isinstance(payload, dict):
        return None
    event = payload.get("event")
    if event is None and "chunk" in payload:
        return StreamFrame(kind="chunk", block_id=_text(payload.get("blockId")), chunk=str(payload["chunk"]))
    if event == "stream_error":
        return StreamFrame(
            kind="stream_error", block_id=_text(payload.get("blockId")), error=_message(payload.get("error"))
        )
    if event in ("final", "done"):
        result: dict[str, Any] = payload["data"] if isinstance(payload.get("data"), dict) else payload
        success = result.get("success")
        status = RunStatus.from_sim(result["status"]) if result.get("status") else None
        if status is None and isinstance(success, bool):
            status = RunStatus.COMPLETED if success else RunStatus.FAILED
        frame = StreamFrame(
            kind="final",
            output=result.get("output"),
            error=_message(result.get("error")),
            success=success if isinstance(success, bool) else None,
            status=status,
        )
        return frame if event == "final" or "output" in result or "success" in result else _DONE
    if event == "error":
        return StreamFrame(
            kind="error", error=_message(payload.get("error")) or "stream failed", status=RunStatus.FAILED
        )
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _message(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return _text(value.get("message")) or json.dumps(value)
    return str(value)


def frames_of_finished_run(run: SimRun) -> Iterator[StreamFrame]:
    """The frames a stream of ``run`` would have ended with (``final`` or ``error``, then ``done``):
    for a stream that could not be read, whose run was read instead."""
    if run.status.is_success or run.status is RunStatus.PAUSED:
        yield StreamFrame(kind="final", output=run.output, success=True, status=run.status)
    else:
        message = run.error.message if run.error else run.status.value
        yield StreamFrame(kind="error", error=message, status=run.status)
    yield _DONE
