"""The async Sim hook for triggers: an ``httpx.AsyncClient`` driver around the same protocol flows.

It reads the connection with Airflow's async-safe lookup (``get_async_connection`` from
common-compat) and never touches the sync connection API or the database from the event loop.
Use it as ``async with SimAsyncHook(conn_id) as hook:`` so one client lives as long as the trigger.
The clients of all hooks on one event loop share one connection pool (see :class:`_LoopPool`).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
import weakref
from collections.abc import Sequence
from functools import cache
from types import TracebackType
from typing import Any, TypeVar

import httpx
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook
from tenacity import AsyncRetrying

from airflow_provider_sim import connection_form
from airflow_provider_sim.exceptions import SimConnectionError, SimError
from airflow_provider_sim.hooks.settings import (
    SimSettings,
    hook_overrides,
    missing_connection,
    settings_from_connection,
)
from airflow_provider_sim.protocol import flows
from airflow_provider_sim.protocol.models import CancelResult, HttpResponse, RequestSpec, SimRun, Sleep
from airflow_provider_sim.protocol.parse import raise_for_response
from airflow_provider_sim.retry import retry_policy

T = TypeVar("T")
CONNECT_TIMEOUT_SECONDS = 10.0
#: idle connections the shared pool keeps per event loop (open ones are not capped, as before)
KEEPALIVE_CONNECTIONS = 64


@cache
def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client in the process: building one loads the CA bundle (~20 ms of
    CPU and ~1 MB each), which a triggerer running a thousand Sim triggers must not pay per trigger."""
    return httpx.create_ssl_context()


class _LoopPool(httpx.AsyncBaseTransport):
    """The connection pool every SimAsyncHook on one event loop shares (the triggerer has one loop).

    With a client and a pool per trigger, a thousand triggers hold a thousand idle sockets, and a
    poll interval as long as the keep-alive expiry (5 s) makes every poll open a new connection (on
    https, a new TLS handshake). Shared, the few connections stay busy and are reused. Only sockets
    are shared: each hook's client keeps its own base URL, headers (API key) and cookies. The last
    client to close closes the pool.
    """

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self._transport = httpx.AsyncHTTPTransport(
            verify=_shared_ssl_context(),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE_CONNECTIONS),
        )
        self.users = 0

    @classmethod
    def acquire(cls) -> _LoopPool:
        """The running loop's pool (made on first use), counted as used by one more client."""
        loop = asyncio.get_running_loop()
        pool = cls._by_loop.get(loop)
        if pool is None:
            pool = cls._by_loop[loop] = cls()
        pool.users += 1
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        """Called by each client's ``aclose``: one user fewer; the last one closes the sockets."""
        self.users -= 1
        if self.users > 0:
            return
        loop = asyncio.get_running_loop()
        if self._by_loop.get(loop) is self:
            del self._by_loop[loop]
        await self._transport.aclose()


class SimAsyncHook(BaseHook):
    """Async access to the Sim runs a trigger waits for.

    :param sim_conn_id: the Airflow connection id (``sim`` type); the key is read here, in the
        triggerer, and never passed through trigger arguments.
    :param api_version: ``"v2"`` or ``"v1"``; overrides the connection.
    :param timeout: seconds an ordinary API call may take; overrides the connection.
    :param sync_timeout: seconds a synchronous execute may wait; overrides the connection.
    :param max_retries: retries after the first attempt (0 = none); overrides the connection.
    :param retry_initial_delay: first backoff wait in seconds; overrides the connection.
    :param retry_max_delay: longest backoff wait in seconds; overrides the connection.
    """

    conn_name_attr = "sim_conn_id"
    default_conn_name = connection_form.DEFAULT_CONN_ID
    conn_type = connection_form.CONN_TYPE
    hook_name = connection_form.HOOK_NAME

    def __init__(
        self,
        sim_conn_id: str = connection_form.DEFAULT_CONN_ID,
        *,
        api_version: str | None = None,
        timeout: float | None = None,
        sync_timeout: float | None = None,
        max_retries: int | None = None,
        retry_initial_delay: float | None = None,
        retry_max_delay: float | None = None,
    ) -> None:
        super().__init__()
        self.sim_conn_id = sim_conn_id
        self._overrides = hook_overrides(
            api_version=api_version,
            timeout=timeout,
            sync_timeout=sync_timeout,
            max_retries=max_retries,
            retry_initial_delay=retry_initial_delay,
            retry_max_delay=retry_max_delay,
        )
        self._settings: SimSettings | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> SimAsyncHook:
        await self.settings()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def settings(self) -> SimSettings:
        """The checked connection settings, looked up once with the async-safe connection API."""
        if self._settings is None:
            try:
                conn = await get_async_connection(self.sim_conn_id, hook=self)
            except AirflowNotFoundException as err:
                raise missing_connection(self.sim_conn_id) from err
            self._settings = settings_from_connection(conn).with_overrides(**self._overrides)
        return self._settings

    async def _client_for(self, settings: SimSettings) -> httpx.AsyncClient:
        if self._client is None:
            # httpx ignores proxy environment variables for a client given a transport: a triggerer
            # behind a proxy keeps a client of its own per hook, which honours them
            shared = None if urllib.request.getproxies() else _LoopPool.acquire()
            self._client = httpx.AsyncClient(
                base_url=settings.base_url,
                headers=settings.headers,
                timeout=httpx.Timeout(settings.timeout, connect=CONNECT_TIMEOUT_SECONDS),
                follow_redirects=False,
                verify=_shared_ssl_context(),
                transport=shared,
            )
        return self._client

    async def _send_once(self, spec: RequestSpec, attempt: int) -> HttpResponse:
        settings = await self.settings()
        client = await self._client_for(settings)
        timeout = httpx.Timeout(spec.read_timeout or settings.timeout, connect=CONNECT_TIMEOUT_SECONDS)
        try:
            raw = await client.request(
                spec.method,
                spec.path,
                params=dict(spec.params) or None,
                headers=dict(spec.headers) or None,
                json=spec.json_body,
                timeout=timeout,
            )
        except httpx.HTTPError as err:
            not_sent = isinstance(err, httpx.ConnectError | httpx.ConnectTimeout)
            what = (
                "could not connect" if not_sent else "the connection broke or timed out before Sim answered"
            )
            raise SimConnectionError(
                f"Sim {spec.method} {settings.base_url}{spec.path}: {what} ({type(err).__name__})",
                outcome_unknown=not not_sent,
                code="TIMEOUT" if isinstance(err, httpx.TimeoutException) else None,
            ) from err
        response = HttpResponse(raw.status_code, raw.headers, raw.content, attempt)
        raise_for_response(spec, response)
        return response

    async def _send(self, spec: RequestSpec) -> HttpResponse:
        settings = await self.settings()
        async for attempt in AsyncRetrying(**retry_policy(settings.retry, spec, self.log)):
            with attempt:
                return await self._send_once(spec, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _drive(self, flow: flows.Flow[T]) -> T:
        """Run a protocol flow: the async twin of ``SimHook._drive``."""
        reply: Any = None
        error: SimError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                continue
            try:
                reply = await self._send(step)
            except SimError as err:
                error = err

    async def get_run(
        self,
        workflow_id: str,
        run_id: str,
        *,
        job_id: str | None = None,
        include_output: bool = True,
        selected_outputs: Sequence[str] | None = None,
    ) -> SimRun:
        """Read a run's status (and output once completed); see ``SimHook.get_run``."""
        settings = await self.settings()
        flow = flows.get_run(
            settings.api_version,
            workflow_id,
            run_id,
            job_id=job_id,
            include_output=include_output,
            selected_outputs=selected_outputs,
        )
        return await self._drive(flow)

    async def cancel_run(self, workflow_id: str, run_id: str) -> CancelResult:
        """Cancel a run; a run that already finished is reported, not raised; see ``SimHook.cancel_run``."""
        settings = await self.settings()
        return await self._drive(flows.cancel(settings.api_version, workflow_id, run_id))
