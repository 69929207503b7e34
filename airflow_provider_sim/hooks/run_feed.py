"""One run list per interval per workflow: every run-event trigger of a workflow in a triggerer shares it.

The listing counterpart of :mod:`airflow_provider_sim.hooks.run_watcher` (which waits for given
runs): a :class:`RunFeed` per event loop, Sim account and workflow lists the workflow's runs
(``GET /api/v2/workflows/{id}/runs``, every page, from the earliest start any subscriber needs)
once per interval and hands each complete list to every subscriber; what to report is each
subscriber's own business (:mod:`airflow_provider_sim.protocol.run_events`). Its calls go through
the account's budget (:func:`~airflow_provider_sim.protocol.quota.budget_for`), shared with the run
watcher, and it lists no faster than :func:`~airflow_provider_sim.protocol.run_events.list_pause`
allows (half the rate Sim's refill of the list operation sustains).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from airflow_provider_sim.exceptions import SimError
from airflow_provider_sim.hooks.run_watcher import NO_DEADLINE
from airflow_provider_sim.hooks.settings import SimSettings
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from airflow_provider_sim.protocol import flows
from airflow_provider_sim.protocol.models import SimRun
from airflow_provider_sim.protocol.quota import budget_for
from airflow_provider_sim.protocol.run_events import list_pause

log = logging.getLogger(__name__)

Listing = tuple[SimRun, ...] | SimError


@dataclass(eq=False)
class Subscription:
    """One subscriber's place in a feed: the earliest start it needs listed, its interval, its lists.

    :param since: move it on as the subscriber's window moves (the feed lists from the earliest one).
    """

    since: datetime
    interval: float
    listings: asyncio.Queue[Listing] = field(default_factory=asyncio.Queue)

    async def next_listing(self) -> Listing:
        """The next complete list of the workflow's runs since (at most) :attr:`since`, or the error
        that stopped it (the feed tries again after the interval)."""
        return await self.listings.get()


class RunFeed:
    """Lists one workflow's runs for every subscriber at once; see the module docstring.

    :param settings: the account (base URL, key, retry settings).
    :param workflow_id: the workflow whose runs are listed.
    """

    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], RunFeed]]]
    _shared = weakref.WeakKeyDictionary()

    def __init__(self, settings: SimSettings, workflow_id: str) -> None:
        self.settings = settings
        self.workflow_id = workflow_id
        self.subscriptions: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        #: list pages requested, for logs and tests
        self.pages = 0

    @classmethod
    def for_settings(cls, settings: SimSettings, workflow_id: str) -> RunFeed:
        """The feed of this event loop for ``workflow_id`` on ``settings``' account."""
        of_loop = cls._shared.setdefault(asyncio.get_running_loop(), {})
        key = (settings.base_url, hashlib.sha256(settings.api_key.encode()).hexdigest(), workflow_id)
        feed = of_loop.get(key)
        if feed is None:
            feed = of_loop[key] = cls(settings, workflow_id)
        return feed

    def subscribe(self, since: datetime, interval: float) -> Subscription:
        """Join the feed; the first list comes at once for a new feed, else with the feed's next one."""
        subscription = Subscription(since, interval)
        self.subscriptions.append(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"sim-run-feed-{self.workflow_id}", context=contextvars.Context()
            )
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Leave the feed; the last one to leave stops it."""
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)
        if not self.subscriptions and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        async with SimAsyncHook.for_settings(self.settings) as hook:
            while self.subscriptions:
                listing: Listing
                pages_before = self.pages
                try:
                    listing = await self._list(hook, min(s.since for s in self.subscriptions))
                except Exception as err:  # never let the feed die under its subscribers: try again
                    log.warning("Listing the runs of Sim workflow %r failed: %s", self.workflow_id, err)
                    listing = err if isinstance(err, SimError) else SimError(f"{type(err).__name__}: {err}")
                for subscription in self.subscriptions:
                    subscription.listings.put_nowait(listing)
                await asyncio.sleep(self._pause(max(1, self.pages - pages_before)))

    async def _list(self, hook: SimAsyncHook, since: datetime) -> tuple[SimRun, ...]:
        runs: list[SimRun] = []
        cursor: str | None = None
        while True:
            self.pages += 1
            page = await hook._drive(
                flows.list_runs(self.workflow_id, start_date=since, cursor=cursor), NO_DEADLINE
            )
            runs += page.runs
            cursor = page.next_cursor
            if cursor is None:
                return tuple(runs)

    def _pause(self, pages: int) -> float:
        interval = min(s.interval for s in self.subscriptions) if self.subscriptions else 0.0
        budget = budget_for(self.settings.base_url, self.settings.api_key)
        return list_pause(interval, pages, budget.refill_gap("workflows.runs.list"))
