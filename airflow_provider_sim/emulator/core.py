"""The emulated Sim server as one ``EmulatorRequest → EmulatorResponse`` coroutine.

Everything observable lives here (runs, rate-limit buckets, queued faults, the request log), so
the same core can sit behind the real FastAPI app or an in-process httpx transport.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from airflow_provider_sim.emulator.config import OPTIONAL_RATES, EmulatorConfig, EmulatorSettings
from airflow_provider_sim.emulator.faults import FaultQueue, fault_response
from airflow_provider_sim.emulator.messages import (
    EmulatorRequest,
    EmulatorResponse,
    parse_json_body,
    rate_limit_headers,
    rate_limited,
    v1_error,
    v2_error,
)
from airflow_provider_sim.emulator.ratelimit import RateLimiter, most_restrictive
from airflow_provider_sim.emulator.routes_control import CONTROL_ROUTES
from airflow_provider_sim.emulator.routes_v1 import V1_ROUTES
from airflow_provider_sim.emulator.routes_v2 import V2_ROUTES
from airflow_provider_sim.emulator.routing import Router
from airflow_provider_sim.emulator.runs import Runner
from airflow_provider_sim.emulator.state import RunStore, iso, utcnow

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_emulator/"
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
        config.settings.validate()
        self.config = config
        self.settings: EmulatorSettings = dataclasses.replace(config.settings)
        self.store = RunStore()
        self.limiter = RateLimiter(self.settings, clock)
        self.runner = Runner(self.store, self.limiter, lambda: self.settings)
        self.faults = FaultQueue()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._request_seq = 0
        self.router = Router([*V1_ROUTES, *V2_ROUTES, *CONTROL_ROUTES])

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
        self.settings = dataclasses.replace(self.config.settings)
        self.limiter.configure(self.settings)

    async def shutdown(self) -> None:
        """Cancel unfinished runs so waiting requests and streams end promptly."""
        await self.runner.stop_all()

    async def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        """Answer one request; every answer except a connection reset carries ``x-request-id``."""
        request_id = str(uuid.uuid4())
        entry: dict[str, Any] | None = None
        try:
            if request.path.startswith(CONTROL_PREFIX):
                response = await self._dispatch(request)
            else:
                entry = self._record(request)
                response = await self._handle_api(request)
        except Exception:
            log.exception("emulator failed on %s %s", request.method, request.path)
            response = v1_error(500, "Internal server error")
        if not response.reset:
            response.headers.setdefault("x-request-id", request_id)
        if request.method.upper() == "HEAD" and response.stream is None:  # a HEAD is answered bodiless
            response.body = b""
        if entry is not None:
            # a stream's status is final once its headers go out; a reset has no status at all
            entry["status"] = None if response.reset else response.status
            entry["rateLimited"] = response.status == 429 and not response.reset
        return response

    async def _handle_api(self, request: EmulatorRequest) -> EmulatorResponse:
        fault = self.faults.take(request.method, request.path, "before")
        if fault is not None:
            if fault.kind != "delay":
                return fault_response(fault, request.path)
            await asyncio.sleep(fault.seconds)
        response = await self._dispatch(request)
        fault = self.faults.take(request.method, request.path, "after")
        if fault is None:
            return response
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return response
        await _discard(response)
        return fault_response(fault, request.path)

    async def _dispatch(self, request: EmulatorRequest) -> EmulatorResponse:
        is_v2 = request.path == "/api/v2" or request.path.startswith("/api/v2/")
        if is_v2 and not self.settings.v2_enabled:
            return v2_error(404, "Not found")
        match = self.router.match(request.method, request.path)
        route = match.route
        if route is None:
            if match.allowed_methods:
                allow = {"allow": ", ".join(sorted(set(match.allowed_methods)))}
                if is_v2:
                    return v2_error(405, "Method not allowed", headers=allow, code="METHOD_NOT_ALLOWED")
                return v1_error(405, "Method not allowed", headers=allow)
            return v2_error(404, "Not found") if is_v2 else v1_error(404, "Not found")
        if route.generation == "v2":
            # Sim's pre-auth limit: every request to a real v2 route, before the key is looked at
            by_ip = self.limiter.take_ip(request.client_host)
            if not by_ip.allowed:
                return rate_limited(by_ip)
        if route.generation != "control":
            failure = auth_failure(request, self.config.api_key)
            if failure is not None:
                return v2_error(401, failure) if route.generation == "v2" else v1_error(401, failure)
        if route.operation is None:
            return await route.handler(self, request, match.params)
        operation = self.limiter.take_operation(route.operation)
        if not operation.allowed:
            return rate_limited(operation)
        response = await route.handler(self, request, match.params)
        shown = operation if response.bucket is None else most_restrictive(operation, response.bucket)
        response.headers.update(rate_limit_headers(shown))
        return response

    def _record(self, request: EmulatorRequest) -> dict[str, Any]:
        headers = dict(request.headers)
        sent_key = headers.get("x-api-key")
        for name in ("x-api-key", "authorization"):
            if name in headers:
                headers[name] = REDACTED
        parsed: Any = None
        if len(request.body) <= LOGGED_BODY_LIMIT:
            _, parsed = parse_json_body(request.body)
        self._request_seq += 1
        entry: dict[str, Any] = {
            "seq": self._request_seq,
            "receivedAt": iso(utcnow()),
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": headers,
            "apiKeyPresent": sent_key is not None,
            "apiKeyMatched": sent_key is not None and key_matches(sent_key, self.config.api_key),
            "json": parsed,
            "bodyBytes": len(request.body),
            "status": None,
            "rateLimited": False,
        }
        self.requests.append(entry)
        return entry


def auth_failure(request: EmulatorRequest, api_key: str) -> str | None:
    """Why the request is not authenticated, or ``None`` if its ``X-API-Key`` is right."""
    sent = request.header("x-api-key")
    if sent is None:
        if (request.header("authorization") or "").lower().startswith("bearer "):
            return "Authorization: Bearer is not accepted; send the API key in the X-API-Key header"
        return "API key required: send it in the X-API-Key header"
    if not key_matches(sent, api_key):
        return "Invalid API key"
    return None


def key_matches(sent: str, api_key: str) -> bool:
    """Compare keys in constant time."""
    return hmac.compare_digest(sent.encode(), api_key.encode())


async def _discard(response: EmulatorResponse) -> None:
    """Close a streamed response that a fault replaces (its run goes on)."""
    aclose = getattr(response.stream, "aclose", None)
    if aclose is not None:
        await aclose()
