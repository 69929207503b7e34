"""httpx transports that serve requests from an in-process :class:`Emulator` — no sockets, no subprocess.

For fast unit tests of code that takes an ``httpx.Client`` / ``httpx.AsyncClient``::

    client = httpx.AsyncClient(transport=EmulatorAsyncTransport(), base_url="http://sim.test")
    await client.post("/api/v2/workflows/echo/execute", json={"input": {}}, headers={"X-API-Key": ...})

The control endpoints work through the same client (``POST /_emulator/faults`` ...). A ``reset``
fault raises :class:`httpx.RemoteProtocolError`, as a dropped connection does over TCP. The async
transport runs the emulator on the caller's event loop; the sync one on a private loop in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import httpx

from airflow_provider_sim.emulator.config import EmulatorConfig
from airflow_provider_sim.emulator.core import Emulator
from airflow_provider_sim.emulator.messages import EmulatorRequest, EmulatorResponse


def _to_emulator_request(request: httpx.Request, body: bytes) -> EmulatorRequest:
    url = request.url
    return EmulatorRequest(
        method=request.method,
        path=url.path,
        query=tuple(url.params.multi_items()),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        base_url=f"{url.scheme}://{url.netloc.decode()}",
    )


def _check_reset(response: EmulatorResponse, request: httpx.Request) -> None:
    if response.reset:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk


class EmulatorAsyncTransport(httpx.AsyncBaseTransport):
    """Serve an ``httpx.AsyncClient`` from an emulator running on the caller's event loop.

    :param emulator: the core to use; a new one from ``config`` (or defaults) when absent.
    """

    def __init__(self, emulator: Emulator | None = None, config: EmulatorConfig | None = None) -> None:
        self.emulator = emulator or Emulator(config or EmulatorConfig())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request from the emulator core."""
        response = await self.emulator.handle(_to_emulator_request(request, await request.aread()))
        _check_reset(response, request)
        if response.stream is not None:
            return httpx.Response(
                response.status, headers=response.headers, stream=_AsyncStream(response.stream)
            )
        return httpx.Response(response.status, headers=response.headers, content=response.body)

    async def aclose(self) -> None:
        """Cancel the emulator's unfinished runs."""
        await self.emulator.shutdown()


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = chunks
        self._loop = loop

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            except StopAsyncIteration:
                return

    async def _next(self) -> bytes:
        return await anext(self._chunks)


class EmulatorTransport(httpx.BaseTransport):
    """Serve a sync ``httpx.Client`` from an emulator running on a private event loop thread.

    :param emulator: the core to use; a new one from ``config`` (or defaults) when absent.
    """

    def __init__(self, emulator: Emulator | None = None, config: EmulatorConfig | None = None) -> None:
        self.emulator = emulator or Emulator(config or EmulatorConfig())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-emulator-loop", daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request from the emulator core (blocks until it answers)."""
        emulated = _to_emulator_request(request, request.read())
        response = asyncio.run_coroutine_threadsafe(self.emulator.handle(emulated), self._loop).result()
        _check_reset(response, request)
        if response.stream is not None:
            stream = _SyncStream(response.stream, self._loop)
            return httpx.Response(response.status, headers=response.headers, stream=stream)
        return httpx.Response(response.status, headers=response.headers, content=response.body)

    def close(self) -> None:
        """Cancel unfinished runs and stop the loop thread."""
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.emulator.shutdown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
