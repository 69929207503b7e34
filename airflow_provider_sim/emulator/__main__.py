"""Command line: ``python -m airflow_provider_sim.emulator`` / ``sim-emulator``.

Prints exactly one line, ``Sim emulator listening on http://HOST:PORT``, once it accepts
connections, and exits with status 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from airflow_provider_sim.emulator.config import (
    API_KEY_ENV_VAR,
    DEFAULT_HOST,
    EmulatorConfig,
    EmulatorSettings,
    default_api_key,
)

READY_PREFIX = "Sim emulator listening on "


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    """Turn command-line arguments into an :class:`EmulatorConfig`.

    :raises SystemExit: on bad arguments (argparse prints the usage).
    """
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
        "--rate-limit-sync", type=float, default=None, metavar="N", help="sync executions per window"
    )
    parser.add_argument(
        "--rate-limit-async", type=float, default=None, metavar="N", help="async executions per window"
    )
    parser.add_argument(
        "--rate-limit-burst", type=float, default=None, metavar="N", help="bucket size (default 2x rate)"
    )
    parser.add_argument(
        "--rate-limit-window-seconds",
        type=float,
        default=60.0,
        metavar="S",
        help="refill window: the rate is added at the end of each (default 60, as on sim.ai)",
    )
    parser.add_argument(
        "--sync-timeout-seconds",
        type=float,
        default=300.0,
        metavar="S",
        help="sync run timeout (default 300)",
    )
    parser.add_argument("--no-v2", action="store_true", help="answer 404 on every /api/v2/* path")
    args = parser.parse_args(argv)
    settings = EmulatorSettings(
        rate_limit_sync=args.rate_limit_sync,
        rate_limit_async=args.rate_limit_async,
        rate_limit_burst=args.rate_limit_burst,
        rate_limit_window_seconds=args.rate_limit_window_seconds,
        sync_timeout_seconds=args.sync_timeout_seconds,
        v2_enabled=not args.no_v2,
    )
    try:
        settings.validate()
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
