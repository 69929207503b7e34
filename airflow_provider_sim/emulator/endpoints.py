"""FastAPI routes for the emulator's handlers.

A handler is ``async (emulator, request, path_params) -> Response``; :class:`SimRouter` (an
``APIRouter``) declares it as a FastAPI route of one API generation. FastAPI matches the path and
parses the path parameters; the route's endpoint then applies what Sim checks before a handler runs
(a handler may raise :class:`~.messages.Refused` to answer with an error at once),
in Sim's order: the per-IP bucket (v2 only), the API key (not on control routes), the operation's
bucket (metered v2 routes; its ``X-RateLimit-*`` go on the answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_sim.emulator.core import auth_failure
from airflow_provider_sim.emulator.messages import (
    Refused,
    rate_limit_headers,
    rate_limited,
    v1_error,
    v2_error,
)
from airflow_provider_sim.emulator.ratelimit import most_restrictive

if TYPE_CHECKING:
    from airflow_provider_sim.emulator.core import Emulator

Generation = Literal["v1", "v2", "control"]
Handler = Callable[["Emulator", Request, dict[str, str]], Awaitable[Response]]
#: ``request.state`` key of the execution bucket (sync or async) a v2 execute consulted: the answer
#: reports whichever of it and the operation's bucket is more restrictive in ``X-RateLimit-*``
EXECUTION_BUCKET = "execution_bucket"


class SimRouter(APIRouter):
    """The routes of one API generation (``v1``, ``v2`` or ``control``).

    :param generation: which error shape its routes speak, and whether they need the API key.
    """

    def __init__(self, generation: Generation) -> None:
        super().__init__()
        self.generation: Generation = generation

    def add(self, method: str, path: str, handler: Handler, operation: str | None = None) -> None:
        """Declare ``handler`` for ``method`` and ``path`` (``/api/jobs/{jobId}``).

        :param operation: the v2 operation id whose rate-limit bucket a call is charged to (Sim's
            ``v2:<operation id>:<subject>``); ``None`` for unmetered routes. A v2 ``GET`` also
            answers ``HEAD`` (Next.js serves a HEAD with its GET, metered the same, bodiless).
        """
        generation = self.generation

        async def endpoint(request: Request) -> Response:
            return await answer(request.app.state.emulator, generation, operation, handler, request)

        methods = [method, "HEAD"] if generation == "v2" and method == "GET" else [method]
        self.add_api_route(path, endpoint, methods=methods, name=handler.__name__, include_in_schema=False)


async def answer(
    em: Emulator,
    generation: Generation,
    operation: str | None,
    handler: Handler,
    request: Request,
) -> Response:
    """Run Sim's pre-handler checks, then the handler; add the rate-limit headers of metered routes."""
    params = request.path_params
    if generation == "v2":
        # Sim's pre-auth limit: every request to a real v2 route, before the key is looked at
        by_ip = em.limiter.take_ip(request.client.host if request.client else "unknown")
        if not by_ip.allowed:
            return rate_limited(by_ip)
    if generation != "control":
        failure = auth_failure(request, em.config.api_key)
        if failure is not None:
            return v2_error(401, failure) if generation == "v2" else v1_error(401, failure)
    bucket = None if operation is None else em.limiter.take_operation(operation)
    if bucket is not None and not bucket.allowed:
        return rate_limited(bucket)
    try:
        response = await handler(em, request, params)
    except Refused as refused:
        response = refused.response
    if bucket is None:
        return response
    execution = getattr(request.state, EXECUTION_BUCKET, None)
    shown = bucket if execution is None else most_restrictive(bucket, execution)
    response.headers.update(rate_limit_headers(shown))
    return response


def base_url(request: Request) -> str:
    """Scheme and authority the client used, for absolute URLs in answers."""
    return str(request.base_url).rstrip("/")
