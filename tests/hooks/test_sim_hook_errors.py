"""Errors: each code maps to its exception, bad input fails before any request, the key never leaks."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.exceptions import (
    SimApiError,
    SimAuthError,
    SimConfigurationError,
    SimConflictError,
    SimInvalidResponseError,
    SimNotDeployedError,
    SimNotFoundError,
    SimUsageLimitError,
)
from airflow_provider_sim.hooks.sim import SimHook
from tests.hooks.conftest import ConnFactory


def test_wrong_key_is_an_auth_error_that_never_shows_the_key(
    sim_conn: ConnFactory, api_version: str, caplog: pytest.LogCaptureFixture
) -> None:
    hook = SimHook(sim_conn(password="sk-sim-wrong-secret-123", api_version=api_version))
    with caplog.at_level(logging.DEBUG), pytest.raises(SimAuthError) as caught:
        hook.execute_workflow("echo", {})
    assert caught.value.http_status == 401 and caught.value.request_id
    assert "sk-sim-wrong-secret-123" not in str(caught.value) + repr(caught.value.__dict__)
    assert "sk-sim-wrong-secret-123" not in caplog.text
    assert "sk-sim-wrong-secret-123" not in repr(hook.settings)


def test_usage_limit_fails_fast_without_retrying(hook: SimHook, emulator: EmulatorHandle) -> None:
    emulator.control.settings(usage_limit_exceeded=True)
    with pytest.raises(SimUsageLimitError, match="retrying will not help"):
        hook.execute_workflow("echo", {})
    assert len(emulator.control.requests_received()) == 1
    assert emulator.control.executions() == []


def test_undeployed_workflow_names_the_fix_and_starts_nothing(
    hook: SimHook, emulator: EmulatorHandle
) -> None:
    with pytest.raises(SimNotDeployedError, match="deploy the workflow"):
        hook.execute_workflow("undeployed", {})
    assert emulator.control.executions() == []


def test_unknown_workflow_and_run(hook: SimHook) -> None:
    with pytest.raises(SimNotFoundError):
        hook.execute_workflow("no-such-workflow", {})
    with pytest.raises(SimNotFoundError):
        hook.get_run("echo", "no-such-run")


def test_reusing_a_run_id_is_a_conflict_and_never_a_second_run(
    hook: SimHook, emulator: EmulatorHandle
) -> None:
    hook.execute_workflow("echo", {"n": 1}, run_id="once")
    with pytest.raises(SimConflictError) as caught:
        hook.execute_workflow("echo", {"n": 2}, run_id="once")
    assert not caught.value.after_resend
    assert [e["input"] for e in emulator.control.executions()] == [{"n": 1}]


def test_html_error_page_and_malformed_json(hook: SimHook, emulator: EmulatorHandle) -> None:
    emulator.control.add_fault("/api/users/me/usage-limits", "malformed_json")
    with pytest.raises(SimInvalidResponseError) as caught:
        hook.get_usage_limits()
    assert caught.value.code == "INVALID_JSON"


def test_redirects_are_not_followed(hook: SimHook, emulator: EmulatorHandle) -> None:
    emulator.control.add_fault(
        "/api/users/me/usage-limits", "status", status=307, headers={"Location": "http://127.0.0.2:9/steal"}
    )
    with pytest.raises(SimApiError, match="redirects are not followed") as caught:
        hook.get_usage_limits()
    assert caught.value.code == "REDIRECT"
    assert len(emulator.control.requests_received()) == 1


@pytest.mark.parametrize(
    ("workflow_id", "kwargs", "match"),
    [
        ("", {}, "workflow's URL"),
        ("a/../../b", {}, "workflow's URL"),
        ("echo", {"input": {"when": object()}}, "not JSON-serialisable"),
        ("echo", {"run_id": "has space"}, "1-128 characters"),
        ("echo", {"execution_timeout_seconds": 0, "async_execution": True}, "1 to 604800"),
        ("echo", {"execution_timeout_seconds": 60}, "async runs only"),
    ],
)
def test_bad_input_fails_before_any_request(
    hook: SimHook, emulator: EmulatorHandle, workflow_id: str, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(SimConfigurationError, match=match):
        hook.execute_workflow(workflow_id, **kwargs)  # type: ignore[arg-type]
    assert emulator.control.requests_received() == []


@pytest.mark.parametrize(
    ("conn", "match"),
    [
        ({"password": ""}, "no Sim API key"),
        ({"host": "www.sim.ai"}, "needs a scheme"),
        ({"api_version": "v3"}, "not a Sim API version"),
        ({"timeout": "soon"}, "must be a positive number"),
        ({"max_retries": 1.5}, "whole number"),
        ({"colour": "blue"}, "unknown extras"),
    ],
)
def test_bad_connection_names_the_field_to_fix(
    sim_conn: ConnFactory, emulator: EmulatorHandle, conn: dict[str, object], match: str
) -> None:
    with pytest.raises(SimConfigurationError, match=match):
        SimHook(sim_conn(**conn)).get_usage_limits()
    assert emulator.control.requests_received() == []


def test_missing_connection_names_the_fix() -> None:
    with pytest.raises(SimConfigurationError, match="AIRFLOW_CONN_SIM_NOWHERE"):
        SimHook("sim_nowhere").get_usage_limits()


def test_hook_arguments_override_the_connection(sim_conn: ConnFactory) -> None:
    hook = SimHook(sim_conn(api_version="v1", timeout=5), api_version="v2", timeout=7, max_retries=0)
    assert (hook.settings.api_version.value, hook.settings.timeout, hook.settings.retry.max_retries) == (
        "v2",
        7,
        0,
    )


def test_connection_from_a_uri(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorHandle) -> None:
    host = emulator.base_url.replace(":", "%3A").replace("/", "%2F")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SIM_URI", f"sim://:{emulator.api_key}@{host}?api_version=v1&max_retries=2"
    )
    hook = SimHook("sim_uri")
    assert hook.settings.base_url == emulator.base_url and hook.settings.api_version.value == "v1"
    assert hook.get_usage_limits().sync is not None


@pytest.fixture
def not_sim_server() -> Iterator[str]:
    """A plain HTTP file server: answers, but not like Sim."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/tmp",
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)


def test_test_connection_tells_the_failures_apart(sim_conn: ConnFactory, not_sim_server: str) -> None:
    ok, message = SimHook(sim_conn()).test_connection()
    assert ok, message
    ok, message = SimHook(sim_conn("sim_bad_key", password="sk-sim-nope")).test_connection()
    assert not ok and "rejected the API key" in message and "sk-sim-nope" not in message
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ok, message = SimHook(sim_conn("sim_down", host=f"http://127.0.0.1:{closed_port}")).test_connection()
    assert not ok and "Could not reach Sim" in message
    ok, message = SimHook(sim_conn("sim_other", host=not_sim_server)).test_connection()
    assert not ok and "does not answer like a Sim server" in message
