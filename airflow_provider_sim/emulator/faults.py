"""Faults queued through ``POST /_emulator/faults`` for the next matching requests.

A fault is JSON (or send an array of them)::

    {"path": "/api/workflows/echo/execute",  # exact path, or a glob: /api/v2/workflows/*/runs/*
     "method": "POST",                       # optional; any method when absent
     "kind": "status" | "delay" | "reset" | "malformed_json" | "html",
     "when": "before" | "after",             # default "before"
     "times": 1,                             # how many matching requests it hits (default 1)
     "status": 503,     # status: required; html: default 502; malformed_json: default 200
     "body": {...},     # status: JSON value, or a string sent as text/plain; html: the page.
                        #   Default: Sim's own error body for that status and API generation
                        #   (a default 503 also carries Retry-After: 5)
     "headers": {...},  # extra response headers (any kind but reset)
     "seconds": 2.5}    # delay: required

``before`` replaces handling (no run is created; ``delay`` waits and then handles normally);
``after`` handles the request first (an execute really starts its run) and then replaces or delays
the response. ``reset`` drops the TCP connection without any HTTP response (a RST).
Control endpoints (``/_emulator/*``) are never faulted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import socket
import struct
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from airflow_provider_sim.emulator.messages import json_response, v1_error, v2_error

FaultKind = Literal["status", "delay", "reset", "malformed_json", "html"]
FaultWhen = Literal["before", "after"]
#: scope key under which the emulator's uvicorn protocol (see ``server.py``) puts the connection's transport
TRANSPORT_SCOPE_KEY = "sim_emulator.transport"


class Fault(BaseModel):
    """One queued fault, as the control API's JSON gives it; ``times`` counts down as requests hit it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    path: str = Field(pattern="^/")
    kind: FaultKind
    when: FaultWhen = "before"
    method: str | None = None
    times: int = Field(1, ge=1)
    status: int | None = Field(None, ge=100, le=599)
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    seconds: float = Field(0.0, ge=0)

    @field_validator("headers", mode="before")
    @classmethod
    def _no_headers(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _complete(self) -> Fault:
        if self.kind == "status" and self.status is None:
            raise ValueError("a 'status' fault needs 'status'")
        if self.kind == "delay" and not self.seconds:
            raise ValueError("a 'delay' fault needs 'seconds'")
        self.method = self.method.upper() if self.method else None
        return self

    def matches(self, method: str, path: str) -> bool:
        """True if a request with ``method`` and ``path`` should hit this fault."""
        if self.method is not None and self.method != method.upper():
            return False
        return path == self.path or fnmatch.fnmatchcase(path, self.path)


class FaultQueue:
    """Faults waiting for requests, matched first-in first-out."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue ``fault``."""
        self._faults.append(fault)

    def take(self, method: str, path: str, when: FaultWhen) -> Fault | None:
        """Return the first queued fault for this request and phase, using up one of its ``times``."""
        for fault in self._faults:
            if fault.when == when and fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[Fault]:
        """Return the faults still queued."""
        return list(self._faults)

    def clear(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()


PROXY_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
#: a JSON document cut off mid-way, as from a proxy that dropped the upstream connection
MALFORMED_JSON = b'{"success": true, "executionId": "trunc'


def fault_response(fault: Fault, path: str) -> Response:
    """The response a ``status``, ``malformed_json``, ``html`` or ``reset`` fault puts in place."""
    headers = {k.lower(): v for k, v in fault.headers.items()}
    if fault.kind == "reset":
        return DropConnection()
    if fault.kind == "html":
        status = fault.status or 502
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        page = fault.body if isinstance(fault.body, str) else PROXY_HTML.format(status=status, reason=reason)
        return Response(page, status, {"content-type": "text/html", **headers})
    if fault.kind == "malformed_json":
        return Response(MALFORMED_JSON, fault.status or 200, {"content-type": "application/json", **headers})
    status = fault.status or 500
    if isinstance(fault.body, str):
        return Response(fault.body, status, {"content-type": "text/plain", **headers})
    if fault.body is not None:
        return json_response(status, fault.body, headers)
    # the default body is Sim's own error for that status, Retry-After included on a 503
    message = f"Injected fault: HTTP {status}"
    if path.startswith("/api/v2/"):
        return v2_error(status, message, headers=headers)
    if status == 503:
        headers.setdefault("retry-after", "5")
    return v1_error(status, message, headers=headers)


def abort_connection(transport: Any) -> None:
    """Drop a TCP connection with a RST: SO_LINGER 0, then abort, so the peer sees a reset, not a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class DropConnection(Response):
    """A "response" that answers nothing and resets the client's connection."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Abort the connection instead of sending anything.

        :raises ConnectionResetError: when served by something other than the emulator's uvicorn
            protocol (in-process, under ``httpx.ASGITransport``, the client sees this error).
        """
        transport = scope.get(TRANSPORT_SCOPE_KEY)
        if transport is None:
            raise ConnectionResetError("emulator fault 'reset' needs the emulator's uvicorn protocol")
        abort_connection(transport)
        # let uvicorn's connection_lost run so it does not try to send a 500 on the dead connection
        for _ in range(3):
            await asyncio.sleep(0)
