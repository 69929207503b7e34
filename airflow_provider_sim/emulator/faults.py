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
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, cast

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from airflow_provider_sim.emulator.messages import json_response, v1_error, v2_error

FaultKind = Literal["status", "delay", "reset", "malformed_json", "html"]
FaultWhen = Literal["before", "after"]
KINDS: tuple[FaultKind, ...] = ("status", "delay", "reset", "malformed_json", "html")
WHENS: tuple[FaultWhen, ...] = ("before", "after")
#: scope key under which the emulator's uvicorn protocol (see ``server.py``) puts the connection's transport
TRANSPORT_SCOPE_KEY = "sim_emulator.transport"


@dataclass
class Fault:
    """One queued fault; ``times`` counts down as requests hit it."""

    path: str
    kind: FaultKind
    when: FaultWhen = "before"
    method: str | None = None
    times: int = 1
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        """True if a request with ``method`` and ``path`` should hit this fault."""
        if self.method is not None and self.method != method.upper():
            return False
        return path == self.path or fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        """Return the fault as the JSON the control API accepts."""
        return {
            "path": self.path,
            "kind": self.kind,
            "when": self.when,
            "method": self.method,
            "times": self.times,
            "status": self.status,
            "body": self.body,
            "headers": self.headers,
            "seconds": self.seconds,
        }


def parse_fault(payload: Any) -> Fault:
    """Build a :class:`Fault` from the control API's JSON.

    :raises ValueError: naming the first field that is missing or wrong.
    """
    if not isinstance(payload, dict):
        raise ValueError("a fault must be a JSON object")
    allowed = {"path", "kind", "when", "method", "times", "status", "body", "headers", "seconds"}
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
    path = payload.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("'path' must be a string starting with '/'")
    kind = payload.get("kind")
    if kind not in KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(KINDS)}")
    when = payload.get("when", "before")
    if when not in WHENS:
        raise ValueError("'when' must be 'before' or 'after'")
    method = payload.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError("'method' must be a string")
    times = payload.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError("'times' must be a positive integer")
    status = payload.get("status")
    if kind == "status" and status is None:
        raise ValueError("a 'status' fault needs 'status'")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
    ):
        raise ValueError("'status' must be an HTTP status code")
    headers = payload.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("'headers' must be an object of strings")
    seconds = payload.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError("'seconds' must be a non-negative number")
    if kind == "delay" and not seconds:
        raise ValueError("a 'delay' fault needs 'seconds'")
    return Fault(
        path=path,
        kind=cast(FaultKind, kind),
        when=cast(FaultWhen, when),
        method=method.upper() if method else None,
        times=times,
        status=status,
        body=payload.get("body"),
        headers={str(k): v for k, v in headers.items()},
        seconds=float(seconds),
    )


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
