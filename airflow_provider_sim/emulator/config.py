"""Emulator settings: what the command line sets and ``POST /_emulator/settings`` can change later."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_API_KEY = "sk-sim-emulator"
API_KEY_ENV_VAR = "SIM_EMULATOR_API_KEY"
DEFAULT_HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024
#: the one line the server prints once it accepts connections, followed by its base URL
READY_PREFIX = "Sim emulator listening on "
MAX_EXECUTION_TIMEOUT_SECONDS = 604_800
#: ``database``: Sim's web process runs async runs at once; ``external``: they wait in trigger.dev
AsyncQueue = Literal["database", "external"]
ASYNC_QUEUES: tuple[str, ...] = get_args(AsyncQueue)
#: Sim's own switch for the v2 API (its ``v2-api`` flag falls back to it); ``true`` or ``1`` is on
V2_API_ENV_VAR = "V2_API"


def v2_api_from_env() -> bool:
    """True if ``$V2_API`` switches v2 on, read as Sim reads it (``true`` or ``1``)."""
    value = os.environ.get(V2_API_ENV_VAR, "")
    return value.lower() == "true" or value == "1"


def default_api_key() -> str:
    """Return the API key to use when none is given: ``$SIM_EMULATOR_API_KEY`` or ``sk-sim-emulator``."""
    return os.environ.get(API_KEY_ENV_VAR) or DEFAULT_API_KEY


@dataclass(frozen=True)
class PlanLimits:
    """One sim.ai plan's counters.

    From Sim's ``lib/core/rate-limiter/types.ts`` and ``lib/billing/concurrency-defaults.ts``.

    :param sync: sync executions per minute.
    :param async_: async executions per minute.
    :param api: calls per minute to each metered v2 operation (the plan's ``apiEndpoint`` counter).
    :param in_flight: executions queued or running at once per billing account.
    """

    sync: int
    async_: int
    api: int
    in_flight: int


PlanName = Literal["free", "pro", "team", "enterprise"]
#: Sim's numbers per plan; ``EmulatorSettings.plan`` applies them
PLANS: dict[PlanName, PlanLimits] = {
    "free": PlanLimits(sync=50, async_=200, api=30, in_flight=10),
    "pro": PlanLimits(sync=150, async_=1000, api=100, in_flight=50),
    "team": PlanLimits(sync=300, async_=2500, api=200, in_flight=200),
    "enterprise": PlanLimits(sync=600, async_=5000, api=500, in_flight=1000),
}
#: every bucket's rate and capacity setting (``None``: unlimited, or 2 x the rate for a capacity)
OPTIONAL_RATES = (
    "rate_limit_sync",
    "rate_limit_async",
    "rate_limit_burst",
    "rate_limit_api",
    "rate_limit_api_burst",
    "rate_limit_ip",
    "rate_limit_ip_burst",
)
#: the settings a plan sets (``plan: null`` sets them back to self-hosted: no limits, 2x bursts)
PLAN_SETTINGS = (
    "rate_limit_sync",
    "rate_limit_async",
    "rate_limit_burst",
    "rate_limit_api",
    "rate_limit_api_burst",
    "max_runs_in_flight",
)


#: a rate, capacity or duration: a positive number (``int`` stays ``int``)
Rate = Annotated[int | float, Field(gt=0)]


def plan_settings(plan: str | None) -> dict[str, Any]:
    """The counters ``plan`` stands for, as settings (``None``: self-hosted with billing off).

    :raises ValueError: for an unknown plan.
    """
    if plan is None:
        return dict.fromkeys(PLAN_SETTINGS)
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)} or null, got {plan!r}")
    limits = PLANS[plan]
    return {
        "rate_limit_sync": limits.sync,
        "rate_limit_async": limits.async_,
        "rate_limit_burst": None,
        "rate_limit_api": limits.api,
        "rate_limit_api_burst": None,
        "max_runs_in_flight": limits.in_flight,
    }


class EmulatorSettings(BaseModel):
    """The part of the configuration that may change while the server runs.

    Every bucket holds ``burst`` tokens (default twice the rate), starts full and gets ``rate``
    tokens at the end of every window, as on sim.ai.

    :param plan: ``free``, ``pro``, ``team`` or ``enterprise``: setting it (command line ``--plan``
        or ``POST /_emulator/settings``) sets every counter in :data:`PLAN_SETTINGS` to that plan's
        numbers (see :data:`PLANS`); a counter named in the same change (or given on the command
        line) wins over the plan. ``None``: self-hosted with billing off (no limits but the per-IP one).
    :param rate_limit_sync: sync executions per window (a minute by default), or ``None`` for no limit
        (self-hosted, billing off). Every v1 execute, async included, is charged here.
    :param rate_limit_async: v2 async executions per window, or ``None`` for no limit.
    :param rate_limit_burst: capacity of the sync and async buckets; ``None`` means twice the rate.
    :param rate_limit_api: calls per window to each metered v2 operation (``workflows.execute``,
        ``workflows.runs.read``, ``workflows.runs.list``, ...; one bucket each), or ``None`` for no
        limit (self-hosted, billing off).
    :param rate_limit_api_burst: capacity of the per-operation buckets; ``None`` means twice the rate.
    :param rate_limit_ip: requests per window from one client IP to real v2 routes, counted before
        the key is checked (401s included); Sim's 300 on every deployment. ``None``: no limit.
    :param rate_limit_ip_burst: capacity of the per-IP bucket; ``None`` means twice the rate (600).
    :param rate_limit_window_seconds: how often the buckets are refilled, all at once (Sim's
        ``RATE_LIMIT_WINDOW_MS``, 60 s by default); shorter windows make tests and benchmarks fast.
    :param max_runs_in_flight: executions queued or running at once (both API generations; paused
        runs do not count); one more execute answers 429 ``EXECUTION_CONCURRENCY_LIMIT``. ``None``:
        no cap.
    :param concurrency_retry_after_seconds: the wait a concurrency 429 suggests (Sim: 5). May be a
        fraction for time-compressed benchmarks: ``Retry-After`` then says ``max(1, ceil(x))`` whole
        seconds and the body carries the exact value.
    :param usage_limit_exceeded: when true every execute answers 402 (usage/cost limit reached).
    :param sync_timeout_seconds: how long a sync or streamed run may take before it times out.
    :param v2_enabled: the v2 API is on. Off (the default, as on a self-hosted Sim without
        ``V2_API=true``), every ``/api/v2/*`` path answers 404 ``{"error": {"code": "NOT_FOUND",
        "message": "Not found"}}`` without rate-limit headers; the command line turns it on with
        ``--v2`` or ``V2_API=true``.
    :param async_queue: where async runs wait. ``database`` (Sim's default without trigger.dev:
        its web process runs them from the database queue) starts them at once, so a status read
        right after the 202 says ``running``; ``external`` (trigger.dev) keeps them ``queued`` (v1
        job ``pending``) for ``async_queue_delay_seconds`` first.
    :param async_queue_delay_seconds: how long an async run stays ``queued`` with an external queue.
    :param v1_status_lag_reads: how many v1 execution-status reads right after a v1 sync 200 of a
        completed run still answer ``running`` (Sim answers before the run's log row is final; 3
        of 4 tries read ``running``, 2 s later ``completed``). 0 (the default) keeps tests
        deterministic; the provider copes with either.
    :param hold_async_runs: every async run, of any workflow, waits ``running`` before it begins
        until ``POST /_emulator/release`` lets it go (or fails it), as runs of ``hold`` do: a test
        can read an async run mid-flight without depending on timing.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    plan: PlanName | None = None
    rate_limit_sync: Rate | None = None
    rate_limit_async: Rate | None = None
    rate_limit_burst: Rate | None = None
    rate_limit_api: Rate | None = None
    rate_limit_api_burst: Rate | None = None
    rate_limit_ip: Rate | None = 300.0
    rate_limit_ip_burst: Rate | None = None
    rate_limit_window_seconds: Rate = 60.0
    max_runs_in_flight: Annotated[int, Field(ge=1)] | None = None
    concurrency_retry_after_seconds: Rate = 5.0
    usage_limit_exceeded: bool = False
    sync_timeout_seconds: Rate = 300.0
    v2_enabled: bool = False
    async_queue: AsyncQueue = "database"
    async_queue_delay_seconds: Annotated[int | float, Field(ge=0)] = 0.05
    v1_status_lag_reads: Annotated[int, Field(ge=0)] = 0
    hold_async_runs: bool = False

    @classmethod
    def for_plan(cls, plan: str | None, **explicit: Any) -> EmulatorSettings:
        """Settings for ``plan`` with ``explicit`` values on top (they win over the plan's).

        :raises ValueError: on an unknown plan, setting or bad value.
        """
        return cls().updated({"plan": plan, **explicit})

    def updated(self, changes: dict[str, Any]) -> EmulatorSettings:
        """Return a copy with ``changes`` applied, validating names and values.

        A ``plan`` in ``changes`` first sets the plan's counters; other names in ``changes`` win.

        :raises ValueError: on an unknown setting or a value of the wrong type or range (a
            :class:`pydantic.ValidationError` naming each bad setting).
        """
        known = type(self).model_fields
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "plan" in changes:
            changes = {**plan_settings(changes["plan"]), **changes}
        return self.model_validate({**self.model_dump(), **changes})

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict (the ``/_emulator/settings`` body)."""
        return self.model_dump()


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the server starts with.

    :param api_key: the one key the server accepts in ``X-API-Key``.
    :param host: interface to listen on; loopback by default.
    :param port: TCP port; ``0`` picks a free one.
    :param settings: the runtime-changeable part; ``POST /_emulator/reset`` restores these values.
    """

    api_key: str = dataclasses.field(default_factory=default_api_key)
    host: str = DEFAULT_HOST
    port: int = 0
    settings: EmulatorSettings = dataclasses.field(default_factory=EmulatorSettings)
