"""The control API under ``/_emulator/``: no API key, never logged, never faulted."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_sim.emulator.endpoints import EmulatorDep
from airflow_provider_sim.emulator.faults import Fault
from airflow_provider_sim.emulator.messages import json_response, parse_json_body
from airflow_provider_sim.emulator.views import execution_log_entry

router = APIRouter(prefix="/_emulator")


class Release(BaseModel):
    """The body of ``POST /_emulator/release``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    runIds: list[str] | None = None
    workflowId: str | None = None
    fail: str | None = Field(None, min_length=1)


def _bad_request(message: str) -> Response:
    return json_response(400, {"error": message})


def _invalid(exc: ValidationError) -> Response:
    """A 400 naming each bad field and why, one line each."""
    problems = [f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in exc.errors()]
    return _bad_request("; ".join(problems))


@router.get("/health")
async def health() -> Response:
    """``GET /_emulator/health``: ``{"status": "ok"}`` once the server answers."""
    return json_response(200, {"status": "ok"})


@router.get("/executions")
async def executions(em: EmulatorDep) -> Response:
    """``GET /_emulator/executions``: every run started since the last reset, in start order."""
    return json_response(200, {"executions": [execution_log_entry(run) for run in em.store.all()]})


@router.get("/requests")
async def requests_received(em: EmulatorDep) -> Response:
    """``GET /_emulator/requests``: every API request received since the last reset."""
    return json_response(200, {"requests": list(em.requests)})


@router.get("/faults")
async def list_faults(em: EmulatorDep) -> Response:
    """``GET /_emulator/faults``: the faults still queued."""
    return json_response(200, {"faults": [fault.model_dump() for fault in em.faults.pending()]})


@router.post("/faults")
async def add_faults(em: EmulatorDep, req: Request) -> Response:
    """``POST /_emulator/faults``: queue one fault (a JSON object) or several (a JSON array)."""
    ok, body = parse_json_body(await req.body())
    if not ok or body is None:
        return _bad_request("send a fault object or an array of them")
    try:
        parsed = [Fault.model_validate(item) for item in (body if isinstance(body, list) else [body])]
    except ValidationError as exc:
        return _invalid(exc)
    for fault in parsed:
        em.faults.add(fault)
    return json_response(200, {"faults": [fault.model_dump() for fault in em.faults.pending()]})


@router.post("/reset")
async def reset(em: EmulatorDep) -> Response:
    """``POST /_emulator/reset``: clear runs, logs, faults and buckets; restore startup settings."""
    await em.reset()
    return json_response(200, {"reset": True, "settings": em.settings.as_dict()})


@router.get("/settings")
async def get_settings(em: EmulatorDep) -> Response:
    """``GET /_emulator/settings``."""
    return json_response(200, em.settings.as_dict())


@router.post("/settings")
async def change_settings(em: EmulatorDep, req: Request) -> Response:
    """``POST /_emulator/settings`` with any of the :class:`EmulatorSettings` fields."""
    ok, body = parse_json_body(await req.body())
    if not ok or not isinstance(body, dict):
        return _bad_request("send a JSON object of settings")
    try:
        settings = em.update_settings(body)
    except ValidationError as exc:
        return _invalid(exc)
    except ValueError as exc:
        return _bad_request(str(exc))
    return json_response(200, settings.as_dict())


@router.post("/release")
async def release(em: EmulatorDep, req: Request) -> Response:
    """``POST /_emulator/release``: end held runs (workflow ``hold``).

    Body ``{"runIds": [...]}`` (those runs), ``{"workflowId": "hold"}`` or ``{}`` (every held run),
    optionally ``"fail": "message"`` to fail them instead of completing them. Answers
    ``{"released": [ids]}``: the runs that were still held.
    """
    ok, body = parse_json_body(await req.body())
    if not ok:
        return _bad_request("send a JSON object: {runIds?, workflowId?, fail?}")
    try:
        release = Release.model_validate({} if body is None else body)
    except ValidationError as exc:
        return _invalid(exc)
    released = em.runner.release(release.runIds, release.workflowId, release.fail)
    return json_response(200, {"released": released})
