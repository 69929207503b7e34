"""The ``hold`` workflow and ``POST /_emulator/release``: runs held open with no timing involved."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from emulator_helpers import poll

from airflow_provider_sim.emulator.control import EmulatorHandle


@pytest.fixture
def v2(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{emulator.base_url}/api/v2", headers=emulator.headers, timeout=10) as c:
        yield c


def hold(v2: httpx.Client, payload: Any = None, run_id: str | None = None) -> str:
    headers = {} if run_id is None else {"X-Run-Id": run_id}
    response = v2.post(
        "/workflows/hold/execute", json={"input": payload or {}, "async": True}, headers=headers
    )
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["runId"])


def status(v2: httpx.Client, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = v2.get(f"/workflows/hold/runs/{run_id}", params={"includeOutput": "true"}).json()[
        "data"
    ]
    return data


def settled(v2: httpx.Client, run_id: str) -> dict[str, Any]:
    return poll(
        lambda: status(v2, run_id), lambda data: data["status"] in ("completed", "failed", "cancelled")
    )


def test_a_held_run_stays_running_until_released(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    run_id = hold(v2, {"n": 1})
    poll(lambda: status(v2, run_id), lambda data: data["status"] == "running")
    assert emulator.control.release([run_id]) == [run_id]
    done = settled(v2, run_id)
    assert done["status"] == "completed" and done["output"] == {"n": 1}
    assert emulator.control.release([run_id]) == []  # already released: nothing to do


def test_release_with_fail_fails_the_run(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    run_id = hold(v2)
    assert emulator.control.release(fail="upstream broke") == [run_id]
    done = settled(v2, run_id)
    # read back, a block's failure is prefixed with the block's name, as on Sim
    assert done["status"] == "failed" and done["error"]["message"] == "Function 1: upstream broke"


def test_a_sync_execute_answers_once_released(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    answers: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: answers.append(v2.post("/workflows/hold/execute", json={"input": {"k": "v"}}))
    )
    caller.start()
    running = poll(emulator.control.executions, lambda runs: len(runs) == 1)
    assert running[0]["status"] == "running" and not answers
    emulator.control.release()
    caller.join(timeout=10)
    data = answers[0].json()["data"]
    assert data["status"] == "completed" and data["output"] == {"k": "v"}


def test_release_selects_by_ids_workflow_or_all(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    first, second, third = hold(v2), hold(v2), hold(v2)
    assert emulator.control.release([second, "no-such-run"]) == [second]
    response = httpx.post(f"{emulator.base_url}/_emulator/release", json={"workflowId": "echo"})
    assert response.json() == {"released": []}
    response = httpx.post(f"{emulator.base_url}/_emulator/release", json={"workflowId": "hold"})
    assert response.json() == {"released": [first, third]}
    for run_id in (first, second, third):
        assert settled(v2, run_id)["status"] == "completed"


def test_a_queued_run_released_early_completes_when_it_starts(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.control.settings(async_queue="external", async_queue_delay_seconds=0.3)
    run_id = hold(v2, {"early": True})
    assert status(v2, run_id)["status"] == "queued"
    assert emulator.control.release([run_id]) == [run_id]
    assert settled(v2, run_id)["output"] == {"early": True}


def test_cancel_ends_a_held_run(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    run_id = hold(v2)
    poll(lambda: status(v2, run_id), lambda data: data["status"] == "running")
    assert v2.post(f"/workflows/hold/runs/{run_id}/cancel").json()["data"]["reason"] == "recorded"
    assert status(v2, run_id)["status"] == "cancelled"
    assert emulator.control.release() == []


def test_release_rejects_bad_bodies(emulator: EmulatorHandle) -> None:
    url = f"{emulator.base_url}/_emulator/release"
    for body in ({"runIds": "one"}, {"fail": ""}, {"workflowId": 3}, {"other": 1}, [1]):
        assert httpx.post(url, json=body).status_code == 400, body
    with pytest.raises(ValueError, match="runIds"):
        emulator.control._call("POST", "release", {"runIds": [1]})
