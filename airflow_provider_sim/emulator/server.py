"""Running the app under uvicorn: the transport-exposing protocol, the ready line, clean shutdown."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from airflow_provider_sim.emulator.app import TRANSPORT_SCOPE_KEY, create_app
from airflow_provider_sim.emulator.config import EmulatorConfig
from airflow_provider_sim.emulator.core import Emulator

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional for uvicorn
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def _expose_transport(protocol: Any) -> None:
    inner = protocol.app

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope[TRANSPORT_SCOPE_KEY] = protocol.transport
        await inner(scope, receive, send)

    protocol.app = app


def http_protocol_class() -> type[asyncio.Protocol]:
    """uvicorn's fastest HTTP protocol (httptools, else h11), putting each connection's transport
    in its requests' scope: uvicorn gives an ASGI app no way to reach the socket, and the
    ``reset`` fault needs it to send a TCP RST."""
    base: type[Any] = H11Protocol if HttpToolsProtocol is None else HttpToolsProtocol

    class TransportExposingProtocol(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            _expose_transport(self)

    return TransportExposingProtocol


class EmulatorServer(uvicorn.Server):
    """A uvicorn server that reports its URL once listening and stops runs before draining."""

    def __init__(self, config: uvicorn.Config, emulator: Emulator, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self.emulator = emulator
        self.on_ready = on_ready
        self.base_url: str | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then call ``on_ready`` with the real base URL (``--port 0`` included)."""
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            self.on_ready(self.base_url)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Cancel unfinished runs first, so waiting requests answer and streams end, then drain."""
        await self.emulator.shutdown()
        await super().shutdown(sockets=sockets)


def build_server(config: EmulatorConfig, on_ready: Callable[[str], None]) -> EmulatorServer:
    """Build (but do not start) a uvicorn server for ``config``."""
    emulator = Emulator(config)
    uv_config = uvicorn.Config(
        create_app(config, emulator),
        host=config.host,
        port=config.port,
        http=http_protocol_class(),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
        timeout_keep_alive=30,
    )
    return EmulatorServer(uv_config, emulator, on_ready)
