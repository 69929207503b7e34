"""A tiny path router, independent of any web framework."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from airflow_provider_sim.emulator.messages import EmulatorRequest, EmulatorResponse

if TYPE_CHECKING:
    from airflow_provider_sim.emulator.core import Emulator

Generation = Literal["v1", "v2", "control"]
Handler = Callable[["Emulator", EmulatorRequest, dict[str, str]], Awaitable[EmulatorResponse]]


@dataclass(frozen=True)
class Route:
    """``method`` + path template (``/api/jobs/{jobId}``) → handler.

    :param generation: which error shape the route speaks, and whether it needs the API key.
    :param operation: the v2 operation id whose rate-limit bucket a call is charged to (Sim's
        ``v2:<operation id>:<subject>``); ``None`` for unmetered routes.
    """

    method: str
    template: str
    handler: Handler
    generation: Generation
    operation: str | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


@dataclass(frozen=True)
class Match:
    """The outcome of routing: a route with its path parameters, or a path known only by other methods."""

    route: Route | None
    params: dict[str, str]
    allowed_methods: tuple[str, ...] = ()


class Router:
    """Finds the route for a method and path."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    def match(self, method: str, path: str) -> Match:
        """Return the matching route, or ``Match(None, ...)`` listing the methods the path does accept.

        ``HEAD`` finds the ``GET`` route of a v2 path (Next.js answers a HEAD with its GET, metered
        the same); the caller drops the body.
        """
        allowed: list[str] = []
        wanted = method.upper()
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            head_of_get = wanted == "HEAD" and route.method == "GET" and route.generation == "v2"
            if route.method == wanted or head_of_get:
                return Match(route, found.groupdict())
            allowed.append(route.method)
        return Match(None, {}, tuple(allowed))
