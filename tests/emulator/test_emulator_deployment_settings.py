"""Settings for how a Sim server is deployed, with Sim's defaults: v2 off unless ``V2_API``, async
runs from the database queue; and the two controls for recorded races (v1 status lag, held async runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from emulator_helpers import poll

from airflow_provider_sim.emulator.__main__ import parse_args
from airflow_provider_sim.emulator.config import EmulatorSettings
from airflow_provider_sim.emulator.control import EmulatorHandle


@pytest.fixture
def v2(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{emulator.base_url}/api/v2", headers=emulator.headers, timeout=10) as c:
        yield c


@pytest.mark.parametrize(
    ("env", "argv", "v2"),
    [
        (None, [], False),
        ("true", [], True),
        ("1", [], True),
        ("false", [], False),
        ("false", ["--v2"], True),
        ("TRUE", ["--no-v2"], False),
    ],
)
def test_v2_is_off_unless_v2_api_or_the_flag_turns_it_on(
    monkeypatch: pytest.MonkeyPatch, env: str | None, argv: list[str], v2: bool
) -> None:
    if env is None:
        monkeypatch.delenv("V2_API", raising=False)
    else:
        monkeypatch.setenv("V2_API", env)
    assert parse_args(argv).settings.v2_enabled is v2


def test_defaults_are_a_self_hosted_sim() -> None:
    settings = EmulatorSettings()
    assert (settings.v2_enabled, settings.async_queue, settings.v1_status_lag_reads) == (False, "database", 0)
    assert settings.hold_async_runs is False
    assert parse_args(["--async-queue", "external"]).settings.async_queue == "external"


@pytest.mark.parametrize(
    "changes",
    [
        {"async_queue": "redis"},
        {"v1_status_lag_reads": -1},
        {"v1_status_lag_reads": True},
        {"hold_async_runs": 1},
    ],
)
def test_bad_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        EmulatorSettings().updated(changes)


def test_v2_switched_off_answers_sims_404_without_rate_limit_headers(
    v2: httpx.Client, emulator: EmulatorHandle
) -> None:
    emulator.control.settings(v2_enabled=False)
    refused = v2.post("/workflows/echo/execute", json={"input": {}})
    assert (refused.status_code, refused.json()) == (
        404,
        {"error": {"code": "NOT_FOUND", "message": "Not found"}},
    )
    assert not any(name.startswith("x-ratelimit-") for name in refused.headers)
    v1 = requests.post(
        f"{emulator.base_url}/api/workflows/echo/execute", json={}, headers=emulator.headers, timeout=5
    )
    assert v1.status_code == 200 and emulator.control.executions()[0]["apiVersion"] == "v1"


@pytest.mark.parametrize(("queue", "first"), [("database", "running"), ("external", "queued")])
def test_an_async_run_is_running_at_once_from_the_database_queue(
    v2: httpx.Client, emulator: EmulatorHandle, queue: str, first: str
) -> None:
    emulator.control.settings(async_queue=queue, async_queue_delay_seconds=30)
    run_id = v2.post("/workflows/hold/execute", json={"input": {}, "async": True}).json()["data"]["runId"]
    assert v2.get(f"/workflows/hold/runs/{run_id}").json()["data"]["status"] == first


def test_v1_status_lags_a_sync_200_for_the_reads_asked(emulator: EmulatorHandle) -> None:
    emulator.control.settings(v1_status_lag_reads=2)
    headers = {**emulator.headers, "X-Execution-Id": "lagging"}
    assert requests.post(
        f"{emulator.base_url}/api/workflows/echo/execute", json={}, headers=headers, timeout=5
    ).ok
    url = f"{emulator.base_url}/api/workflows/echo/executions/lagging"

    def read() -> dict[str, Any]:
        answer: dict[str, Any] = requests.get(url, headers=emulator.headers, timeout=5).json()
        return answer

    lagging = [read(), read()]
    assert [entry["status"] for entry in lagging] == ["running", "running"]
    assert lagging[0]["endedAt"] is None and lagging[0]["cost"] is None
    assert read()["status"] == "completed"


def test_held_async_runs_wait_running_until_released(v2: httpx.Client, emulator: EmulatorHandle) -> None:
    emulator.control.settings(hold_async_runs=True)
    echo = v2.post("/workflows/echo/execute", json={"input": {"n": 1}, "async": True}).json()["data"]["runId"]
    fail = v2.post("/workflows/fail/execute", json={"input": {}, "async": True}).json()["data"]["runId"]
    assert [run["held"] for run in emulator.control.executions()] == [True, True]
    assert v2.get(f"/workflows/echo/runs/{echo}").json()["data"]["status"] == "running"
    assert emulator.control.release([echo, fail]) == [echo, fail]

    def status(workflow: str, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = v2.get(f"/workflows/{workflow}/runs/{run_id}?includeOutput=true").json()[
            "data"
        ]
        return data

    assert poll(lambda: status("echo", echo), lambda d: d["status"] != "running")["output"] == {"n": 1}
    assert poll(lambda: status("fail", fail), lambda d: d["status"] != "running")["status"] == "failed"
    sync = v2.post("/workflows/echo/execute", json={"input": {}}).json()["data"]
    assert sync["status"] == "completed", "sync runs are never held"
