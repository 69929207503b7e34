"""``GET /api/v2/workflows/{id}/runs``: one workflow's runs, filtered, newest first, cursor-paged.

As on Sim (``app/api/v2/workflows/[id]/runs/route.ts``): the query is strict (``sortBy`` /
``sortOrder`` and any other unknown key answer 400, as do blank or repeated values); runs are
ordered by start time, ties broken by run id, and the opaque cursor is a keyset position
``(startedAt, runId)`` stamped with the order and filters that produced it, so paging stays
correct while runs are added and a cursor replayed under other filters is refused. A run is
listed once it has begun executing (Sim writes the log row then): a queued async run is not
listed yet, although its status read answers ``queued``. Items carry no output.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_sim.emulator.endpoints import EmulatorDep
from airflow_provider_sim.emulator.messages import json_response, v2_error
from airflow_provider_sim.emulator.state import Run, RunStatus, iso
from airflow_provider_sim.emulator.views import cost_view
from airflow_provider_sim.emulator.workflows import WORKFLOWS

QUERY_KEYS = ("status", "trigger", "startDate", "endDate", "limit", "cursor", "order")
LIST_STATUSES = ("pending", "running", "completed", "failed", "cancelled", "paused")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
#: the spec's pattern for startDate / endDate: a real calendar date, a time, and ``Z``
INSTANT_PATTERN = re.compile(
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29"
    r"|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|(?:02)-(?:0[1-9]|1\d|2[0-8])))"
    r"T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z))$"
)
UNREADABLE_CURSOR = "cursor is not a valid pagination cursor. Restart pagination without a cursor."
RESORTED_CURSOR = (
    "cursor does not match the requested sortBy/sortOrder. "
    "Restart pagination without a cursor after changing the sort."
)
REFILTERED_CURSOR = (
    "cursor does not match the requested filters. "
    "Restart pagination without a cursor after changing a filter."
)
#: internal status → the list's vocabulary (a queued run would be ``pending``, were it listed)
_LIST_STATUS = {RunStatus.QUEUED: "pending"}


class QueryError(ValueError):
    """A bad query value; ``field`` names it (``None``: the query as a whole)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


def list_status(run: Run) -> str:
    """A run's ``status`` as the list reports it."""
    return _LIST_STATUS.get(run.status, run.status.value)


def list_item(run: Run) -> dict[str, Any]:
    """One ``WorkflowRunListItem``: status, times and cost; never the output."""
    return {
        "runId": run.id,
        "workflowId": run.workflow_id,
        "status": list_status(run),
        "trigger": "api",
        "startedAt": iso(run.started_at),
        "endedAt": iso(run.ended_at),
        "durationMs": run.duration_ms,
        "cost": cost_view(run),
    }


def _instant(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if not INSTANT_PATTERN.match(raw) or raw.startswith("0000"):
        raise QueryError(
            name, f"{name} must be a UTC ISO 8601 timestamp ending in Z, e.g. 2026-08-06T00:00:00Z"
        )
    return iso(datetime.fromisoformat(raw.replace("Z", "+00:00")))


def parse_query(query: list[tuple[str, str]]) -> dict[str, Any]:
    """Validate the list query; return ``status, trigger, start, end, limit, cursor, order``.

    ``start`` / ``end`` come back in the list's own timestamp format (milliseconds, ``Z``).

    :raises QueryError: naming the first bad parameter.
    """
    seen: dict[str, str] = {}
    for key, value in query:
        if key not in QUERY_KEYS:
            raise QueryError(key, f'Unrecognized key: "{key}"')
        if key in seen:
            raise QueryError(key, f"{key} must be given at most once")
        if value == "":
            raise QueryError(key, f"{key} cannot be empty")
        seen[key] = value
    status = seen.get("status")
    if status is not None and status not in LIST_STATUSES:
        raise QueryError("status", f"status must be one of {', '.join(LIST_STATUSES)}")
    order = seen.get("order", "desc")
    if order not in ("asc", "desc"):
        raise QueryError("order", "order must be asc or desc")
    raw_limit = seen.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise QueryError("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    start = _instant("startDate", seen.get("startDate"))
    end = _instant("endDate", seen.get("endDate"))
    if start is not None and end is not None and start > end:
        raise QueryError("startDate", "startDate must be before or equal to endDate")
    return {
        "status": status,
        "trigger": seen.get("trigger"),
        "start": start,
        "end": end,
        "limit": int(raw_limit),
        "cursor": seen.get("cursor"),
        "order": order,
    }


def _fingerprint(workflow_id: str, query: dict[str, Any]) -> str:
    scope = {key: query[key] for key in ("status", "trigger", "start", "end")}
    canonical = json.dumps({"workflowId": workflow_id, **scope}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def encode_cursor(position: tuple[str, str], order: str, scope: str) -> str:
    """The opaque cursor for the page after ``position`` (``(startedAt, runId)``)."""
    payload = {"sort": f"startedAt:{order}", "filter": scope, "keys": list(position)}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, order: str, scope: str) -> tuple[str, str]:
    """The position a cursor names.

    :raises QueryError: if it is unreadable, or was made under another order or other filters.
    """
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        sort, filter_, keys = payload["sort"], payload["filter"], payload["keys"]
    except (ValueError, binascii.Error, TypeError, KeyError):
        raise QueryError("cursor", UNREADABLE_CURSOR) from None
    if not (isinstance(keys, list) and len(keys) == 2 and all(isinstance(key, str) for key in keys)):
        raise QueryError("cursor", UNREADABLE_CURSOR)
    if sort != f"startedAt:{order}":
        raise QueryError("cursor", RESORTED_CURSOR)
    if filter_ != scope:
        raise QueryError("cursor", REFILTERED_CURSOR)
    return keys[0], keys[1]


def _position(run: Run) -> tuple[str, str]:
    return iso(run.started_at) or "", run.id


def select_page(
    runs: list[Run], query: dict[str, Any], after: tuple[str, str] | None
) -> tuple[list[Run], bool]:
    """The listed runs matching ``query`` after ``after``, one page of them, and whether more follow."""
    descending = query["order"] == "desc"
    chosen = []
    for run in runs:
        position = _position(run)
        if not run.began or (query["status"] is not None and list_status(run) != query["status"]):
            continue
        if query["trigger"] not in (None, "api"):
            continue
        if (query["start"] is not None and position[0] < query["start"]) or (
            query["end"] is not None and position[0] > query["end"]
        ):
            continue
        if after is not None and (position >= after if descending else position <= after):
            continue
        chosen.append(run)
    chosen.sort(key=_position, reverse=descending)
    limit: int = query["limit"]
    return chosen[:limit], len(chosen) > limit


async def list_runs(em: EmulatorDep, req: Request, workflow_id: str) -> Response:
    """``GET /api/v2/workflows/{id}/runs?status&trigger&startDate&endDate&limit&cursor&order``."""
    try:
        query = parse_query(req.query_params.multi_items())
        scope = _fingerprint(workflow_id, query)
        after = None if query["cursor"] is None else decode_cursor(query["cursor"], query["order"], scope)
    except QueryError as exc:
        issue = {"path": [] if exc.field is None else [exc.field], "message": str(exc)}
        return v2_error(400, str(exc), [issue])
    if workflow_id not in WORKFLOWS:
        return v2_error(404, "Workflow not found")
    runs = [run for run in em.store.all() if run.workflow_id == workflow_id]
    page, more = select_page(runs, query, after)
    next_cursor = encode_cursor(_position(page[-1]), query["order"], scope) if more and page else None
    body = {"data": [list_item(run) for run in page], "nextCursor": next_cursor}
    return json_response(200, body, {"cache-control": "private, no-store"})
