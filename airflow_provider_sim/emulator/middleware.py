"""The ASGI middleware around every route: request ids, the request log, faults, the v2 switch.

Control routes (``/_emulator/*``) and the HTML pages are never logged nor faulted. Every answer
except a connection reset carries ``x-request-id``; an answer to ``HEAD`` carries no body; an
exception in a route becomes Sim's plain 500; a metered route's answer gets its ``X-RateLimit-*``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_sim.emulator.endpoints import add_rate_limit_headers
from airflow_provider_sim.emulator.faults import fault_response
from airflow_provider_sim.emulator.messages import new_request_id, v1_error, v2_error
from airflow_provider_sim.emulator.pages import PAGE_PREFIXES

if TYPE_CHECKING:
    from airflow_provider_sim.emulator.core import Emulator

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_emulator/"


def is_v2_path(path: str) -> bool:
    """True for the paths that answer in the v2 error shape."""
    return path == "/api/v2" or path.startswith("/api/v2/")


class _Replaced(Exception):
    """Stops a route whose answer an ``after`` fault has replaced."""


class EmulatorMiddleware:
    """Wraps the FastAPI app; ``emulator`` is the state it logs requests into and takes faults from."""

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (other ASGI events pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        status: int | None = None
        is_head = scope["method"] == "HEAD"

        async def send_out(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("x-request-id", request_id)
                status = message["status"]
            elif message["type"] == "http.response.body" and is_head:
                message = {**message, "body": b""}
            await send(message)

        entry = None
        try:
            if scope["path"].startswith((CONTROL_PREFIX, *PAGE_PREFIXES)):
                await self.app(scope, receive, send_out)
                return
            body, receive = await _buffer_body(receive)
            entry = self.emulator.record(Request(scope), body)
            await self._serve_api(scope, receive, send_out)
        except Exception as exc:
            if _only(exc, ConnectionResetError):
                # a ``reset`` fault outside uvicorn: in-process, the client sees this error
                raise ConnectionResetError("connection reset by an emulator fault") from None
            log.exception("emulator failed on %s %s", scope["method"], scope["path"])
            if status is None:
                await v1_error(500, "Internal server error")(scope, receive, send_out)
        finally:
            if entry is not None:
                # a stream's status is final once its headers go out; a reset has no status at all
                entry["status"] = status
                entry["rateLimited"] = status == 429

    async def _serve_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        em = self.emulator
        method, path = scope["method"], scope["path"]
        fault = em.faults.take(method, path, "before")
        if fault is not None:
            if fault.kind != "delay":
                await fault_response(fault, path)(scope, receive, send)
                return
            await asyncio.sleep(fault.seconds)
        if is_v2_path(path) and not em.settings.v2_enabled:
            await v2_error(404, "Not found")(scope, receive, send)
            return
        scope.setdefault("state", {})  # where the routes' dependencies leave the metered bucket

        async def send_or_replace(message: Message) -> None:
            if message["type"] == "http.response.start":
                after = em.faults.take(method, path, "after")
                if after is not None and after.kind == "delay":
                    await asyncio.sleep(after.seconds)
                elif after is not None:
                    # the route's own answer (a started run, a stream) is dropped; its run goes on
                    await fault_response(after, path)(scope, receive, send)
                    raise _Replaced
                add_rate_limit_headers(scope, message)
            await send(message)

        try:
            await self.app(scope, receive, send_or_replace)
        except Exception as exc:
            if not _only(exc, _Replaced):
                raise


def _only(exc: BaseException, kind: type[BaseException]) -> bool:
    """True if ``exc`` is a ``kind``, or a group (from a task group) of nothing else."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only(inner, kind) for inner in exc.exceptions)
    return isinstance(exc, kind)


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body; return it and a ``receive`` that replays it to the app."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay
