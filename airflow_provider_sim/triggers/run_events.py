"""An event trigger for ``AssetWatcher``: schedule a DAG on "runs of Sim workflow X ended" (Airflow 3.0+).

::

    from airflow.sdk import DAG, Asset, AssetWatcher
    from airflow_provider_sim.triggers.run_events import SimRunEndedTrigger

    finished = Asset("sim://workflows/3f0c0a54-...", watchers=[
        AssetWatcher(name="sim_runs", trigger=SimRunEndedTrigger(workflow_id="3f0c0a54-..."))
    ])
    with DAG("on_sim_runs", schedule=[finished]): ...

It fires one event per run that ends, whoever started it (Sim's schedules, webhooks, chat, the API,
another Airflow); the Asset event's ``extra["payload"]`` is
:func:`~airflow_provider_sim.protocol.run_events.run_ended_payload`. It reads the run list of the
workflow (v2 only) through the triggerer's shared :class:`~airflow_provider_sim.hooks.run_feed.RunFeed`.

Where it was is kept in Airflow, not in its kwargs (fixed when the DAG is parsed): each list's ledger
state goes to the Asset's state store (Airflow 3.3, one watched Asset) or else to the Airflow Variable
``sim_run_events.<workflow>.<digest of the kwargs>``, :data:`SAVE_DELAY_SECONDS` after that list's
events left the trigger (the triggerer hands events to Airflow within about a second). A restarted
trigger reads it back: runs that ended while no triggerer ran are reported, runs reported before are
not. Only the runs reported in the last few seconds before a triggerer stopped are reported again:
Airflow tells a trigger nothing of whether its events were stored, and a run reported twice is
better than one never reported (the run id in the payload lets a DAG tell).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_sim.exceptions import SimConfigurationError, SimError
from airflow_provider_sim.protocol.build import check_workflow_id
from airflow_provider_sim.protocol.models import ApiVersion
from airflow_provider_sim.protocol.run_events import (
    ENDED_STATUSES,
    RunEventLedger,
    end_states,
    parse_instant,
    run_ended_payload,
)
from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_VERSION

if TYPE_CHECKING:
    from airflow_provider_sim.hooks.run_feed import Listing

if not AIRFLOW_V_3_0_PLUS:
    raise ImportError(
        "SimRunEndedTrigger needs Airflow 3.0 or later (event-driven scheduling: BaseEventTrigger and "
        f"AssetWatcher); this is Airflow {AIRFLOW_VERSION}. On Airflow 2 schedule the DAG on a "
        "SimJobSensor, or on a Dataset in SimExecuteWorkflowOperator's outlets."
    )

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

#: the key of the ledger's state in the Asset's state store (Airflow 3.3)
STATE_KEY = "sim_run_events"
#: every end state
DEFAULT_STATUSES = tuple(status.value for status in ENDED_STATUSES)
#: seconds after a list's events left the trigger before its state is stored: the triggerer hands
#: events to Airflow within about a second, and a stored state must not claim an event Airflow lost
SAVE_DELAY_SECONDS = 5.0
#: the shortest interval between two lists (each costs one call of Sim's ``workflows.runs.list``)
MIN_POLL_INTERVAL = 1.0
#: how late a run may first appear in Sim's list after its start, unless told otherwise
DEFAULT_LOOKBACK_SECONDS = 300.0
#: a day: a longer window would list a busy workflow's whole history every interval
MAX_LOOKBACK_SECONDS = 86_400.0


class SimRunEndedTrigger(BaseEventTrigger):
    """Fire once for every run of a Sim workflow that ends; see the module docstring.

    :param workflow_id: the Sim workflow whose runs are watched.
    :param sim_conn_id: the Airflow connection to Sim (its key never enters the kwargs).
    :param statuses: the end states that fire: some of ``completed``, ``failed``, ``cancelled``.
    :param poll_interval: seconds between two lists of the workflow's runs (at least 1; slower when
        Sim's quota for the list operation would not sustain it).
    :param lookback_seconds: how late a run may appear in Sim's list after its start (time in Sim's
        queue, clock skew); each list covers this much more, so a busy workflow costs more pages.
    :param since: an ISO 8601 instant: also report runs that started since then and ended before the
        trigger first ran. ``None`` (default): only runs that end once the trigger runs.
    """

    def __init__(
        self,
        *,
        workflow_id: str,
        sim_conn_id: str = "sim_default",
        statuses: list[str] | tuple[str, ...] = DEFAULT_STATUSES,
        poll_interval: float = 30.0,
        lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
        since: str | None = None,
    ) -> None:
        super().__init__()
        self.workflow_id = check_workflow_id(workflow_id)
        if not isinstance(sim_conn_id, str) or not sim_conn_id:
            raise SimConfigurationError(f"sim_conn_id must be a connection id string, got {sim_conn_id!r}.")
        self.sim_conn_id = sim_conn_id
        if isinstance(statuses, str) or not isinstance(statuses, list | tuple):
            raise SimConfigurationError(f"statuses must be a list of end states, got {statuses!r}.")
        try:
            self.statuses = end_states(statuses)
        except ValueError as err:
            raise SimConfigurationError(f"statuses: {err}.") from None
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or not poll_interval >= MIN_POLL_INTERVAL
        ):
            raise SimConfigurationError(
                f"poll_interval must be a number of seconds >= {MIN_POLL_INTERVAL:g}, got {poll_interval!r}."
            )
        self.poll_interval = float(poll_interval)
        if (
            isinstance(lookback_seconds, bool)
            or not isinstance(lookback_seconds, int | float)
            or not 0 <= lookback_seconds <= MAX_LOOKBACK_SECONDS
        ):
            raise SimConfigurationError(
                f"lookback_seconds must be 0 to {MAX_LOOKBACK_SECONDS:g} seconds, got {lookback_seconds!r}."
            )
        self.lookback_seconds = float(lookback_seconds)
        if since is not None and parse_instant(since) is None:
            raise SimConfigurationError(
                f"since must be an ISO 8601 instant such as '2026-08-06T00:00:00Z', got {since!r}."
            )
        self.since = since
        self._asset_store: Any | None = None
        json.dumps(self.serialize()[1])  # kwargs must stay JSON primitives; fail here, at parse time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath (derived from the class) and JSON-primitive kwargs."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workflow_id": self.workflow_id,
                "sim_conn_id": self.sim_conn_id,
                "statuses": [status.value for status in self.statuses],
                "poll_interval": self.poll_interval,
                "lookback_seconds": self.lookback_seconds,
                "since": self.since,
            },
        )

    @property
    def variable_key(self) -> str:
        """The Airflow Variable holding the state where no Asset state store serves (before 3.3)."""
        digest = hashlib.sha256(json.dumps(self.serialize(), sort_keys=True).encode()).hexdigest()[:16]
        return f"sim_run_events.{self.workflow_id}.{digest}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """List the workflow's runs every interval (through the shared feed); fire for each that ended."""
        from airflow_provider_sim.hooks.run_feed import RunFeed
        from airflow_provider_sim.hooks.sim_async import SimAsyncHook

        async with SimAsyncHook(self.sim_conn_id) as hook:
            settings = await hook.settings()
        if settings.api_version is not ApiVersion.V2:
            raise SimConfigurationError(
                f"SimRunEndedTrigger lists runs with Sim's v2 API; connection {self.sim_conn_id!r} uses "
                f"{settings.api_version.value} (set api_version: v2, and V2_API=true on a self-hosted Sim)."
            )
        stored = await self._load_state()
        lookback = timedelta(seconds=self.lookback_seconds)
        ledger = RunEventLedger.from_state(stored, self.statuses, lookback)
        if ledger is None:
            since = parse_instant(self.since) if self.since else None
            ledger = RunEventLedger.starting(datetime.now(UTC), self.statuses, since, lookback)
        saved: object = stored
        #: (when, state): each list's state, stored once Airflow has had time to store its events
        pending: deque[tuple[float, dict[str, Any]]] = deque()
        feed = RunFeed.for_settings(settings, self.workflow_id)
        subscription = feed.subscribe(ledger.since, self.poll_interval)
        try:
            while True:
                listing: Listing | None = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pending[0][0] - time.monotonic() if pending else None):
                        listing = await subscription.next_listing()
                due = [state for when, state in pending if when <= time.monotonic()]
                if due:
                    for _ in due:
                        pending.popleft()
                    if due[-1] != saved:
                        try:
                            await self._save_state(due[-1])
                            saved = due[-1]
                        except Exception as err:  # an older state only repeats events after a restart
                            self.log.warning("Storing where the trigger is failed (tried next list): %s", err)
                if listing is None or isinstance(listing, SimError):
                    continue  # a state was due; or the feed logged an error and lists again later
                for run in ledger.take(listing, datetime.now(UTC)):
                    self.log.info(
                        "Sim run %s of workflow %r %s", run.run_id, self.workflow_id, run.status.value
                    )
                    yield TriggerEvent(run_ended_payload(run))
                subscription.since = ledger.since
                pending.append((time.monotonic() + SAVE_DELAY_SECONDS, ledger.to_state()))
        finally:
            feed.unsubscribe(subscription)

    async def _load_state(self) -> object:
        store = getattr(self, "asset_state_store", None)  # Airflow 3.3 sets it before run()
        if store is not None:
            try:
                state = await store.aget(STATE_KEY)
            except ValueError:  # several Assets share this trigger: the store would not say whose
                self.log.info(
                    "Several Assets watch this trigger; its state goes to Variable %s", self.variable_key
                )
            else:
                self._asset_store = store
                return state
        from airflow.sdk import Variable
        from asgiref.sync import sync_to_async

        return await sync_to_async(Variable.get)(self.variable_key, default=None, deserialize_json=True)

    async def _save_state(self, state: dict[str, Any]) -> None:
        if self._asset_store is not None:
            await self._asset_store.aset(STATE_KEY, state)
            return
        from airflow.sdk import Variable
        from asgiref.sync import sync_to_async

        await sync_to_async(Variable.set)(self.variable_key, state, serialize_json=True)
