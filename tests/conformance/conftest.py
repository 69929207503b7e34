"""Fixtures of the conformance suite: the target server, each API generation it speaks, a hook on it.

- ``target`` (session): the :class:`~tests.conformance.target.Target` (see that module for the
  ``SIM_*`` variables); the emulator is started once for the session when none is given.
- ``v2_off`` (session): ``None`` when the target speaks v2, else why not (its v2 answers 404).
- ``api`` (``v1``, ``v2``): each generation; v2 tests skip with the fix when the target has v2 off.
- ``hook``: a :class:`SimHook` on the target in that generation, with fast backoff.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from airflow_provider_sim.exceptions import SimV2DisabledError
from airflow_provider_sim.hooks.sim import SimHook
from tests.conformance.target import Target, connection_json, describe_environment, target_from_environment


def pytest_report_header() -> str:
    return f"conformance target: {describe_environment()}"


@pytest.fixture(scope="session")
def target() -> Iterator[Target]:
    with target_from_environment() as found:
        yield found


@pytest.fixture(scope="session")
def v2_off(target: Target) -> str | None:
    """Ask the target for the echo workflow over v2 once: a bare 404 means v2 is switched off."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_SIM_CONFORMANCE_PROBE", connection_json(target, "v2"))
        try:
            SimHook("sim_conformance_probe").get_workflow(target.echo)
        except SimV2DisabledError:
            return (
                f"{target.description} has Sim's v2 API switched off (every /api/v2 path answers 404): "
                "checked v1 only; start Sim with V2_API=true to check v2 as well"
            )
    return None


@pytest.fixture(params=["v1", "v2"])
def api(request: pytest.FixtureRequest, v2_off: str | None) -> str:
    """Each API generation the target speaks."""
    if request.param == "v2" and v2_off:
        pytest.skip(v2_off)
    return str(request.param)


@pytest.fixture
def hook(target: Target, api: str, monkeypatch: pytest.MonkeyPatch) -> SimHook:
    """A hook on the target speaking ``api``."""
    conn_id = f"sim_conformance_{api}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(target, api))
    return SimHook(conn_id)


@pytest.fixture
def run_id(api: str) -> str:
    """A fresh client-chosen run id naming the suite (visible in Sim's logs)."""
    return f"conformance-{api}-{uuid.uuid4().hex[:12]}"
