"""The FastAPI app: one catch-all route that hands every request to the :class:`Emulator` core."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from airflow_provider_sim.emulator.config import EmulatorConfig
from airflow_provider_sim.emulator.core import Emulator
from airflow_provider_sim.emulator.messages import EmulatorRequest, EmulatorResponse

#: scope key under which the emulator's uvicorn protocol (see ``server.py``) puts the connection's transport
TRANSPORT_SCOPE_KEY = "sim_emulator.transport"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


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
            protocol, which is the only way to reach the socket; the client then sees a 500 or an error.
        """
        transport = scope.get(TRANSPORT_SCOPE_KEY)
        if transport is None:
            raise ConnectionResetError("emulator fault 'reset' needs the emulator's uvicorn protocol")
        abort_connection(transport)
        # let uvicorn's connection_lost run so it does not try to send a 500 on the dead connection
        for _ in range(3):
            await asyncio.sleep(0)


def to_emulator_request(request: Request, body: bytes) -> EmulatorRequest:
    """Convert a Starlette request into the core's request value."""
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
    """Convert the core's response value into a Starlette response."""
    if response.reset:
        return DropConnection()
    if response.stream is not None:
        return StreamingResponse(response.stream, status_code=response.status, headers=response.headers)
    return Response(content=response.body, status_code=response.status, headers=response.headers)


def create_app(config: EmulatorConfig, emulator: Emulator | None = None) -> FastAPI:
    """Build the FastAPI app around a new (or the given) :class:`Emulator`.

    The emulator is available as ``app.state.emulator``.
    """
    core = emulator or Emulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await core.shutdown()

    app = FastAPI(title="Sim emulator", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.emulator = core

    @app.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
    async def handle(request: Request) -> Response:
        body = await request.body()
        return to_starlette_response(await core.handle(to_emulator_request(request, body)))

    return app
