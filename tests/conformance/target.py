"""The Sim server the conformance suite checks: the emulator it starts itself, or the one you name.

Against your own Sim, set (``make conformance`` passes them through)::

    SIM_BASE_URL                  e.g. http://localhost:3000
    SIM_API_KEY                   a personal or workspace key (sk-sim-...)
    SIM_ECHO_WORKFLOW_ID          a deployed workflow that completes at once with some output
    SIM_FAIL_WORKFLOW_ID          a deployed workflow whose run fails (a Function block that throws)
    SIM_UNDEPLOYED_WORKFLOW_ID    optional: a workflow that exists but is not deployed
    SIM_SLOW_WORKFLOW_ID          optional: a deployed workflow that runs for ``input.seconds``
                                  (a Wait block); needed to check cancel and wait deadlines
    SIM_APPROVAL_WORKFLOW_ID      optional: a deployed workflow with a Human-in-the-loop block;
                                  needed to check pause and resume

They are read only when ``SIM_CONFORMANCE=server`` is set too (``make conformance`` sets it), so
``make test`` checks the emulator even in a shell where the real-sim kit exported ``SIM_BASE_URL``.
Otherwise the suite starts the emulator on loopback, with v2 switched on. A test that needs an
optional id skips, saying which variable to set; nothing here uses the emulator's own controls
against a real server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_sim.emulator.control import EmulatorControl
from airflow_provider_sim.emulator.process import EmulatorProcess

EMULATOR_API_KEY = "sk-sim-conformance-key"
REQUIRED = ("SIM_BASE_URL", "SIM_API_KEY", "SIM_ECHO_WORKFLOW_ID", "SIM_FAIL_WORKFLOW_ID")


class TargetConfigurationError(RuntimeError):
    """``SIM_BASE_URL`` is set but a required variable is missing."""


@dataclass(frozen=True)
class Target:
    """One Sim server and the workflows to run on it.

    :param emulator: the control client when the target is the suite's own emulator, else ``None``.
    :param slow: a workflow that runs until it is told to end (emulator: ``hold``, released through
        its control API) or for ``input.seconds`` (your Sim's ``SIM_SLOW_WORKFLOW_ID``).
    """

    base_url: str
    api_key: str = field(repr=False)
    echo: str
    fail: str
    undeployed: str | None
    slow: str | None
    approval: str | None
    emulator: EmulatorControl | None = field(default=None, compare=False)

    @property
    def is_emulator(self) -> bool:
        """True when the suite started the server itself (and may use its controls)."""
        return self.emulator is not None

    @property
    def description(self) -> str:
        """What the suite is checking, for the report header and skip reasons."""
        return (
            f"the emulator at {self.base_url}" if self.is_emulator else f"the Sim server at {self.base_url}"
        )

    def need(self, role: str) -> str:
        """The id of the optional workflow ``role`` (``undeployed``, ``slow``, ``approval``), or
        skip the test naming the variable that would let it run."""
        workflow_id: str | None = getattr(self, role)
        if not workflow_id:
            variable = f"SIM_{role.upper()}_WORKFLOW_ID"
            pytest.skip(
                f"set {variable} to check this against {self.base_url} (see tests/conformance/target.py)"
            )
        return workflow_id

    def slow_input(self, seconds: int = 120) -> dict[str, Any]:
        """The input that keeps a run of :attr:`slow` going for ``seconds`` (or until released)."""
        return {"seconds": seconds, "tag": "conformance"}

    def release(self, run_id: str) -> None:
        """End a held run on the emulator; on a real server the slow run ends by itself."""
        if self.emulator is not None:
            self.emulator.release([run_id])


def connection_json(target: Target, api: str) -> str:
    """An ``AIRFLOW_CONN_*`` value for the target in generation ``api``."""
    extra = {"api_version": api, "retry_initial_delay": 0.05, "retry_max_delay": 1.0}
    return json.dumps(
        {"conn_type": "sim", "host": target.base_url, "password": target.api_key, "extra": extra}
    )


def server_from_environment() -> str | None:
    """The base URL of the server the environment names, if the suite is asked to check one."""
    if os.environ.get("SIM_CONFORMANCE") != "server":
        return None
    return os.environ.get("SIM_BASE_URL") or None


def describe_environment() -> str:
    """One line naming the target from the environment alone (before anything starts)."""
    base_url = server_from_environment()
    if base_url:
        return f"Sim at {base_url}"
    ignored = (
        " (SIM_BASE_URL ignored: `make conformance` checks it)" if os.environ.get("SIM_BASE_URL") else ""
    )
    return f"the emulator (started by the suite on 127.0.0.1, v2 on){ignored}"


@contextmanager
def target_from_environment() -> Iterator[Target]:
    """The target named by ``SIM_*`` variables, or a freshly started emulator for the block's life.

    :raises TargetConfigurationError: ``SIM_BASE_URL`` is set but a required variable is not.
    """
    if server_from_environment():
        missing = [name for name in REQUIRED if not os.environ.get(name)]
        if missing:
            raise TargetConfigurationError(
                f"To check a Sim server set {', '.join(REQUIRED)}; missing: {', '.join(missing)} "
                "(see tests/conformance/target.py)"
            )
        yield Target(
            base_url=os.environ["SIM_BASE_URL"].rstrip("/"),
            api_key=os.environ["SIM_API_KEY"],
            echo=os.environ["SIM_ECHO_WORKFLOW_ID"],
            fail=os.environ["SIM_FAIL_WORKFLOW_ID"],
            undeployed=os.environ.get("SIM_UNDEPLOYED_WORKFLOW_ID") or None,
            slow=os.environ.get("SIM_SLOW_WORKFLOW_ID") or None,
            approval=os.environ.get("SIM_APPROVAL_WORKFLOW_ID") or None,
        )
        return
    # a real Sim answers 404 on /api/v2 unless V2_API is set, and so does the bare emulator: ask for v2
    with EmulatorProcess(api_key=EMULATOR_API_KEY, rate_limit_ip="none", v2=True) as server:
        yield Target(
            base_url=server.base_url,
            api_key=EMULATOR_API_KEY,
            echo="echo",
            fail="fail",
            undeployed="undeployed",
            slow="hold",
            approval="approval",
            emulator=server.control,
        )
