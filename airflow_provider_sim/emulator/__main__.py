"""Command line: ``python -m airflow_provider_sim.emulator`` / ``sim-emulator``.

Prints exactly one line, ``Sim emulator listening on http://HOST:PORT``, once it accepts
connections, and exits with status 0 on SIGTERM or SIGINT. Every :class:`EmulatorSettings` field
is a flag (``rate_limit_sync`` is ``--rate-limit-sync``, ``v2_enabled`` is ``--v2``), its help the
field's description.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType, NoneType
from typing import Any, get_args

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from airflow_provider_sim.emulator.config import (
    API_KEY_ENV_VAR,
    DEFAULT_HOST,
    READY_PREFIX,
    EmulatorConfig,
    EmulatorSettings,
    default_api_key,
    v2_api_from_env,
)

#: marks an option left off the command line (so a ``--plan`` value stands)
NOT_GIVEN: Any = object()
#: settings whose flag is not their name
FLAG_NAMES = {"v2_enabled": "v2"}


def _leaves(annotation: Any) -> list[Any]:
    """The types and literal values an annotation is made of (``Annotated`` metadata included)."""
    args = get_args(annotation)
    return [leaf for arg in args for leaf in _leaves(arg)] if args else [annotation]


def _number(kind: Callable[[str], float], optional: bool) -> Callable[[str], float | None]:
    """A number read by ``kind``, or ``None`` (no limit) for ``none`` / ``unlimited`` if ``optional``."""

    def parse(text: str) -> float | None:
        if optional and text.lower() in ("none", "unlimited"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number{' or none' * optional}, got {text!r}"
            ) from None

    return parse


def _add_setting(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    flag = f"--{FLAG_NAMES.get(name, name).replace('_', '-')}"
    options: dict[str, Any] = {"dest": name, "default": NOT_GIVEN, "help": field.description}
    leaves = _leaves(field.annotation)
    if bool in leaves:
        options["action"] = argparse.BooleanOptionalAction
    elif choices := [leaf for leaf in leaves if isinstance(leaf, str)]:
        options["choices"] = choices + ["none"] * (NoneType in leaves)
    else:
        kind = float if float in leaves else int
        options.update(
            type=_number(kind, NoneType in leaves), metavar="N|none" if NoneType in leaves else "N"
        )
    parser.add_argument(flag, **options)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sim-emulator", description="Local Sim-compatible HTTP server for tests and demos."
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default 8765)")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"interface to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--api-key", help=f"the key to accept in X-API-Key (default ${API_KEY_ENV_VAR} or sk-sim-emulator)"
    )
    for name, field in EmulatorSettings.model_fields.items():
        _add_setting(parser, name, field)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    """Turn command-line arguments into an :class:`EmulatorConfig`.

    ``--plan`` sets the plan's counters; any limit flag given as well wins over the plan's value.

    :raises SystemExit: on bad arguments (argparse prints the usage).
    """
    parser = _build_parser()
    args = vars(parser.parse_args(argv))
    given = {name: value for name in EmulatorSettings.model_fields if (value := args[name]) is not NOT_GIVEN}
    given.setdefault("v2_enabled", v2_api_from_env())
    if given.get("plan") == "none":
        given["plan"] = None
    try:
        settings = EmulatorSettings.for_plan(given.pop("plan", None), **given)
    except ValidationError as exc:
        parser.error(
            "; ".join(f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        )
    return EmulatorConfig(
        api_key=args["api_key"] or default_api_key(), host=args["host"], port=args["port"], settings=settings
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
