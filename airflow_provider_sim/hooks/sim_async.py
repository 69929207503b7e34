"""The async Sim hook for triggers: an ``aiohttp`` driver around the same protocol flows.

It reads the connection with Airflow's async-safe lookup (``get_async_connection`` from
common-compat) and never touches the sync connection API or the database from the event loop.
Use it as ``async with SimAsyncHook(conn_id) as hook:`` so one session (and its kept-alive
connection) lives as long as the trigger.

Why aiohttp: a triggerer polls for every deferred task it holds, so the per-request cost of the
client is the cost of a wait. Measured against the emulator (``bench/``), a status read costs
~0.1 ms of CPU with aiohttp and ~0.5 ms with httpx, whose URL and header models are pure Python.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from functools import cache
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import certifi
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from tenacity import AsyncRetrying

from airflow_provider_sim.exceptions import SimError
from airflow_provider_sim.hooks.base import SimBaseHook, in_flight, settle_answer
from airflow_provider_sim.hooks.settings import (
    SimSettings,
    ca_bundle_from_environment,
    missing_connection,
    proxies_from_environment,
    settings_from_connection,
)
from airflow_provider_sim.protocol import flows
from airflow_provider_sim.protocol.build import check_run_id
from airflow_provider_sim.protocol.models import CancelResult, HttpResponse, RequestSpec, SimRun, Sleep
from airflow_provider_sim.protocol.parse import connection_error
from airflow_provider_sim.protocol.paused import PausedExecution, get_paused
from airflow_provider_sim.protocol.quota import budget_for, parse_rate_limit
from airflow_provider_sim.retry import Deadline, budget_hold, call_deadline, retry_policy, wait_deadline

T = TypeVar("T")
CONNECT_TIMEOUT_SECONDS = 10.0
#: longer than any sensible poll interval, so a trigger's next poll reuses its connection
KEEPALIVE_SECONDS = 75.0
#: errors raised before anything was sent: a resend cannot run anything twice
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


@cache
def _shared_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One TLS context per CA bundle for every session in the process: building one loads the bundle
    (~20 ms of CPU and ~1 MB each), which a triggerer running a thousand Sim triggers must not pay
    per trigger. The bundle is certifi's unless ``REQUESTS_CA_BUNDLE`` names another, as for the
    sync hook (requests)."""
    return ssl.create_default_context(cafile=ca_bundle or certifi.where())


class SimAsyncHook(SimBaseHook):
    """Async access to the Sim runs a trigger waits for.

    Arguments (connection id and overrides of the connection's extras) as :class:`SimBaseHook`.
    The API key is read here, in the triggerer, and never passed through trigger arguments.
    """

    # per instance once set; made when first needed
    _settings: SimSettings | None = None
    _session: aiohttp.ClientSession | None = None
    _proxy: str | None = None

    @classmethod
    def for_settings(cls, settings: SimSettings) -> SimAsyncHook:
        """A hook on settings already read (the run watcher's: it serves many triggers' connections)."""
        hook = cls(settings.conn_id)
        hook._settings = settings
        return hook

    async def __aenter__(self) -> SimAsyncHook:
        await self.settings()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session and its connection (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def settings(self) -> SimSettings:
        """The checked connection settings, looked up once with the async-safe connection API."""
        if self._settings is None:
            try:
                conn = await get_async_connection(self.sim_conn_id, hook=self)
            except AirflowNotFoundException as err:
                raise missing_connection(self.sim_conn_id) from err
            self._settings = settings_from_connection(conn).with_overrides(**self._overrides)
        return self._settings

    def _session_for(self, settings: SimSettings) -> aiohttp.ClientSession:
        if self._session is None:
            # The proxy environment variables are read once, with the sync hook's rules (requests'),
            # instead of aiohttp's trust_env, which reads them and ~/.netrc in a thread on every request.
            from requests.utils import select_proxy

            self._proxy = select_proxy(settings.base_url, proxies_from_environment(settings.base_url))
            self._session = aiohttp.ClientSession(
                headers=settings.headers,
                connector=aiohttp.TCPConnector(
                    ssl=_shared_ssl_context(ca_bundle_from_environment()), keepalive_timeout=KEEPALIVE_SECONDS
                ),
                cookie_jar=aiohttp.DummyCookieJar(),  # Sim's API is stateless; keep no cookies
            )
        return self._session

    async def _send_once(self, spec: RequestSpec, attempt: int) -> HttpResponse:
        settings = await self.settings()
        session = self._session_for(settings)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT_SECONDS, sock_read=spec.read_timeout or settings.timeout
        )
        try:
            async with session.request(
                spec.method,
                settings.base_url + spec.path,
                params=dict(spec.params) or None,
                headers=dict(spec.headers) or None,
                data=spec.body,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy,
            ) as raw:
                response = HttpResponse(raw.status, raw.headers, await raw.read(), attempt)
        except (TimeoutError, aiohttp.ClientError) as err:
            raise connection_error(
                spec,
                settings.base_url,
                err,
                not_sent=isinstance(err, _NOT_SENT),
                timed_out=isinstance(err, TimeoutError),
            ) from err
        return response

    async def _send(
        self, spec: RequestSpec, deadline: Deadline | None = None, *, wait_for_turn: bool = True
    ) -> HttpResponse:
        settings = await self.settings()
        deadline = deadline or call_deadline(settings.retry)
        budget = budget_for(settings.base_url, settings.api_key)
        policy = retry_policy(settings.retry, spec, self.log, deadline, wait_for_turn=wait_for_turn)
        async for attempt in AsyncRetrying(**policy):
            with attempt:
                while hold := budget_hold(budget, spec, deadline):
                    await asyncio.sleep(hold)
                with in_flight(budget, spec):
                    response = await self._send_once(spec, attempt.retry_state.attempt_number)
                settle_answer(budget, spec, response, parse_rate_limit(response.headers))
                return response
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _drive(
        self, flow: flows.Flow[T], deadline: Deadline | None = None, *, wait_for_turn: bool = True
    ) -> T:
        """Run a protocol flow: the async twin of ``SimHook._drive`` (``wait_for_turn``: see
        :func:`~airflow_provider_sim.retry.retry_policy`)."""
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
                reply = await self._send(step, deadline, wait_for_turn=wait_for_turn)
            except SimError as err:
                error = err

    async def execute_workflow(
        self,
        workflow_id: str,
        input: Any = None,
        *,
        run_id: str,
        selected_outputs: Sequence[str] | None = None,
        execution_timeout_seconds: int | None = None,
        deadline: Deadline | None = None,
        wait_for_turn: bool = True,
    ) -> SimRun:
        """Start an async run named ``run_id`` and return it queued; see ``SimHook.execute_workflow``.

        :param deadline: how long rate limits may hold the call (default: the task's, else the
            hook's bound for one call).
        :param wait_for_turn: ``False`` raises Sim's 429 for the account's runs in flight at once
            instead of retrying it (for a caller that queues starts itself).
        """
        settings = await self.settings()
        flow = flows.execute(
            settings.api_version,
            workflow_id,
            input,
            run_id=check_run_id(run_id),
            mode="async",
            selected_outputs=selected_outputs,
            execution_timeout_seconds=execution_timeout_seconds,
            sync_timeout=settings.sync_timeout,
        )
        return await self._drive(flow, deadline, wait_for_turn=wait_for_turn)

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

    async def wait_for_run(
        self,
        workflow_id: str,
        run_id: str,
        *,
        job_id: str | None = None,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        return_on_pause: bool = True,
        first_wait: float | None = None,
        on_status: Callable[[SimRun, float], None] | None = None,
        max_poll_interval: float | None = None,
    ) -> SimRun:
        """Poll until the run is terminal (or paused, with ``return_on_pause``); see ``SimHook.wait_for_run``.

        :param first_wait: seconds before the second read, if not ``poll_interval``.
        :param on_status: called with the run and the elapsed seconds when its status changes.
        :raises SimWaitTimeoutError: still running after ``timeout`` seconds (the run goes on).
        """
        settings = await self.settings()
        limit = wait_deadline(timeout)
        flow = flows.wait_for_run(
            settings.api_version,
            workflow_id,
            run_id,
            job_id=job_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=None if limit.at is None else limit.left(),
            return_on_pause=return_on_pause,
            on_status=on_status,
            first_wait=first_wait,
        )
        return await self._drive(flow, limit)

    async def cancel_run(self, workflow_id: str, run_id: str) -> CancelResult:
        """Cancel a run; a run that already finished is reported, not raised; see ``SimHook.cancel_run``."""
        settings = await self.settings()
        return await self._drive(flows.cancel(settings.api_version, workflow_id, run_id))

    async def get_paused_execution(self, workflow_id: str, run_id: str) -> PausedExecution:
        """What each pause of a run shows and asks; see ``SimHook.get_paused_execution``."""
        return await self._drive(get_paused(workflow_id, run_id))
