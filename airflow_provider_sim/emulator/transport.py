"""httpx transports that serve requests from an in-process emulator app — no sockets, no subprocess.

For fast unit tests of code that takes an ``httpx.Client`` / ``httpx.AsyncClient``::

    client = httpx.AsyncClient(transport=EmulatorAsyncTransport(), base_url="http://sim.test")
    await client.post("/api/v2/workflows/echo/execute", json={"input": {}}, headers={"X-API-Key": ...})

Both are ``httpx.ASGITransport`` around :func:`~airflow_provider_sim.emulator.app.create_app`. The
control endpoints work through the same client (``POST /_emulator/faults`` ...). A ``reset`` fault
raises :class:`httpx.RemoteProtocolError`, as a dropped connection does over TCP. A streamed answer
arrives whole once its run ends. The async transport runs the emulator on the caller's event loop;
the sync one on a private loop in a thread.
"""

from __future__ import annotations

import asyncio
import threading

import httpx

from airflow_provider_sim.emulator.app import create_app
from airflow_provider_sim.emulator.config import EmulatorConfig
from airflow_provider_sim.emulator.core import Emulator


class EmulatorAsyncTransport(httpx.ASGITransport):
    """Serve an ``httpx.AsyncClient`` from an emulator running on the caller's event loop.

    :param emulator: the emulator to serve; a new one from ``config`` (or defaults) when absent.
    """

    def __init__(self, emulator: Emulator | None = None, config: EmulatorConfig | None = None) -> None:
        self.emulator = emulator or Emulator(config or EmulatorConfig())
        super().__init__(app=create_app(self.emulator.config, self.emulator))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request from the app; a ``reset`` fault is the client's connection error."""
        try:
            return await super().handle_async_request(request)
        except ConnectionResetError:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    async def aclose(self) -> None:
        """Cancel the emulator's unfinished runs."""
        await self.emulator.shutdown()


class EmulatorTransport(httpx.BaseTransport):
    """Serve a sync ``httpx.Client`` from an emulator running on a private event loop thread.

    :param emulator: the emulator to serve; a new one from ``config`` (or defaults) when absent.
    """

    def __init__(self, emulator: Emulator | None = None, config: EmulatorConfig | None = None) -> None:
        self._inner = EmulatorAsyncTransport(emulator, config)
        self.emulator = self._inner.emulator
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-emulator-loop", daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request from the app (blocks until it answers)."""
        body = request.read()
        replayable = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        return asyncio.run_coroutine_threadsafe(self._answer(replayable), self._loop).result()

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())

    def close(self) -> None:
        """Cancel unfinished runs and stop the loop thread."""
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._inner.aclose(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
