"""The synchronous Sim hook: a thin ``requests`` driver around the protocol's flows."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import requests
from airflow.providers.common.compat.sdk import AirflowNotFoundException, mask_secret
from tenacity import Retrying

from airflow_provider_sim import connection_form
from airflow_provider_sim.exceptions import (
    SimAuthError,
    SimConfigurationError,
    SimConnectionError,
    SimError,
    SimNotFoundError,
    SimV2DisabledError,
)
from airflow_provider_sim.hooks.base import SimBaseHook, in_flight, settle_answer
from airflow_provider_sim.hooks.requests_errors import requests_connection_error
from airflow_provider_sim.hooks.settings import (
    SimSettings,
    ca_bundle_from_environment,
    missing_connection,
    proxies_from_environment,
    settings_from_connection,
)
from airflow_provider_sim.hooks.stream import stream_frames
from airflow_provider_sim.protocol import flows
from airflow_provider_sim.protocol.build import ExecuteMode, check_run_id, new_run_id
from airflow_provider_sim.protocol.models import (
    ApiVersion,
    CancelResult,
    DeploymentStatus,
    HttpResponse,
    RateLimitInfo,
    RequestSpec,
    RunPage,
    SimRun,
    Sleep,
    StreamFrame,
    UsageLimits,
    WorkflowInfo,
)
from airflow_provider_sim.protocol.paused import PausedExecution, get_paused
from airflow_provider_sim.protocol.quota import RequestBudget, budget_for, parse_rate_limit
from airflow_provider_sim.retry import (
    Deadline,
    RetrySettings,
    budget_hold,
    call_deadline,
    retry_policy,
    wait_deadline,
)

T = TypeVar("T")
CONNECT_TIMEOUT_SECONDS = 10.0
#: a workflow id no one has: the Test button's v2 probe expects Sim's 404 for it
V2_PROBE_WORKFLOW = "airflow-connection-test"


class SimHook(SimBaseHook):
    """Talk to Sim's HTTP API through an Airflow connection of type ``sim``.

    The connection holds the API key (password, masked), the base URL (host, default
    ``https://www.sim.ai``) and optional extras: ``api_version`` (``v2`` default, ``v1`` for older
    self-hosted Sim), ``timeout``, ``sync_timeout``, ``max_retries``, ``retry_initial_delay``,
    ``retry_max_delay``. Arguments given here win over the connection's extras.

    Every execute names its run with a client-chosen id, so rate limits, capacity answers and
    connection errors are retried (with backoff that honours ``Retry-After``) without ever starting
    a second run. Results are typed (:class:`~airflow_provider_sim.protocol.SimRun` ...); errors
    are :mod:`airflow_provider_sim.exceptions`.

    Arguments (connection id and overrides of the connection's extras) as
    :class:`~airflow_provider_sim.hooks.base.SimBaseHook`.
    """

    #: the rate-limit headers of the latest answer that had any
    last_rate_limit: RateLimitInfo | None = None

    # -- connection form (Airflow < 3.2; newer versions read get_provider_info) -------------------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form."""
        return connection_form.connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and pre-filled standard fields of the connection form."""
        return connection_form.FIELD_BEHAVIOUR

    # -- driver ------------------------------------------------------------------------------------
    @cached_property
    def settings(self) -> SimSettings:
        """The checked connection settings (read once per hook)."""
        try:
            conn = self.get_connection(self.sim_conn_id)
        except AirflowNotFoundException as err:
            raise missing_connection(self.sim_conn_id) from err
        settings = settings_from_connection(conn).with_overrides(**self._overrides)
        mask_secret(settings.api_key)
        return settings

    def get_conn(self) -> requests.Session:
        """The ``requests.Session`` every call of this hook goes through."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(self.settings.headers)
        # The environment (proxies, CA bundle) is read once here, not by requests on every call;
        # ~/.netrc is never consulted: Sim authenticates with the API key header alone.
        session.trust_env = False
        session.proxies.update(proxies_from_environment(self.settings.base_url))
        session.verify = ca_bundle_from_environment() or True
        return session

    def _send_once(self, spec: RequestSpec, attempt: int) -> HttpResponse:
        settings = self.settings
        try:
            raw = self._session.request(
                spec.method,
                settings.base_url + spec.path,
                params=dict(spec.params) or None,
                headers=dict(spec.headers) or None,
                data=spec.body,
                timeout=(CONNECT_TIMEOUT_SECONDS, spec.read_timeout or settings.timeout),
                allow_redirects=False,
                stream=spec.stream,
            )
        except requests.RequestException as err:
            raise requests_connection_error(spec, settings.base_url, err) from err
        streamed = spec.stream and 200 <= raw.status_code < 300
        response = HttpResponse(
            raw.status_code, raw.headers, b"" if streamed else raw.content, attempt, raw if streamed else None
        )
        return response

    @cached_property
    def _budget(self) -> RequestBudget:
        return budget_for(self.settings.base_url, self.settings.api_key)

    def _send(
        self, spec: RequestSpec, retry: RetrySettings | None = None, deadline: Deadline | None = None
    ) -> HttpResponse:
        retry = retry or self.settings.retry
        deadline = deadline or call_deadline(retry)
        for attempt in Retrying(**retry_policy(retry, spec, self.log, deadline)):
            with attempt:
                while hold := budget_hold(self._budget, spec, deadline):
                    time.sleep(hold)
                with in_flight(self._budget, spec):
                    response = self._send_once(spec, attempt.retry_state.attempt_number)
                info = parse_rate_limit(response.headers)
                self.last_rate_limit = info or self.last_rate_limit
                settle_answer(self._budget, spec, response, info)
                return response
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _drive(
        self, flow: flows.Flow[T], retry: RetrySettings | None = None, deadline: Deadline | None = None
    ) -> T:
        """Run a protocol flow: send what it yields, sleep when it asks, return what it returns.

        :param deadline: bounds every request of the flow; by default each request's own
            (:func:`~airflow_provider_sim.retry.call_deadline`).
        """
        reply: Any = None
        error: SimError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            try:
                reply = self._send(step, retry, deadline)
            except SimError as err:
                error = err

    # -- the API -----------------------------------------------------------------------------------
    def execute_workflow(
        self,
        workflow_id: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        async_execution: bool = False,
        selected_outputs: Sequence[str] | None = None,
        execution_timeout_seconds: int | None = None,
    ) -> SimRun:
        """Run a workflow, synchronously (the finished run) or async (the queued run, poll it).

        A failed or cancelled run is returned, not raised: check ``run.status`` or call
        ``run.raise_for_status()``.

        :param workflow_id: the workflow's id (from its URL in Sim).
        :param input: a dict (the workflow input as-is) or any JSON value (sent as ``{"input": value}``);
            file objects inside become Sim's base64 file values.
        :param run_id: the client-chosen id of the run; made up when not given. Reusing an id raises
            :class:`~airflow_provider_sim.exceptions.SimConflictError` and never starts a run.
        :param async_execution: queue the run and return at once (``run.status`` is ``queued``).
        :param selected_outputs: block outputs to return, e.g. ``["agent1.content"]``.
        :param execution_timeout_seconds: Sim's cap for an async run (1-604800 seconds).
        :raises SimConfigurationError: bad arguments, before anything is sent.
        :raises SimApiError: Sim refused the run (401/402/403/404/409/...); no run exists.
        """
        mode: ExecuteMode = "async" if async_execution else "sync"
        return self._drive(
            self._execute_flow(workflow_id, input, run_id, mode, selected_outputs, execution_timeout_seconds)
        )

    def _execute_flow(
        self,
        workflow_id: str,
        input: Any,
        run_id: str | None,
        mode: ExecuteMode,
        selected_outputs: Sequence[str] | None,
        execution_timeout_seconds: int | None,
    ) -> flows.Flow[SimRun]:
        settings = self.settings
        return flows.execute(
            settings.api_version,
            workflow_id,
            input,
            run_id=check_run_id(run_id) if run_id is not None else new_run_id(),
            mode=mode,
            selected_outputs=selected_outputs,
            execution_timeout_seconds=execution_timeout_seconds,
            sync_timeout=settings.sync_timeout,
        )

    def stream_workflow(
        self,
        workflow_id: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        selected_outputs: Sequence[str] | None = None,
    ) -> Iterator[StreamFrame]:
        """Run a workflow and yield its Server-Sent Events as they arrive.

        Frames: ``chunk`` (``block_id``, ``chunk``), ``stream_error`` (not terminal), then ``final``
        (``output``) or ``error``, then ``done``. If the stream cannot be opened because an earlier
        attempt already started the run, the run is awaited and one ``final``/``error`` frame is
        yielded from its result.

        :raises SimConfigurationError: a malformed ``run_id``, at the call (nothing is sent).
        """
        run_id = check_run_id(run_id) if run_id is not None else new_run_id()
        return stream_frames(self, workflow_id, input, run_id, selected_outputs)

    def get_run(
        self,
        workflow_id: str,
        run_id: str,
        *,
        job_id: str | None = None,
        include_output: bool = True,
        selected_outputs: Sequence[str] | None = None,
    ) -> SimRun:
        """Read a run's status (and output once completed): v2 run, v1 execution, or v1 job if ``job_id``."""
        flow = flows.get_run(
            self.settings.api_version,
            workflow_id,
            run_id,
            job_id=job_id,
            include_output=include_output,
            selected_outputs=selected_outputs,
        )
        return self._drive(flow)

    def list_runs(
        self, workflow_id: str, *, start_date: datetime | None = None, cursor: str | None = None
    ) -> RunPage:
        """One page of the workflow's runs started at or after ``start_date``, oldest first (v2
        servers only): summaries without output; pass ``next_cursor`` back for the next page."""
        return self._drive(flows.list_runs(workflow_id, start_date=start_date, cursor=cursor))

    def get_job(self, job_id: str) -> SimRun:
        """Read a legacy async job (``/api/jobs/{job_id}``), whatever the connection's API version."""
        return self._drive(flows.get_run(self.settings.api_version, "", job_id, job_id=job_id))

    def wait_for_run(
        self,
        workflow_id: str,
        run_id: str,
        *,
        job_id: str | None = None,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        return_on_pause: bool = True,
        max_poll_interval: float | None = None,
    ) -> SimRun:
        """Poll until the run is terminal (or paused, with ``return_on_pause``); see :meth:`get_run`.

        The wait goes through the process's shared run watcher (one list call per look covers
        every run this process waits for on the account). Calls are paced to Sim's announced
        budget and a long run is looked at less often
        (:func:`~airflow_provider_sim.protocol.quota.poll_delay`); a 429 moves the next read, it is
        not a failure. The wait ends at ``timeout`` or the task's deadline
        (:func:`~airflow_provider_sim.retry.deadline`), whichever comes first; without either it
        waits as long as the run takes.

        :param max_poll_interval: the longest pause between two reads of a long run (default 60 s).
        :raises SimWaitTimeoutError: still running at the deadline (the run goes on).
        """
        from airflow_provider_sim.hooks.run_watcher import wait_in_process

        started = time.monotonic()
        return wait_in_process(
            self.settings,
            workflow_id,
            run_id,
            deadline=wait_deadline(timeout),
            job_id=job_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            return_on_pause=return_on_pause,
            on_status=lambda run: self.log.info(
                "Sim run %s is %s after %.1f s", run.run_id, run.status.value, time.monotonic() - started
            ),
        )

    def cancel_run(self, workflow_id: str, run_id: str) -> CancelResult:
        """Cancel a run; a run that already finished is reported (``cancelled=False``), not raised."""
        return self._drive(flows.cancel(self.settings.api_version, workflow_id, run_id))

    def resume_run(self, workflow_id: str, run_id: str, context_id: str, input: Any = None) -> SimRun:
        """Answer a run paused for human input; keep polling ``run_id`` (the original) afterwards."""
        return self._drive(flows.resume(self.settings.api_version, workflow_id, run_id, context_id, input))

    def get_paused_execution(self, workflow_id: str, run_id: str) -> PausedExecution:
        """What each pause of a run shows and asks (Sim's paused-execution detail, either API
        generation): the pause points with the Human in the Loop block's display data and form.

        :raises SimNotFoundError: the run never paused (or this Sim has no such endpoint).
        """
        return self._drive(get_paused(workflow_id, run_id))

    def get_deployment_status(self, workflow_id: str) -> DeploymentStatus:
        """Whether the workflow is deployed (only deployed workflows run with an API key)."""
        return self._drive(flows.deployment_status(workflow_id))

    def validate_workflow(self, workflow_id: str) -> bool:
        """True if the workflow exists and is deployed; errors other than 404 are raised."""
        try:
            return self.get_deployment_status(workflow_id).is_deployed
        except SimNotFoundError:
            return False

    def get_workflow(self, workflow_id: str) -> WorkflowInfo:
        """Name and workspace of a workflow (v2 servers)."""
        return self._drive(flows.get_workflow(workflow_id))

    def get_usage_limits(self) -> UsageLimits:
        """Rate-limit buckets, spend and plan of the key's account."""
        return self._drive(flows.usage_limits())

    def get_rate_limit_info(self) -> RateLimitInfo | None:
        """The rate-limit headers of the latest answer that had any (``None`` before the first)."""
        return self.last_rate_limit

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: one cheap authenticated call, and a message that names the problem."""
        try:
            base_url = self.settings.base_url
            no_retry = RetrySettings(max_retries=0)  # the Test button wants an answer, not a backoff
            at_once = Deadline(time.time() + 5, "the Test button")
            limits = self._drive(flows.usage_limits(), no_retry, at_once)
        except SimConfigurationError as err:
            return False, str(err)
        except SimAuthError as err:
            return False, f"Sim rejected the API key: {err}"
        except SimConnectionError as err:
            return False, f"Could not reach Sim at {base_url}: {err}"
        except SimError as err:
            return False, f"{base_url} does not answer like a Sim server: {err}"
        plan = f" (plan {limits.plan})" if limits.plan else ""
        if self.settings.api_version is ApiVersion.V2:
            try:  # usage-limits is not under /api/v2: ask v2 itself whether it is switched on
                self._drive(flows.get_workflow(V2_PROBE_WORKFLOW), no_retry, at_once)
            except SimV2DisabledError as err:
                return False, f"Connected to Sim at {base_url}{plan}, but not to its v2 API: {err}"
            except SimError:
                pass  # v2 answered (no such workflow, or a limit): it is there
        return True, f"Connected to Sim at {base_url}{plan}."
