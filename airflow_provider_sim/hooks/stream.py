"""A streamed execution over ``requests``: the run's Server-Sent Events as frames, as they arrive."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import requests
from sseclient import SSEClient

from airflow_provider_sim.exceptions import SimConflictError
from airflow_provider_sim.hooks.requests_errors import requests_connection_error
from airflow_provider_sim.protocol.build import build_execute
from airflow_provider_sim.protocol.models import StreamFrame
from airflow_provider_sim.protocol.parse import parse_execute
from airflow_provider_sim.protocol.sse import frames_of_finished_run, parse_stream_data

if TYPE_CHECKING:
    from airflow_provider_sim.hooks.sim import SimHook


def stream_frames(
    hook: SimHook, workflow_id: str, input: Any, run_id: str, selected_outputs: Sequence[str] | None
) -> Iterator[StreamFrame]:
    """What :meth:`SimHook.stream_workflow` yields: run ``workflow_id`` as ``run_id`` and yield its
    frames until ``done``. A stream that cannot be opened because an earlier attempt already
    started the run is replaced by a wait for that run and one ``final``/``error`` frame."""
    settings = hook.settings
    spec = build_execute(
        settings.api_version,
        workflow_id,
        input,
        run_id=run_id,
        mode="stream",
        selected_outputs=selected_outputs,
        sync_timeout=settings.sync_timeout,
    )
    try:
        response = hook._send(spec)
    except SimConflictError as err:
        if err.after_resend:  # an earlier attempt started the run: wait for it instead
            run = hook.wait_for_run(workflow_id, run_id, poll_interval=2.0, timeout=settings.sync_timeout)
            yield from frames_of_finished_run(run)
            return
        raise
    if response.stream is None:  # v1 answered a failed run with HTTP 500 instead of a stream
        yield from frames_of_finished_run(parse_execute(spec, response, workflow_id))
        return
    raw: requests.Response = response.stream
    try:
        for event in SSEClient(raw.iter_content(chunk_size=None)).events():
            frame = parse_stream_data(event.data)
            if frame is not None:
                yield frame
                if frame.kind == "done":
                    return
    except requests.RequestException as err:
        raise requests_connection_error(spec, settings.base_url, err) from err
    finally:
        raw.close()
