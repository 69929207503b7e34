"""Sim's own OpenAPI specs (``openapi/``, copied from Sim) against the emulator, with schemathesis.

For each operation the provider uses, schemathesis generates requests from the spec (valid ones,
invalid ones, other methods, missing auth), sends them to the emulator over HTTP and checks every
answer against the spec: status codes, content types, headers, bodies, that invalid data is
refused and valid data accepted. Twice: with generated ids (unknown resources, so mostly error
answers), and with the ids of a real workflow, run and job (so success answers too).

Where the emulator answers as the real Sim server does although the spec says otherwise, the
check is skipped for exactly that answer, as listed with its reason in ``openapi_known_gaps.toml``.
Generation is derandomized and bounded: the same requests on every run, a few seconds in all.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from emulator_helpers import poll
from hypothesis import HealthCheck, settings
from schemathesis import Case

from airflow_provider_sim.emulator.app import create_app
from airflow_provider_sim.emulator.config import EmulatorConfig, EmulatorSettings
from airflow_provider_sim.emulator.control import EmulatorHandle

HERE = Path(__file__).parent
V2_OPERATIONS = [
    "executeWorkflowV2",
    "getWorkflowRunV2",
    "listWorkflowRunsV2",
    "cancelRunV2",
    "resumeWorkflowRunV2",
    "getWorkflow",
    "getWorkflowDeployment",
]
# the v1 deployment status (GET /api/workflows/{id}/status) is not in Sim's spec
V1_OPERATIONS = [
    "executeWorkflow",
    "getJobStatus",
    "getWorkflowExecution",
    "cancelExecution",
    "resumeExecution",
    "getUsageLimits",
]
V2_SPEC = schemathesis.openapi.from_path(HERE / "openapi" / "openapi-v2-workflows.json").include(
    operation_id=V2_OPERATIONS
)
V1_SPEC = schemathesis.openapi.from_path(HERE / "openapi" / "openapi-core.json").include(
    operation_id=V1_OPERATIONS
)
BOUNDED = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass(frozen=True)
class KnownGap:
    """A check skipped for one operation's answers: those with this ``status``, an error message
    starting with ``message``, this ``content_type`` and request ``method``, each when given."""

    operation: str
    check: str
    reason: str
    status: int | None = None
    message: str | None = None
    content_type: str | None = None
    method: str | None = None

    def covers(self, case: Case, response: Any) -> bool:
        """True if this gap applies to ``response``, the emulator's answer to ``case``."""
        if case.operation.definition.raw.get("operationId") != self.operation:
            return False
        if self.method is not None and case.method.upper() != self.method:
            return False
        if self.status is not None and response.status_code != self.status:
            return False
        content_types = response.headers.get("content-type", [""])  # schemathesis: a list per name
        if self.content_type is not None and not content_types[0].startswith(self.content_type):
            return False
        return self.message is None or (error_message(response) or "").startswith(self.message)


def load_gaps() -> list[KnownGap]:
    """The known spec gaps from ``openapi_known_gaps.toml``."""
    document = tomllib.loads((HERE / "openapi_known_gaps.toml").read_text())
    return [KnownGap(**gap) for gap in document.get("gap", [])]


GAPS = load_gaps()


def error_message(response: Any) -> str | None:
    """The message of a v2 (``{"error": {"message"}}``) or v1 (``{"error": "..."}``) error answer."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) else None


def call_and_check(case: Case, emulator: EmulatorHandle) -> None:
    """Send ``case`` to the emulator and run every check except the known gaps for this answer."""
    response = case.call(base_url=emulator.base_url, headers=emulator.headers, timeout=10)
    skipped = {gap.check for gap in GAPS if gap.covers(case, response)}
    case.validate_response(
        response,
        headers=emulator.headers,
        excluded_checks=[getattr(schemathesis.checks, name) for name in sorted(skipped)],
    )


@pytest.fixture
def spec_emulator(emulator: EmulatorHandle) -> EmulatorHandle:
    """The reset emulator without its per-IP bucket, so the generated requests are never throttled."""
    emulator.control.settings(rate_limit_ip=None)
    return emulator


@dataclass(frozen=True)
class KnownIds:
    """Ids of resources that exist on the emulator, to put in place of generated ones."""

    workflow: str
    run: str
    job: str

    def substitute(self, case: Case) -> None:
        """Point ``case`` at these resources, unless it tests a bad path on purpose."""
        meta = case.meta
        if meta is None or not meta.generation.mode.is_positive:
            return
        ids = {"id": self.workflow, "workflowId": self.workflow, "runId": self.run}
        ids.update(executionId=self.run, jobId=self.job)
        for name in list(case.path_parameters):
            if name in ids:
                case.path_parameters[name] = ids[name]


@pytest.fixture
def known_ids(spec_emulator: EmulatorHandle) -> KnownIds:
    """A finished echo run (v2) and a completed async v1 job."""
    with httpx.Client(base_url=spec_emulator.base_url, headers=spec_emulator.headers, timeout=10) as client:
        run = client.post("/api/v2/workflows/echo/execute", json={"input": {"x": 1}})
        job = client.post("/api/workflows/echo/execute", json={"x": 1}, headers={"X-Execution-Mode": "async"})
        assert run.status_code == 200 and job.status_code == 202, (run.text, job.text)
        job_id = job.json()["jobId"]
        poll(lambda: client.get(f"/api/jobs/{job_id}").json()["status"], lambda status: status == "completed")
    return KnownIds(workflow="echo", run=run.json()["data"]["runId"], job=job_id)


@V2_SPEC.parametrize()
@BOUNDED
def test_v2_spec_with_generated_ids(case: Case, spec_emulator: EmulatorHandle) -> None:
    call_and_check(case, spec_emulator)


@V2_SPEC.parametrize()
@BOUNDED
def test_v2_spec_with_known_ids(case: Case, spec_emulator: EmulatorHandle, known_ids: KnownIds) -> None:
    known_ids.substitute(case)
    call_and_check(case, spec_emulator)


@V1_SPEC.parametrize()
@BOUNDED
def test_v1_spec_with_generated_ids(case: Case, spec_emulator: EmulatorHandle) -> None:
    call_and_check(case, spec_emulator)


@V1_SPEC.parametrize()
@BOUNDED
def test_v1_spec_with_known_ids(case: Case, spec_emulator: EmulatorHandle, known_ids: KnownIds) -> None:
    known_ids.substitute(case)
    call_and_check(case, spec_emulator)


def test_every_known_gap_names_a_tested_operation_and_a_real_check() -> None:
    for gap in GAPS:
        assert gap.operation in V2_OPERATIONS + V1_OPERATIONS, gap
        assert callable(getattr(schemathesis.checks, gap.check)), gap
        assert gap.reason.strip(), gap


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/api/v2/workflows/echo%0A", 404, None),
        ("GET", "/api/v2/workflows/echo/runs/r1%0A", 404, None),
        ("GET", "/api/v2/workflows/echo%2Fx/deployment", 404, None),
        ("GET", "/api/v2/no-such-path", 404, None),
        ("GET", "/api/v2/workflows/echo/", 404, None),
        ("DELETE", "/api/v2/workflows/echo", 405, "GET, HEAD"),
        ("GET", "/api/v2/workflows/echo/execute", 405, "POST"),
        ("GET", "/api/no-such-path%01", 404, None),
        ("GET", "/api/workflows/echo/execute", 405, "POST"),
        ("PUT", "/_emulator/settings", 405, "GET, POST"),
    ],
)
def test_fastapi_own_answers_speak_sims_error_shapes(
    emulator: EmulatorHandle, method: str, path: str, status: int, allow: str | None
) -> None:
    """Unknown paths, ids with control characters or slashes, and other methods: Sim's envelopes."""
    response = httpx.request(method, f"{emulator.base_url}{path}", headers=emulator.headers)
    assert response.status_code == status
    assert response.headers.get("allow") == allow
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    if path.startswith("/api/v2/"):
        expected_code = "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED"
        assert error["code"] == expected_code and isinstance(error["message"], str)
    else:
        assert isinstance(error, str)


@pytest.mark.parametrize("path", ["/api/v2/probe", "/api/probe"])
async def test_fastapi_validation_errors_speak_sims_error_shapes(path: str) -> None:
    app = create_app(EmulatorConfig(api_key="sk-sim-unit", settings=EmulatorSettings(v2_enabled=True)))

    async def probe(limit: int) -> dict[str, int]:
        return {"limit": limit}

    app.add_api_route(path, probe)  # a route with a typed parameter, which FastAPI itself validates
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim.test"
    ) as client:
        response = await client.get(path, params={"limit": "many"})
    assert response.status_code == 400
    error = response.json()["error"]
    if path.startswith("/api/v2/"):
        assert error["code"] == "BAD_REQUEST"
        assert error["details"][0]["path"] == ["query", "limit"]
        error = error["message"]
    assert error.startswith("Input should be a valid integer")
