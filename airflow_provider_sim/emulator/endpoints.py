"""FastAPI dependencies of the emulator's routes: what Sim checks before a handler runs.

In Sim's order: the per-IP bucket (v2 routers), the API key (v1 and v2 routers), the operation's
bucket (:func:`metered` v2 routes). A check that fails, like a handler that finds nothing, raises
:class:`~.messages.Refused` with Sim's answer. A metered route's bucket goes into
``request.state`` (:data:`OPERATION_BUCKET`); the middleware puts its ``X-RateLimit-*`` on the answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Scope

from airflow_provider_sim.emulator.core import Emulator, key_matches
from airflow_provider_sim.emulator.messages import (
    Refused,
    rate_limit_headers,
    rate_limited,
    v1_error,
    v2_error,
)
from airflow_provider_sim.emulator.ratelimit import most_restrictive

#: ``request.state`` key of the operation bucket a metered v2 call was charged to
OPERATION_BUCKET = "operation_bucket"
#: ``request.state`` key of the execution bucket (sync or async) a v2 execute consulted: the answer
#: reports whichever of it and the operation's bucket is more restrictive in ``X-RateLimit-*``
EXECUTION_BUCKET = "execution_bucket"
#: a v2 ``GET`` also answers ``HEAD`` (Next.js serves a HEAD with its GET, metered the same, bodiless)
GET_AND_HEAD = ["GET", "HEAD"]


def emulator(request: Request) -> Emulator:
    """The emulator the app serves."""
    em: Emulator = request.app.state.emulator
    return em


EmulatorDep = Annotated[Emulator, Depends(emulator)]


def per_ip_limit(request: Request, em: EmulatorDep) -> None:
    """Sim's pre-auth limit: every request to a real v2 route, before the key is looked at."""
    by_ip = em.limiter.take_ip(request.client.host if request.client else "unknown")
    if not by_ip.allowed:
        raise Refused(rate_limited(by_ip))


def api_key(request: Request, em: EmulatorDep) -> None:
    """The request's ``X-API-Key`` is the emulator's, else a 401 in the path's error shape."""
    sent = request.headers.get("x-api-key")
    if sent is None or not key_matches(sent, em.config.api_key):
        # no key, or one sent as ``Authorization: Bearer``: Sim says no more than "Unauthorized"
        failure = "Unauthorized" if sent is None else "Invalid API key"
        v2 = request.url.path.startswith("/api/v2/")
        raise Refused(v2_error(401, failure) if v2 else v1_error(401, failure))


def metered(operation: str) -> Any:
    """A dependency charging each call to the bucket of v2 ``operation`` (Sim's ``v2:<operation id>``)."""

    def charge(request: Request, em: EmulatorDep) -> None:
        bucket = em.limiter.take_operation(operation)
        if not bucket.allowed:
            raise Refused(rate_limited(bucket))
        setattr(request.state, OPERATION_BUCKET, bucket)

    return Depends(charge)


def add_rate_limit_headers(scope: Scope, start: Message) -> None:
    """Put the ``X-RateLimit-*`` of the request's metered bucket (if any) on its answer's start."""
    state = scope.get("state") or {}
    bucket = state.get(OPERATION_BUCKET)
    if bucket is None:
        return
    execution = state.get(EXECUTION_BUCKET)
    shown = bucket if execution is None else most_restrictive(bucket, execution)
    MutableHeaders(scope=start).update(rate_limit_headers(shown))


def base_url(request: Request) -> str:
    """Scheme and authority the client used, for absolute URLs in answers."""
    return str(request.base_url).rstrip("/")
