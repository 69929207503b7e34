"""Plain HTML pages where Sim's web app has them, so the links the provider shows open offline.

``/workspace/{ws}/logs?executionId=<run>`` (a task's "Sim run" link) and ``/resume/{wf}/{run}`` (a
paused run's) show the run: status, input, output, timings; ``/workspace/{ws}/logs`` lists the
runs, ``/workspace/{ws}/w`` the workflows. No API key (a browser has none), not in the request log.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from airflow_provider_sim.emulator.state import Run, iso
from airflow_provider_sim.emulator.workflows import WORKFLOWS, WORKSPACE_ID

PAGE_PREFIXES = ("/workspace/", "/resume/")
_HOME = f"/workspace/{WORKSPACE_ID}"

router = APIRouter(include_in_schema=False)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = html.escape(title)
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{text} · Sim emulator</title></head>"
        f"<body><p><a href='{_HOME}/w'>Workflows</a> · <a href='{_HOME}/logs'>Runs</a></p>"
        f"<h1>{text}</h1>{body}</body></html>",
        status_code=status,
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table border='1'><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{cells}</table>"


def _pre(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"


def _run_link(run: Run) -> str:
    return f"<a href='{_HOME}/logs?executionId={quote(run.id, safe='')}'>{html.escape(run.id)}</a>"


def _duration(run: Run) -> str:
    if run.ended_at is None:
        return ""
    return f"{(run.ended_at - run.started_at).total_seconds() * 1000:.0f} ms"


def _no_such_workspace() -> HTMLResponse:
    return _page("Workspace not found", f"<p>The emulator's workspace is {WORKSPACE_ID}.</p>", 404)


def _run_page(request: Request, run_id: str, workflow_id: str | None = None) -> HTMLResponse:
    run = request.app.state.emulator.store.get(run_id)
    if run is None or workflow_id not in (None, run.workflow_id):
        return _page("Run not found", f"<p>No run {html.escape(run_id)} since the last reset.</p>", 404)
    facts = [
        ["Workflow", html.escape(run.workflow_id)],
        ["Status", html.escape(run.status.value)],
        ["Started", html.escape(iso(run.started_at) or "")],
        ["Ended", html.escape(iso(run.ended_at) or "")],
        ["Duration", _duration(run)],
        ["Trigger", f"api ({run.api_version}, {run.mode})"],
    ]
    if run.error:
        facts.append(["Error", html.escape(run.error)])
    body = _table(["", ""], facts) + "<h2>Input</h2>" + _pre(run.input) + "<h2>Output</h2>" + _pre(run.output)
    return _page(f"Run {run.id}", body)


def _runs_page(request: Request) -> HTMLResponse:
    runs = request.app.state.emulator.store.all()
    rows = [
        [_run_link(r), html.escape(r.workflow_id), r.status.value, iso(r.started_at) or "", _duration(r)]
        for r in reversed(runs)
    ]
    return _page("Runs", _table(["Run", "Workflow", "Status", "Started", "Duration"], rows))


@router.get("/workspace/{workspace_id}/logs")
async def logs(
    request: Request, workspace_id: str, execution_id: str | None = Query(None, alias="executionId")
) -> HTMLResponse:
    """One run's page (``executionId``), else every run since the last reset, newest first."""
    if workspace_id != WORKSPACE_ID:
        return _no_such_workspace()
    return _runs_page(request) if execution_id is None else _run_page(request, execution_id)


@router.get("/resume/{workflow_id}/{run_id}")
async def resume_page(request: Request, workflow_id: str, run_id: str) -> HTMLResponse:
    """A paused run's page (Sim's form to answer it; here its state, answered through the API)."""
    return _run_page(request, run_id, workflow_id)


@router.get("/workspace/{workspace_id}/w")
async def workflows(request: Request, workspace_id: str) -> HTMLResponse:
    """The preloaded workflows."""
    if workspace_id != WORKSPACE_ID:
        return _no_such_workspace()
    rows = [
        [f"<code>{html.escape(w.id)}</code>", html.escape(w.name), html.escape(w.description), deployment]
        for w in WORKFLOWS.values()
        for deployment in ["deployed" if w.deployed else "not deployed"]
    ]
    return _page("Workflows", _table(["Id", "Name", "What it does", "Deployment"], rows))
