"""FastAPI routes for the emulator's handlers, and the conversions between Starlette and the handlers.

A handler is ``async (emulator, request, path_params) -> EmulatorResponse``; :class:`SimRouter` (an
``APIRouter``) declares it as a FastAPI route of one API generation. FastAPI matches the path and
parses the path parameters; the route's endpoint then applies what Sim checks before a handler runs,
in Sim's order: the per-IP bucket (v2 only), the API key (not on control routes), the operation's
bucket (metered v2 routes; its ``X-RateLimit-*`` go on the answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from airflow_provider_sim.emulator.core import auth_failure
from airflow_provider_sim.emulator.messages import (
    EmulatorRequest,
    EmulatorResponse,
    rate_limit_headers,
    rate_limited,
    v1_error,
    v2_error,
)
from airflow_provider_sim.emulator.ratelimit import most_restrictive

if TYPE_CHECKING:
    from airflow_provider_sim.emulator.core import Emulator

Generation = Literal["v1", "v2", "control"]
Handler = Callable[["Emulator", EmulatorRequest, dict[str, str]], Awaitable[EmulatorResponse]]
#: scope key under which the emulator's uvicorn protocol (see ``server.py``) puts the connection's transport
TRANSPORT_SCOPE_KEY = "sim_emulator.transport"


class SimRouter(APIRouter):
    """The routes of one API generation (``v1``, ``v2`` or ``control``).

    :param generation: which error shape its routes speak, and whether they need the API key.
    """

    def __init__(self, generation: Generation) -> None:
        super().__init__()
        self.generation: Generation = generation

    def add(self, method: str, path: str, handler: Handler, operation: str | None = None) -> None:
        """Declare ``handler`` for ``method`` and ``path`` (``/api/jobs/{jobId}``).

        :param operation: the v2 operation id whose rate-limit bucket a call is charged to (Sim's
            ``v2:<operation id>:<subject>``); ``None`` for unmetered routes. A v2 ``GET`` also
            answers ``HEAD`` (Next.js serves a HEAD with its GET, metered the same, bodiless).
        """
        generation = self.generation

        async def endpoint(request: Request) -> Response:
            em: Emulator = request.app.state.emulator
            emulated = to_emulator_request(request, await request.body())
            response = await answer(em, generation, operation, handler, emulated, request.path_params)
            return to_starlette_response(response)

        methods = [method, "HEAD"] if generation == "v2" and method == "GET" else [method]
        self.add_api_route(path, endpoint, methods=methods, name=handler.__name__, include_in_schema=False)


async def answer(
    em: Emulator,
    generation: Generation,
    operation: str | None,
    handler: Handler,
    request: EmulatorRequest,
    params: dict[str, str],
) -> EmulatorResponse:
    """Run Sim's pre-handler checks, then the handler; add the rate-limit headers of metered routes."""
    if generation == "v2":
        # Sim's pre-auth limit: every request to a real v2 route, before the key is looked at
        by_ip = em.limiter.take_ip(request.client_host)
        if not by_ip.allowed:
            return rate_limited(by_ip)
    if generation != "control":
        failure = auth_failure(request, em.config.api_key)
        if failure is not None:
            return v2_error(401, failure) if generation == "v2" else v1_error(401, failure)
    if operation is None:
        return await handler(em, request, params)
    bucket = em.limiter.take_operation(operation)
    if not bucket.allowed:
        return rate_limited(bucket)
    response = await handler(em, request, params)
    shown = bucket if response.bucket is None else most_restrictive(bucket, response.bucket)
    response.headers.update(rate_limit_headers(shown))
    return response


def to_emulator_request(request: Request, body: bytes) -> EmulatorRequest:
    """Convert a Starlette request into the handlers' request value."""
    return EmulatorRequest(
        method=request.method,
        path=request.url.path,
        query=tuple(request.query_params.multi_items()),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        base_url=str(request.base_url).rstrip("/"),
        client_host=request.client.host if request.client is not None else "unknown",
    )


def to_starlette_response(response: EmulatorResponse) -> Response:
    """Convert a handler's response value into a Starlette response."""
    if response.reset:
        return DropConnection()
    if response.stream is not None:
        return StreamingResponse(response.stream, status_code=response.status, headers=response.headers)
    return Response(content=response.body, status_code=response.status, headers=response.headers)


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
            protocol (the in-process transports turn it into the client's connection error).
        """
        transport = scope.get(TRANSPORT_SCOPE_KEY)
        if transport is None:
            raise ConnectionResetError("emulator fault 'reset' needs the emulator's uvicorn protocol")
        abort_connection(transport)
        # let uvicorn's connection_lost run so it does not try to send a 500 on the dead connection
        for _ in range(3):
            await asyncio.sleep(0)
