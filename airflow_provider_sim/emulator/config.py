"""Emulator settings: what the command line sets and ``POST /_emulator/settings`` can change later."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

DEFAULT_API_KEY = "sk-sim-emulator"
API_KEY_ENV_VAR = "SIM_EMULATOR_API_KEY"
DEFAULT_HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Sim's own cap for async runs when the caller names no ``executionTimeoutSeconds``.
DEFAULT_ASYNC_TIMEOUT_SECONDS = 5400.0
MAX_EXECUTION_TIMEOUT_SECONDS = 604_800


def default_api_key() -> str:
    """Return the API key to use when none is given: ``$SIM_EMULATOR_API_KEY`` or ``sk-sim-emulator``."""
    return os.environ.get(API_KEY_ENV_VAR) or DEFAULT_API_KEY


@dataclass
class EmulatorSettings:
    """The part of the configuration that may change while the server runs.

    :param rate_limit_sync: sync executions per window (a minute by default), or ``None`` for no limit
        (self-hosted, billing off).
    :param rate_limit_async: async executions per window, or ``None`` for no limit.
    :param rate_limit_burst: bucket capacity; ``None`` means twice the rate, as on sim.ai.
    :param rate_limit_window_seconds: how often the buckets are refilled, all at once (Sim's
        ``RATE_LIMIT_WINDOW_MS``, 60 s by default); shorter windows make tests and benchmarks fast.
    :param usage_limit_exceeded: when true every execute answers 402 (usage/cost limit reached).
    :param sync_timeout_seconds: how long a sync or streamed run may take before it times out.
    :param v2_enabled: when false every ``/api/v2/*`` path answers 404, as on a server with v2 switched off.
    :param async_queue_delay_seconds: how long an async run stays ``queued`` before it starts running.
    """

    rate_limit_sync: float | None = None
    rate_limit_async: float | None = None
    rate_limit_burst: float | None = None
    rate_limit_window_seconds: float = 60.0
    usage_limit_exceeded: bool = False
    sync_timeout_seconds: float = 300.0
    v2_enabled: bool = True
    async_queue_delay_seconds: float = 0.05

    def updated(self, changes: dict[str, Any]) -> EmulatorSettings:
        """Return a copy with ``changes`` applied, validating names and values.

        :raises ValueError: on an unknown setting or a value of the wrong type or range.
        """
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        """Check every value.

        :raises ValueError: naming the first bad setting.
        """
        for name in ("rate_limit_sync", "rate_limit_async", "rate_limit_burst"):
            value = getattr(self, name)
            if value is not None and (_not_number(value) or value <= 0):
                raise ValueError(f"{name} must be a positive number or null, got {value!r}")
        for name in ("sync_timeout_seconds", "rate_limit_window_seconds"):
            value = getattr(self, name)
            if _not_number(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if _not_number(self.async_queue_delay_seconds) or self.async_queue_delay_seconds < 0:
            raise ValueError(
                f"async_queue_delay_seconds must be >= 0, got {self.async_queue_delay_seconds!r}"
            )
        for name in ("usage_limit_exceeded", "v2_enabled"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a boolean, got {getattr(self, name)!r}")

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict (the ``/_emulator/settings`` body)."""
        return dataclasses.asdict(self)


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


def _not_number(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)
