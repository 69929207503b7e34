"""Emulator settings: what the command line sets and ``POST /_emulator/settings`` can change later."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_sim.protocol.build import MAX_EXECUTION_TIMEOUT_SECONDS
from airflow_provider_sim.protocol.errors import MAX_BODY_BYTES

__all__ = ["MAX_BODY_BYTES", "MAX_EXECUTION_TIMEOUT_SECONDS", "EmulatorConfig", "EmulatorSettings"]

DEFAULT_API_KEY = "sk-sim-emulator"
API_KEY_ENV_VAR = "SIM_EMULATOR_API_KEY"
DEFAULT_HOST = "127.0.0.1"
#: the one line the server prints once it accepts connections, followed by its base URL
READY_PREFIX = "Sim emulator listening on "
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
    """One sim.ai plan's counters per minute (Sim's ``lib/core/rate-limiter/types.ts`` and
    ``lib/billing/concurrency-defaults.ts``): sync and async executions, calls to each metered v2
    operation (``apiEndpoint``), executions queued or running at once per billing account."""

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
OPTIONAL_RATES = tuple(
    f"rate_limit_{name}" for name in ("sync", "async", "burst", "api", "api_burst", "ip", "ip_burst")
)
#: the settings a plan sets (``plan: null`` sets them back to self-hosted: no limits, 2x bursts)
PLAN_SETTINGS = (*OPTIONAL_RATES[:5], "max_runs_in_flight")
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
    return dict(
        zip(
            PLAN_SETTINGS, (limits.sync, limits.async_, None, limits.api, None, limits.in_flight), strict=True
        )
    )


class EmulatorSettings(BaseModel):
    """The part of the configuration that may change while the server runs (each field is a
    ``sim-emulator`` flag too, its docstring the flag's help).

    Every bucket holds ``burst`` tokens (default twice the rate), starts full and gets ``rate``
    tokens at the end of every window, as on sim.ai.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    plan: PlanName | None = None
    """meter like this sim.ai plan: sets every counter of PLAN_SETTINGS to its numbers (a counter
    given too wins); none: self-hosted with billing off, no limits but the per-IP one"""
    rate_limit_sync: Rate | None = None
    """sync executions per window, or none (every v1 execute, async included, counts here)"""
    rate_limit_async: Rate | None = None
    """v2 async executions per window, or none"""
    rate_limit_burst: Rate | None = None
    """sync/async bucket size (none: 2x rate)"""
    rate_limit_api: Rate | None = None
    """calls per window to each metered v2 operation (one bucket each), or none"""
    rate_limit_api_burst: Rate | None = None
    """per-operation bucket size (none: 2x rate)"""
    rate_limit_ip: Rate | None = 300.0
    """v2 requests per window per client IP, counted before auth (401s too); Sim's 300 everywhere"""
    rate_limit_ip_burst: Rate | None = None
    """per-IP bucket size (none: 2x rate)"""
    rate_limit_window_seconds: Rate = 60.0
    """refill window: the rate is added at the end of each (Sim's RATE_LIMIT_WINDOW_MS, 60 s)"""
    max_runs_in_flight: Annotated[int, Field(ge=1)] | None = None
    """runs queued or running at once (paused ones do not count); one more execute gets 429
    EXECUTION_CONCURRENCY_LIMIT; none: no cap"""
    concurrency_retry_after_seconds: Rate = 5.0
    """the wait a concurrency 429 suggests (Sim: 5); a fraction: Retry-After says max(1, ceil(x)),
    the body the exact value"""
    usage_limit_exceeded: bool = False
    """every execute answers 402 (usage limit reached)"""
    sync_timeout_seconds: Rate = 300.0
    """how long a sync or streamed run may take before it times out"""
    v2_enabled: bool = False
    """serve the v2 API (default: off unless $V2_API is true or 1, as on Sim; off, every
    /api/v2/* path answers 404 without rate-limit headers)"""
    async_queue: Literal["database", "external"] = "database"
    """database: async runs start at once, a read right after the 202 says running (Sim without
    trigger.dev); external: they stay queued for async_queue_delay_seconds first (trigger.dev)"""
    async_queue_delay_seconds: Annotated[int | float, Field(ge=0)] = 0.05
    """how long an async run stays queued with an external queue"""
    v1_status_lag_reads: Annotated[int, Field(ge=0)] = 0
    """v1 status reads right after a v1 sync 200 that still answer running (Sim answers before
    its log row is final); 0 keeps tests deterministic"""
    hold_async_runs: bool = False
    """every async run waits running before it begins until POST /_emulator/release lets it go
    (or fails it), as runs of hold do"""

    @classmethod
    def for_plan(cls, plan: str | None, **explicit: Any) -> EmulatorSettings:
        """Settings for ``plan`` with ``explicit`` values on top (they win over the plan's).

        :raises ValueError: on an unknown plan, setting or bad value.
        """
        return cls().updated({"plan": plan, **explicit})

    def updated(self, changes: dict[str, Any]) -> EmulatorSettings:
        """Return a copy with ``changes`` applied (a ``plan`` first sets its counters; other
        names in ``changes`` win).

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
