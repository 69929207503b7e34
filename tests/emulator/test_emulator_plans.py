"""``--plan`` / the ``plan`` setting: sim.ai's numbers per plan, each counter overridable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_sim.emulator.__main__ import parse_args
from airflow_provider_sim.emulator.config import PLAN_SETTINGS, EmulatorSettings
from airflow_provider_sim.emulator.control import EmulatorHandle

#: plan → (sync, async, per-operation API, in flight) per minute, from CONTRACT.md
SIM_PLANS = {
    "free": (50, 200, 30, 10),
    "pro": (150, 1000, 100, 50),
    "team": (300, 2500, 200, 200),
    "enterprise": (600, 5000, 500, 1000),
}


def counters(settings: EmulatorSettings | dict[str, Any]) -> tuple[Any, ...]:
    values = settings if isinstance(settings, dict) else settings.as_dict()
    return tuple(
        values[name]
        for name in ("rate_limit_sync", "rate_limit_async", "rate_limit_api", "max_runs_in_flight")
    )


@pytest.mark.parametrize("plan", sorted(SIM_PLANS))
def test_each_plan_sets_sims_numbers(plan: str) -> None:
    settings = EmulatorSettings.for_plan(plan)
    assert settings.plan == plan and counters(settings) == SIM_PLANS[plan]
    assert settings.rate_limit_burst is None and settings.rate_limit_api_burst is None  # 2 x rate
    assert settings.rate_limit_ip == 300 and settings.rate_limit_ip_burst is None  # every plan
    assert settings.concurrency_retry_after_seconds == 5


@pytest.mark.parametrize("plan", sorted(SIM_PLANS))
def test_each_plan_from_the_command_line(plan: str) -> None:
    assert counters(parse_args(["--plan", plan]).settings) == SIM_PLANS[plan]


def test_explicit_values_win_over_the_plan() -> None:
    settings = EmulatorSettings.for_plan("pro", rate_limit_api=7, max_runs_in_flight=None)
    assert counters(settings) == (150, 1000, 7, None)
    cli = parse_args(["--plan", "team", "--max-runs-in-flight", "3", "--rate-limit-sync", "none"])
    assert counters(cli.settings) == (None, 2500, 200, 3)
    assert parse_args(["--rate-limit-ip", "none"]).settings.rate_limit_ip is None


def test_self_hosted_defaults() -> None:
    settings = EmulatorSettings()
    assert settings.plan is None and counters(settings) == (None, None, None, None)
    assert settings.rate_limit_ip == 300 and settings.concurrency_retry_after_seconds == 5
    assert counters(EmulatorSettings.for_plan("free").updated({"plan": None})) == (None, None, None, None)
    assert set(PLAN_SETTINGS) <= set(settings.as_dict())


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"plan": "gold"}, "plan"),
        ({"rate_limit_api": 0}, "rate_limit_api"),
        ({"rate_limit_api_burst": "x"}, "rate_limit_api_burst"),
        ({"rate_limit_ip": -1}, "rate_limit_ip"),
        ({"rate_limit_ip_burst": True}, "rate_limit_ip_burst"),
        ({"max_runs_in_flight": 0}, "max_runs_in_flight"),
        ({"max_runs_in_flight": 2.5}, "max_runs_in_flight"),
        ({"concurrency_retry_after_seconds": 0}, "concurrency_retry_after_seconds"),
        ({"concurrency_retry_after_seconds": None}, "concurrency_retry_after_seconds"),
    ],
)
def test_every_new_setting_is_validated_by_name(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        EmulatorSettings().updated(changes)


def test_bad_plan_on_the_command_line_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--plan", "gold"])
    with pytest.raises(SystemExit):
        parse_args(["--max-runs-in-flight", "lots"])
    assert "max-runs-in-flight" in capsys.readouterr().err


def test_plan_through_the_control_api(emulator: EmulatorHandle) -> None:
    with pytest.raises(ValueError, match="plan must be one of"):
        emulator.control.settings(plan="gold")
    current = emulator.control.settings(plan="free", rate_limit_async=9)
    assert counters(current) == (50, 9, 30, 10) and current["plan"] == "free"
    base, headers = emulator.base_url, emulator.headers
    limits = httpx.get(f"{base}/api/users/me/usage-limits", headers=headers).json()
    assert limits["rateLimit"]["sync"]["requestsPerMinute"] == 50 and limits["usage"]["plan"] == "free"
    executed = httpx.post(f"{base}/api/v2/workflows/echo/execute", json={"input": {}}, headers=headers)
    # workflows.execute (2 x 30, 59 left) is stricter than the sync bucket (2 x 50, 99 left)
    assert executed.headers["x-ratelimit-limit"] == "60" and executed.headers["x-ratelimit-remaining"] == "59"
    read = httpx.get(f"{base}/api/v2/workflows/echo/runs", headers=headers)
    assert read.headers["x-ratelimit-limit"] == "60" and read.headers["x-ratelimit-remaining"] == "59"
    assert counters(emulator.control.settings(plan=None)) == (None, None, None, None)
    changed = emulator.control.settings(max_runs_in_flight=4, concurrency_retry_after_seconds=0.25)
    assert changed["max_runs_in_flight"] == 4 and changed["concurrency_retry_after_seconds"] == 0.25
    assert emulator.control.settings(rate_limit_ip=None)["rate_limit_ip"] is None
    emulator.control.reset()
    assert emulator.control.settings()["plan"] is None
