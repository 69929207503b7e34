"""The control API under ``/_emulator/``: no API key, never logged, never faulted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_sim.emulator.endpoints import SimRouter
from airflow_provider_sim.emulator.faults import parse_fault
from airflow_provider_sim.emulator.messages import json_response, parse_json_body
from airflow_provider_sim.emulator.views import execution_log_entry

if TYPE_CHECKING:
    from airflow_provider_sim.emulator.core import Emulator


def _bad_request(message: str) -> Response:
    return json_response(400, {"error": message})


async def health(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``GET /_emulator/health``: ``{"status": "ok"}`` once the server answers."""
    return json_response(200, {"status": "ok"})


async def executions(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``GET /_emulator/executions``: every run started since the last reset, in start order."""
    return json_response(200, {"executions": [execution_log_entry(run) for run in em.store.all()]})


async def requests_received(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``GET /_emulator/requests``: every API request received since the last reset."""
    return json_response(200, {"requests": list(em.requests)})


async def list_faults(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``GET /_emulator/faults``: the faults still queued."""
    return json_response(200, {"faults": [fault.as_dict() for fault in em.faults.pending()]})


async def add_faults(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``POST /_emulator/faults``: queue one fault (a JSON object) or several (a JSON array)."""
    ok, body = parse_json_body(await req.body())
    if not ok or body is None:
        return _bad_request("send a fault object or an array of them")
    try:
        parsed = [parse_fault(item) for item in (body if isinstance(body, list) else [body])]
    except ValueError as exc:
        return _bad_request(str(exc))
    for fault in parsed:
        em.faults.add(fault)
    return json_response(200, {"faults": [fault.as_dict() for fault in em.faults.pending()]})


async def reset(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``POST /_emulator/reset``: clear runs, logs, faults and buckets; restore startup settings."""
    await em.reset()
    return json_response(200, {"reset": True, "settings": em.settings.as_dict()})


async def get_settings(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``GET /_emulator/settings``."""
    return json_response(200, em.settings.as_dict())


async def change_settings(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``POST /_emulator/settings`` with any of the :class:`EmulatorSettings` fields."""
    ok, body = parse_json_body(await req.body())
    if not ok or not isinstance(body, dict):
        return _bad_request("send a JSON object of settings")
    try:
        settings = em.update_settings(body)
    except (TypeError, ValueError) as exc:
        return _bad_request(str(exc))
    return json_response(200, settings.as_dict())


async def release(em: Emulator, req: Request, params: dict[str, str]) -> Response:
    """``POST /_emulator/release``: end held runs (workflow ``hold``).

    Body ``{"runIds": [...]}`` (those runs), ``{"workflowId": "hold"}`` or ``{}`` (every held run),
    optionally ``"fail": "message"`` to fail them instead of completing them. Answers
    ``{"released": [ids]}``: the runs that were still held.
    """
    ok, body = parse_json_body(await req.body())
    body = {} if ok and body is None else body
    if not ok or not isinstance(body, dict):
        return _bad_request("send a JSON object: {runIds?, workflowId?, fail?}")
    unknown = sorted(set(body) - {"runIds", "workflowId", "fail"})
    if unknown:
        return _bad_request(f"unknown release fields: {', '.join(unknown)}")
    run_ids = body.get("runIds")
    if run_ids is not None and not (isinstance(run_ids, list) and all(isinstance(i, str) for i in run_ids)):
        return _bad_request("runIds must be a list of run ids")
    workflow_id = body.get("workflowId")
    if workflow_id is not None and not isinstance(workflow_id, str):
        return _bad_request("workflowId must be a string")
    fail = body.get("fail")
    if fail is not None and (not isinstance(fail, str) or not fail):
        return _bad_request("fail must be a non-empty message")
    released = em.runner.release(run_ids, workflow_id, fail)
    return json_response(200, {"released": released})


router = SimRouter("control")
router.add("GET", "/_emulator/health", health)
router.add("GET", "/_emulator/executions", executions)
router.add("GET", "/_emulator/requests", requests_received)
router.add("GET", "/_emulator/faults", list_faults)
router.add("POST", "/_emulator/faults", add_faults)
router.add("POST", "/_emulator/reset", reset)
router.add("GET", "/_emulator/settings", get_settings)
router.add("POST", "/_emulator/settings", change_settings)
router.add("POST", "/_emulator/release", release)
