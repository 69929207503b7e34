"""The emulated Sim server's state: runs, rate-limit buckets, queued faults, the request log, settings.

The FastAPI app (:mod:`.app`) serves it; its routes and middleware read and change it.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from airflow_provider_sim.emulator.config import OPTIONAL_RATES, EmulatorConfig, EmulatorSettings
from airflow_provider_sim.emulator.faults import FaultQueue
from airflow_provider_sim.emulator.messages import parse_json_body
from airflow_provider_sim.emulator.ratelimit import RateLimiter
from airflow_provider_sim.emulator.runs import Runner
from airflow_provider_sim.emulator.state import RunStore, iso, utcnow

REDACTED = "<redacted>"
#: request bodies larger than this are logged by size only
LOGGED_BODY_LIMIT = 1024 * 1024
#: the request log keeps the newest entries only, so a long benchmark cannot exhaust memory
REQUEST_LOG_LIMIT = 100_000
#: changing any of these rebuilds (and so refills) every bucket
_RATE_SETTINGS = frozenset({"plan", *OPTIONAL_RATES, "rate_limit_window_seconds"})


class Emulator:
    """One emulated Sim server.

    :param clock: monotonic clock for the rate-limit buckets; injectable for tests.
    """

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.settings: EmulatorSettings = config.settings
        self.store = RunStore()
        self.limiter = RateLimiter(self.settings, clock)
        self.runner = Runner(self.store, self.limiter, lambda: self.settings)
        self.faults = FaultQueue()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._request_seq = 0

    def update_settings(self, changes: dict[str, Any]) -> EmulatorSettings:
        """Apply runtime setting changes; changing a plan, rate, burst or window refills every bucket.

        :raises ValueError: on an unknown setting or a bad value.
        """
        new = self.settings.updated(changes)
        self.settings = new
        if _RATE_SETTINGS.intersection(changes):
            self.limiter.configure(new)
        return new

    async def reset(self) -> None:
        """Forget runs, logs and faults; refill every bucket (per-IP too); restore the startup settings."""
        await self.runner.stop_all()
        self.store.clear()
        self.requests.clear()
        self._request_seq = 0
        self.faults.clear()
        self.settings = self.config.settings
        self.limiter.configure(self.settings)

    async def shutdown(self) -> None:
        """Cancel unfinished runs so waiting requests and streams end promptly."""
        await self.runner.stop_all()

    def record(self, request: Request, body: bytes) -> dict[str, Any]:
        """Append an API request to the request log (API key redacted); return its entry."""
        headers = dict(request.headers)
        sent_key = headers.get("x-api-key")
        for name in ("x-api-key", "authorization"):
            if name in headers:
                headers[name] = REDACTED
        parsed: Any = None
        if len(body) <= LOGGED_BODY_LIMIT:
            _, parsed = parse_json_body(body)
        self._request_seq += 1
        entry: dict[str, Any] = {
            "seq": self._request_seq,
            "receivedAt": iso(utcnow()),
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": headers,
            "apiKeyPresent": sent_key is not None,
            "apiKeyMatched": sent_key is not None and key_matches(sent_key, self.config.api_key),
            "json": parsed,
            "bodyBytes": len(body),
            "status": None,
            "rateLimited": False,
        }
        self.requests.append(entry)
        return entry


def key_matches(sent: str, api_key: str) -> bool:
    """Compare keys in constant time."""
    return hmac.compare_digest(sent.encode(), api_key.encode())
