"""``GET /api/v2/workflows/{id}/runs`` over real HTTP, against the v2 spec's listWorkflowRunsV2."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emulator_helpers import poll

from airflow_provider_sim.emulator.control import EmulatorHandle

ITEM_KEYS = {"runId", "workflowId", "status", "trigger", "startedAt", "endedAt", "durationMs", "cost"}
#: runs started within one millisecond are ordered by id: name them in start order
_sequence = itertools.count()


@pytest.fixture
def v2(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{emulator.base_url}/api/v2", headers=emulator.headers, timeout=10) as c:
        yield c


def run(v2: httpx.Client, workflow: str = "echo", payload: Any = None, **body: Any) -> str:
    run_id = f"run-{next(_sequence):06d}"
    response = v2.post(
        f"/workflows/{workflow}/execute", json={"input": payload or {}, **body}, headers={"X-Run-Id": run_id}
    )
    assert response.status_code in (200, 202), response.text
    return str(response.json()["data"]["runId"])


def page(v2: httpx.Client, workflow: str = "echo", **params: Any) -> dict[str, Any]:
    response = v2.get(f"/workflows/{workflow}/runs", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"data", "nextCursor"}
    return body


def walk(
    v2: httpx.Client, limit: int, order: str | None = None, between: Any = None, **filters: Any
) -> list[str]:
    """Every run id, page by page; ``between()`` runs after the first page."""
    params: dict[str, Any] = {"limit": limit, **filters}
    if order is not None:
        params["order"] = order
    seen: list[str] = []
    cursor = None
    while True:
        body = page(v2, **params, **({} if cursor is None else {"cursor": cursor}))
        assert len(body["data"]) <= limit
        seen += [item["runId"] for item in body["data"]]
        cursor = body["nextCursor"]
        if cursor is None:
            return seen
        if between is not None:
            between()
            between = None


def test_items_have_status_times_and_cost_but_no_output(v2: httpx.Client) -> None:
    done = run(v2, payload={"secret": 1})
    failed = run(v2, "fail")
    [item] = page(v2)["data"]
    assert set(item) == ITEM_KEYS and item["runId"] == done
    assert item["workflowId"] == "echo" and item["status"] == "completed" and item["trigger"] == "api"
    assert item["endedAt"] and isinstance(item["durationMs"], int) and item["cost"] == {"total": 0.0001}
    assert "secret" not in repr(item)
    [failure] = page(v2, "fail")["data"]
    assert (
        failure["runId"] == failed and failure["status"] == "failed" and failure["cost"] == {"total": 0.0001}
    )


def test_newest_first_by_default_and_paging_is_complete_both_ways(v2: httpx.Client) -> None:
    ids = [run(v2) for _ in range(7)]
    assert walk(v2, limit=3) == ids[::-1]
    assert walk(v2, limit=3, order="desc") == ids[::-1]
    assert walk(v2, limit=2, order="asc") == ids
    assert walk(v2, limit=100) == ids[::-1]
    first = page(v2, limit=7)
    assert first["nextCursor"] is None and len(first["data"]) == 7


def test_paging_stays_correct_while_runs_are_added(v2: httpx.Client) -> None:
    ids = [run(v2) for _ in range(5)]
    added: list[str] = []
    descending = walk(v2, limit=2, between=lambda: added.extend(run(v2) for _ in range(3)))
    assert descending == ids[::-1]  # newer runs sort before the cursor: a fresh walk shows them
    later: list[str] = []
    ascending = walk(v2, limit=2, order="asc", between=lambda: later.extend(run(v2) for _ in range(2)))
    assert ascending == ids + added + later


def test_limit_may_change_between_pages(v2: httpx.Client) -> None:
    ids = [run(v2) for _ in range(5)]
    first = page(v2, limit=1, order="asc")
    rest = page(v2, limit=10, order="asc", cursor=first["nextCursor"])
    assert [item["runId"] for item in first["data"] + rest["data"]] == ids


def test_filters_by_status_trigger_and_window(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    held = run(v2, "hold", **{"async": True})
    poll(lambda: page(v2, "hold", status="running")["data"], lambda items: len(items) == 1)
    emulator.control.release()
    poll(lambda: page(v2, "hold", status="completed")["data"], lambda items: len(items) == 1)
    failed = run(v2, "hold", **{"async": True})
    poll(lambda: page(v2, "hold", status="running")["data"], lambda items: len(items) == 1)
    emulator.control.release(fail="no")
    failures = poll(lambda: page(v2, "hold", status="failed")["data"], lambda items: len(items) == 1)
    assert failures[0]["runId"] == failed
    assert [item["runId"] for item in page(v2, "hold", status="completed")["data"]] == [held]
    assert page(v2, "hold", status="paused")["data"] == []
    assert len(page(v2, "hold", trigger="api")["data"]) == 2
    assert page(v2, "hold", trigger="schedule")["data"] == []
    started = page(v2, "hold", order="asc")["data"]
    first_start, second_start = started[0]["startedAt"], started[1]["startedAt"]
    only_second = page(v2, "hold", startDate=second_start)["data"]
    assert [item["runId"] for item in only_second] == [failed]
    only_first = page(v2, "hold", endDate=first_start, startDate=first_start)["data"]
    assert [item["runId"] for item in only_first] == [held]
    assert page(v2, "hold", endDate="2000-01-01T00:00:00Z")["data"] == []


def test_a_queued_run_is_not_listed_until_it_starts(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(async_queue="external", async_queue_delay_seconds=30)
    queued = run(v2, **{"async": True})
    assert v2.get(f"/workflows/echo/runs/{queued}").json()["data"]["status"] == "queued"
    assert page(v2)["data"] == [] and page(v2, status="pending")["data"] == []
    emulator.control.settings(async_queue_delay_seconds=0)
    started = run(v2, **{"async": True})
    poll(lambda: page(v2)["data"], lambda items: [item["runId"] for item in items] == [started])


def test_only_the_workflows_own_runs_are_listed(v2: httpx.Client) -> None:
    run(v2, "fail")
    mine = run(v2)
    assert [item["runId"] for item in page(v2)["data"]] == [mine]
    assert page(v2, "stream")["data"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "queued"},
        {"status": "done"},
        {"startDate": "2026-08-06"},
        {"startDate": "2026-08-06T00:00:00+02:00"},
        {"endDate": "2026-02-30T00:00:00Z"},
        {"startDate": "0000-01-01T00:00:00Z"},
        {"startDate": "2026-08-07T00:00:00Z", "endDate": "2026-08-06T00:00:00Z"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "2.5"},
        {"limit": "\u00b2"},  # a digit to str.isdigit, not to int()
        {"order": "newest"},
        {"sortBy": "startedAt"},
        {"sortOrder": "desc"},
        {"trigger": ""},
        {"cursor": "not-a-cursor"},
    ],
)
def test_bad_queries_answer_400(v2: httpx.Client, params: dict[str, str]) -> None:
    response = v2.get("/workflows/echo/runs", params=params)
    assert response.status_code == 400, params
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST" and error["message"] and error["details"]


def test_repeated_keys_answer_400(v2: httpx.Client) -> None:
    assert v2.get("/workflows/echo/runs?limit=1&limit=2").status_code == 400


def test_a_cursor_only_works_under_its_own_order_and_filters(v2: httpx.Client) -> None:
    for _ in range(3):
        run(v2)
    cursor = page(v2, limit=1)["nextCursor"]
    assert cursor
    resorted = v2.get("/workflows/echo/runs", params={"cursor": cursor, "order": "asc"})
    assert resorted.status_code == 400 and "sort" in resorted.json()["error"]["message"]
    refiltered = v2.get("/workflows/echo/runs", params={"cursor": cursor, "status": "completed"})
    assert refiltered.status_code == 400 and "filters" in refiltered.json()["error"]["message"]
    elsewhere = v2.get("/workflows/fail/runs", params={"cursor": cursor})
    assert elsewhere.status_code == 400


def test_unknown_workflow_is_404_and_the_list_has_its_own_bucket(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    missing = v2.get("/workflows/no-such-workflow/runs")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    emulator.control.settings(rate_limit_api=1)
    assert [v2.get("/workflows/echo/runs").status_code for _ in range(3)] == [200, 200, 429]
    assert v2.get("/workflows/echo/runs/some-run").status_code == 404  # runs.read: its own bucket
