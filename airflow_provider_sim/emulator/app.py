"""The FastAPI app: the v1, v2 and control routers, Sim-shaped error handlers, the emulator middleware.

A route or its dependency answers with an error by raising :class:`~.messages.Refused`. FastAPI's
own answers speak Sim's error shapes: an unknown path is a 404, a known path with another
method a 405 whose ``Allow`` lists every method the path serves, a request FastAPI cannot parse a
400 — as ``{"error": {"code", "message", ...}}`` under ``/api/v2``, else ``{"error": "..."}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route

from airflow_provider_sim.emulator.config import EmulatorConfig
from airflow_provider_sim.emulator.core import Emulator
from airflow_provider_sim.emulator.faults import TRANSPORT_SCOPE_KEY
from airflow_provider_sim.emulator.messages import Refused, v1_error, v2_error
from airflow_provider_sim.emulator.middleware import EmulatorMiddleware, is_v2_path
from airflow_provider_sim.emulator.pages import router as pages_router
from airflow_provider_sim.emulator.routes_control import router as control_router
from airflow_provider_sim.emulator.routes_paused import router as paused_router
from airflow_provider_sim.emulator.routes_v1 import router as v1_router
from airflow_provider_sim.emulator.routes_v2 import router as v2_router

__all__ = ["TRANSPORT_SCOPE_KEY", "create_app"]

ROUTERS = (v1_router, paused_router, v2_router, control_router, pages_router)


def create_app(config: EmulatorConfig, emulator: Emulator | None = None) -> FastAPI:
    """Build the FastAPI app around a new (or the given) :class:`Emulator`.

    The emulator is available as ``app.state.emulator``.
    """
    core = emulator or Emulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await core.shutdown()

    app = FastAPI(
        title="Sim emulator",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # Sim answers a trailing slash with 404, not a redirect
    )
    app.state.emulator = core
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(EmulatorMiddleware, emulator=core)
    return app


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return exc.response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    v2 = is_v2_path(request.url.path)
    status = exc.status_code
    if status == 405:
        message, code = "Method not allowed", "METHOD_NOT_ALLOWED"
        headers = {"allow": ", ".join(allowed_methods(request))}
        return (
            v2_error(405, message, headers=headers, code=code)
            if v2
            else v1_error(405, message, headers=headers)
        )
    message = "Not found" if status == 404 else str(exc.detail)
    return v2_error(status, message) if v2 else v1_error(status, message)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [{"path": [str(part) for part in err["loc"]], "message": err["msg"]} for err in exc.errors()]
    message = issues[0]["message"] if issues else "Invalid request"
    if is_v2_path(request.url.path):
        return v2_error(400, message, details=issues)
    return v1_error(400, message)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path, sorted (Starlette names only one route's)."""
    scope: dict[str, Any] = {**request.scope, "method": "GET"}
    methods: set[str] = set()
    for route in (route for router in ROUTERS for route in router.routes):
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] is not Match.NONE:
            methods.update(route.methods)
    return sorted(methods)
