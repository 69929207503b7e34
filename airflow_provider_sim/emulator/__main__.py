"""Command line: ``python -m airflow_provider_sim.emulator`` / ``sim-emulator``.

Prints exactly one line, ``Sim emulator listening on http://HOST:PORT``, once it accepts
connections, and exits with status 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from airflow_provider_sim.emulator.config import (
    API_KEY_ENV_VAR,
    ASYNC_QUEUES,
    DEFAULT_HOST,
    OPTIONAL_RATES,
    PLANS,
    READY_PREFIX,
    V2_API_ENV_VAR,
    EmulatorConfig,
    EmulatorSettings,
    default_api_key,
    v2_api_from_env,
)

#: marks an option left off the command line (so a ``--plan`` value stands)
NOT_GIVEN: Any = object()


def _or_none(kind: Callable[[str], float], what: str) -> Callable[[str], float | None]:
    """A command-line limit: ``kind`` of the text, or ``None`` (no limit) for ``none`` / ``unlimited``."""

    def parse(text: str) -> float | None:
        if text.lower() in ("none", "unlimited"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} or 'none', got {text!r}") from None

    return parse


#: a rate or capacity (a positive number), and an in-flight cap (a positive integer)
_limit, _cap = _or_none(float, "a number"), _or_none(int, "a whole number")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sim-emulator", description="Local Sim-compatible HTTP server for tests and demos."
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default 8765)")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"interface to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"the key to accept in X-API-Key (default ${API_KEY_ENV_VAR} or sk-sim-emulator)",
    )
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default=None,
        help="meter like this sim.ai plan: sets the execution, per-operation and in-flight limits "
        "to its numbers (each flag below wins over it); default: self-hosted, no limits",
    )
    limits = (
        ("--rate-limit-sync", _limit, "sync executions per window (v1 executes all count here)"),
        ("--rate-limit-async", _limit, "v2 async executions per window"),
        ("--rate-limit-burst", _limit, "sync/async bucket size (default 2x rate)"),
        ("--rate-limit-api", _limit, "calls per window to each metered v2 operation"),
        ("--rate-limit-api-burst", _limit, "per-operation bucket size (default 2x rate)"),
        ("--rate-limit-ip", _limit, "v2 requests per window per client IP, before auth (default 300)"),
        ("--rate-limit-ip-burst", _limit, "per-IP bucket size (default 2x rate)"),
        ("--max-runs-in-flight", _cap, "runs queued or running at once; one more execute gets 429"),
    )
    for flag, kind, text in limits:
        parser.add_argument(flag, type=kind, default=NOT_GIVEN, metavar="N|none", help=text)
    seconds = (
        (
            "--concurrency-retry-after-seconds",
            NOT_GIVEN,
            "the wait a concurrency 429 suggests (default 5; fractions allowed)",
        ),
        (
            "--rate-limit-window-seconds",
            60.0,
            "refill window: the rate is added at the end of each (default 60, as on sim.ai)",
        ),
        ("--sync-timeout-seconds", 300.0, "sync run timeout (default 300)"),
    )
    for flag, default, text in seconds:
        parser.add_argument(flag, type=float, default=default, metavar="S", help=text)
    parser.add_argument(
        "--v2",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"serve the v2 API (default: off unless ${V2_API_ENV_VAR} is true or 1, as on Sim; "
        "off, every /api/v2/* path answers 404)",
    )
    parser.add_argument(
        "--async-queue",
        choices=ASYNC_QUEUES,
        default="database",
        help="database: async runs start at once (Sim without trigger.dev, the default); "
        "external: they stay queued a moment first (trigger.dev)",
    )
    return parser


#: limit flags that win over the plan's values when given
_EXPLICIT = (*OPTIONAL_RATES, "max_runs_in_flight", "concurrency_retry_after_seconds")


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    """Turn command-line arguments into an :class:`EmulatorConfig`.

    ``--plan`` sets the plan's counters; any limit flag given as well wins over the plan's value.

    :raises SystemExit: on bad arguments (argparse prints the usage).
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    explicit = {name: getattr(args, name) for name in _EXPLICIT if getattr(args, name) is not NOT_GIVEN}
    try:
        settings = EmulatorSettings.for_plan(
            args.plan,
            rate_limit_window_seconds=args.rate_limit_window_seconds,
            sync_timeout_seconds=args.sync_timeout_seconds,
            v2_enabled=v2_api_from_env() if args.v2 is None else args.v2,
            async_queue=args.async_queue,
            **explicit,
        )
    except ValueError as exc:
        parser.error(str(exc))
    return EmulatorConfig(
        api_key=args.api_key or default_api_key(), host=args.host, port=args.port, settings=settings
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; return the exit status (0 after a clean stop)."""
    config = parse_args(argv)
    # imported here so ``--help`` works without the emulator extra installed
    from airflow_provider_sim.emulator.server import build_server

    server = build_server(config, on_ready=lambda url: print(f"{READY_PREFIX}{url}", flush=True))

    def request_exit(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn installs its own handlers while serving and re-raises the caught signal once it has
    # stopped, through whatever handler was there before: make that one a no-op so we exit with 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_exit)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
