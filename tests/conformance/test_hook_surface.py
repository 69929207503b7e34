"""Everything :class:`SimHook` does, in both API generations, against the target Sim server.

Each test asks only what any Sim server must answer (no exact outputs: your echo workflow's output
is its own); the emulator's outputs are checked exactly where they are known.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_sim.exceptions import (
    SimAuthError,
    SimConflictError,
    SimNotDeployedError,
    SimNotFoundError,
    SimRunFailedError,
    SimV2DisabledError,
    SimWaitTimeoutError,
)
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.protocol.models import RunStatus, SimRun
from tests.conformance.target import Target, connection_json

ECHO_INPUT = {"name": "conformance", "count": 21}
WAIT = {"poll_interval": 0.5, "timeout": 120.0}


def hook_for(target: Target, api: str, monkeypatch: pytest.MonkeyPatch, *, key: str | None = None) -> SimHook:
    """A second hook on the target, in generation ``api`` (and with another key, if given)."""
    conn_id = f"sim_conformance_{api}_{uuid.uuid4().hex[:6]}"
    conn = connection_json(target, api)
    if key is not None:
        conn = conn.replace(target.api_key, key)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn)
    return SimHook(conn_id)


def assert_echoed(target: Target, run: SimRun) -> None:
    assert run.output is not None, run
    if target.is_emulator:  # the emulator's echo returns its input; yours returns what it returns
        assert run.output == ECHO_INPUT


# -- execute and read --------------------------------------------------------------------------------


def test_sync_execute_returns_the_finished_run(hook: SimHook, target: Target, run_id: str) -> None:
    run = hook.execute_workflow(target.echo, ECHO_INPUT, run_id=run_id)
    assert (run.status, run.run_id, run.error) == (RunStatus.COMPLETED, run_id, None)
    assert_echoed(target, run)


def test_a_finished_sync_run_reads_completed(hook: SimHook, target: Target, run_id: str) -> None:
    hook.execute_workflow(target.echo, ECHO_INPUT, run_id=run_id)
    # v1's execution status can still say running just after the 200: wait, don't read once
    run = hook.wait_for_run(target.echo, run_id, **WAIT)
    assert (run.status, run.run_id) == (RunStatus.COMPLETED, run_id)
    assert_echoed(target, run)


def test_a_failing_workflow_returns_a_failed_run_with_sims_message(
    hook: SimHook, target: Target, run_id: str
) -> None:
    run = hook.execute_workflow(target.fail, ECHO_INPUT, run_id=run_id)
    assert run.status is RunStatus.FAILED and run.error is not None and run.error.message
    with pytest.raises(SimRunFailedError, match=run_id):
        run.raise_for_status()
    read = hook.wait_for_run(target.fail, run_id, **WAIT)
    assert read.status is RunStatus.FAILED and read.error is not None and read.error.message


def test_async_execute_then_wait(hook: SimHook, target: Target, run_id: str, api: str) -> None:
    queued = hook.execute_workflow(target.echo, ECHO_INPUT, run_id=run_id, async_execution=True)
    assert queued.status is RunStatus.QUEUED and queued.run_id == run_id
    if api == "v1":
        assert queued.job_id, "a v1 async execute names its job"
        job = hook.get_job(queued.job_id)
        assert job.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMPLETED)
        assert job.run_id == run_id
    done = hook.wait_for_run(target.echo, run_id, job_id=queued.job_id, **WAIT)
    assert done.status is RunStatus.COMPLETED
    assert_echoed(target, done)


def test_async_execute_of_a_failing_workflow_ends_failed(hook: SimHook, target: Target, run_id: str) -> None:
    queued = hook.execute_workflow(target.fail, ECHO_INPUT, run_id=run_id, async_execution=True)
    done = hook.wait_for_run(target.fail, run_id, job_id=queued.job_id, **WAIT)
    assert done.status is RunStatus.FAILED and done.error is not None and done.error.message


# -- conflicts ---------------------------------------------------------------------------------------


def test_reusing_a_run_id_is_a_conflict_and_starts_nothing(
    hook: SimHook, target: Target, run_id: str
) -> None:
    hook.execute_workflow(target.echo, ECHO_INPUT, run_id=run_id)
    with pytest.raises(SimConflictError) as raised:
        hook.execute_workflow(target.echo, ECHO_INPUT, run_id=run_id, async_execution=True)
    assert (raised.value.run_id, raised.value.after_resend, raised.value.http_status) == (run_id, False, 409)
    if target.emulator is not None:
        assert [e["id"] for e in target.emulator.executions()].count(run_id) == 1


def test_v1_and_v2_share_one_run_id_namespace(
    target: Target, v2_off: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if v2_off:
        pytest.skip(v2_off)
    run_id = f"conformance-both-{uuid.uuid4().hex[:12]}"
    hook_for(target, "v1", monkeypatch).execute_workflow(target.echo, ECHO_INPUT, run_id=run_id)
    with pytest.raises(SimConflictError):
        hook_for(target, "v2", monkeypatch).execute_workflow(target.echo, ECHO_INPUT, run_id=run_id)


# -- cancel and wait deadlines (a run that keeps going) ---------------------------------------------


def test_cancel_a_running_run(hook: SimHook, target: Target, run_id: str) -> None:
    slow = target.need("slow")
    hook.execute_workflow(slow, target.slow_input(), run_id=run_id, async_execution=True)
    try:
        result = hook.cancel_run(slow, run_id)
        assert result.cancelled and result.run_id == run_id, result
        run = hook.wait_for_run(slow, run_id, **WAIT)
        assert run.status is RunStatus.CANCELLED
    finally:
        target.release(run_id)


def test_cancel_of_a_finished_run_is_reported_not_raised(hook: SimHook, target: Target, run_id: str) -> None:
    hook.execute_workflow(target.echo, ECHO_INPUT, run_id=run_id)
    hook.wait_for_run(target.echo, run_id, **WAIT)
    result = hook.cancel_run(target.echo, run_id)
    assert not result.cancelled and result.reason, result


def test_a_wait_gives_up_at_its_timeout_and_the_run_goes_on(
    hook: SimHook, target: Target, run_id: str
) -> None:
    slow = target.need("slow")
    hook.execute_workflow(slow, target.slow_input(), run_id=run_id, async_execution=True)
    try:
        with pytest.raises(SimWaitTimeoutError, match="still"):
            hook.wait_for_run(slow, run_id, poll_interval=0.2, timeout=1.0)
        assert not hook.get_run(slow, run_id).status.is_terminal
    finally:
        hook.cancel_run(slow, run_id)
        target.release(run_id)


# -- stream ------------------------------------------------------------------------------------------


def test_stream_ends_with_one_final_frame_then_done(hook: SimHook, target: Target, run_id: str) -> None:
    frames = list(hook.stream_workflow(target.echo, ECHO_INPUT, run_id=run_id))
    assert frames[-1].kind == "done", frames
    [final] = [f for f in frames if f.kind == "final"]
    assert final.status is RunStatus.COMPLETED and final.output is not None and final.error is None
    if target.is_emulator:
        assert final.output == ECHO_INPUT


def test_stream_of_a_failing_workflow_says_it_failed(hook: SimHook, target: Target, run_id: str) -> None:
    frames = list(hook.stream_workflow(target.fail, ECHO_INPUT, run_id=run_id))
    ends = [f for f in frames if f.kind in ("final", "error")]
    assert ends and ends[-1].status is RunStatus.FAILED and ends[-1].error, frames


# -- pause and resume --------------------------------------------------------------------------------


def test_a_paused_run_resumes_to_completion(hook: SimHook, target: Target, run_id: str) -> None:
    approval = target.need("approval")
    run = hook.execute_workflow(approval, {"request": "conformance", "amount": 1}, run_id=run_id)
    assert run.status is RunStatus.PAUSED and run.paused is not None and run.paused.context_id, run
    read = hook.get_run(approval, run_id)
    assert read.status is RunStatus.PAUSED and read.paused is not None
    assert read.paused.kind == "human"
    resumed = hook.resume_run(approval, run_id, run.paused.context_id, {"approved": True, "comment": "ok"})
    assert resumed.run_id == run_id
    done = hook.wait_for_run(approval, run_id, return_on_pause=False, **WAIT)
    assert done.status is RunStatus.COMPLETED and done.output is not None


# -- workflow, deployment, list, usage, errors ---------------------------------------------------------


def test_deployment_status_and_workflow(hook: SimHook, target: Target, api: str) -> None:
    assert hook.get_deployment_status(target.echo).is_deployed
    assert hook.validate_workflow(target.echo)
    if api == "v2":
        info = hook.get_workflow(target.echo)
        assert info.workflow_id == target.echo and info.workspace_id


def test_an_undeployed_workflow_is_refused_with_the_fix(hook: SimHook, target: Target, run_id: str) -> None:
    undeployed = target.need("undeployed")
    assert not hook.get_deployment_status(undeployed).is_deployed
    with pytest.raises(SimNotDeployedError, match="deploy the workflow"):
        hook.execute_workflow(undeployed, ECHO_INPUT, run_id=run_id)


def test_an_unknown_workflow_is_not_found(hook: SimHook, run_id: str) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(SimNotFoundError, match="check the id"):
        hook.execute_workflow(unknown, ECHO_INPUT, run_id=run_id)
    assert not hook.validate_workflow(unknown)


def test_list_runs_finds_a_new_run_and_sees_it_end(
    target: Target, v2_off: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if v2_off:  # Sim lists runs in v2 only
        pytest.skip(v2_off)
    hook = hook_for(target, "v2", monkeypatch)
    run_id = f"conformance-list-{uuid.uuid4().hex[:12]}"
    since = datetime.now(UTC) - timedelta(minutes=10)
    hook.execute_workflow(target.echo, ECHO_INPUT, run_id=run_id)
    # Sim's list, like v1's execution status, may still say running just after the sync 200
    deadline = time.monotonic() + 60
    seen: list[RunStatus] = []
    while not seen or (seen[-1] is not RunStatus.COMPLETED and time.monotonic() < deadline):
        if seen:
            time.sleep(1)
        listed = find_in_list(hook, target.echo, run_id, since)
        assert listed is not None, f"run {run_id} is not in the workflow's run list"
        assert listed.workflow_id == target.echo
        seen.append(listed.status)
    assert set(seen) <= {RunStatus.RUNNING, RunStatus.COMPLETED} and seen[-1] is RunStatus.COMPLETED, seen


def find_in_list(hook: SimHook, workflow_id: str, run_id: str, since: datetime) -> SimRun | None:
    """The run as the list shows it, going through its pages."""
    cursor: str | None = None
    for _ in range(50):
        page = hook.list_runs(workflow_id, start_date=since, cursor=cursor)
        found = [r for r in page.runs if r.run_id == run_id]
        if found or page.next_cursor is None:
            return found[0] if found else None
        cursor = page.next_cursor
    return None


def test_usage_limits_and_the_connection_test(hook: SimHook) -> None:
    limits = hook.get_usage_limits()
    assert limits.sync is not None and limits.sync.requests_per_minute
    ok, message = hook.test_connection()
    assert ok, message


def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(
    target: Target, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sk-sim-conformance-not-a-key"
    with pytest.raises(SimAuthError) as raised:
        hook_for(target, api, monkeypatch, key=wrong).execute_workflow(target.echo, ECHO_INPUT)
    assert raised.value.http_status == 401 and wrong not in str(raised.value) + repr(raised.value)


def test_v2_switched_off_is_named_with_the_fix(
    target: Target, v2_off: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not v2_off and target.emulator is None:
        pytest.skip(f"{target.description} has v2 on (the emulator checks the v2-off answer)")
    if target.emulator is not None:
        target.emulator.settings(v2_enabled=False)
    try:
        v2 = hook_for(target, "v2", monkeypatch)
        with pytest.raises(SimV2DisabledError, match="V2_API=true"):
            v2.execute_workflow(target.echo, ECHO_INPUT)
        ok, message = v2.test_connection()  # the Test button says so too, not just "Connected"
        assert not ok and "not to its v2 API" in message and "api_version" in message, message
    finally:
        if target.emulator is not None:
            target.emulator.settings(v2_enabled=True)
