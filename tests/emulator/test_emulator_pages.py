"""The emulator's HTML pages: the run and resume links the provider builds open, offline."""

from __future__ import annotations

import requests

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.hooks.sim import SimHook
from airflow_provider_sim.protocol.build import resume_page_url, run_logs_url
from airflow_provider_sim.protocol.models import RunStatus


def page(url: str) -> requests.Response:
    """A browser's visit: no API key."""
    return requests.get(url, timeout=5)


def test_the_run_link_shows_status_input_output_and_timings(
    sim_hook: SimHook, emulator: EmulatorHandle
) -> None:
    run = sim_hook.execute_workflow("echo", {"q": "漢字 <b>bold</b>"}, run_id="paged-1")
    workspace_id = sim_hook.get_workflow("echo").workspace_id
    shown = page(run_logs_url(emulator.base_url, workspace_id, run.run_id))
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    text = shown.text
    assert "Run paged-1" in text and "<td>completed</td>" in text
    assert text.count("漢字 &lt;b&gt;bold&lt;/b&gt;") == 2  # input and output, escaped
    for label in ("Started", "Ended", "Duration"):
        assert f"<td>{label}</td>" in text
    assert " ms</td>" in text
    assert not any(r["path"].startswith("/workspace/") for r in emulator.control.requests_received())


def test_a_held_run_reads_running_and_a_paused_one_opens_from_its_resume_link(
    sim_hook: SimHook, emulator: EmulatorHandle
) -> None:
    sim_hook.execute_workflow("hold", {"tag": 1}, run_id="held-1", async_execution=True)
    workspace_id = sim_hook.get_workflow("hold").workspace_id
    held = page(run_logs_url(emulator.base_url, workspace_id, "held-1")).text
    assert "<td>running</td>" in held
    paused = sim_hook.execute_workflow("approval", {"doc": 1}, run_id="ask-1")
    assert paused.status is RunStatus.PAUSED
    shown = page(resume_page_url(emulator.base_url, "approval", "ask-1"))
    assert shown.status_code == 200 and "<td>paused</td>" in shown.text
    assert page(resume_page_url(emulator.base_url, "echo", "ask-1")).status_code == 404  # not its workflow


def test_run_and_workflow_lists_and_unknown_pages(sim_hook: SimHook, emulator: EmulatorHandle) -> None:
    sim_hook.execute_workflow("echo", {}, run_id="listed-1")
    workspace_id = sim_hook.get_workflow("echo").workspace_id
    home = f"{emulator.base_url}/workspace/{workspace_id}"
    runs = page(f"{home}/logs").text
    assert f"href='/workspace/{workspace_id}/logs?executionId=listed-1'" in runs
    workflows = page(f"{home}/w").text
    for workflow_id in ("echo", "sleep", "hold", "approval", "fail", "undeployed"):
        assert f"<code>{workflow_id}</code>" in workflows
    assert "not deployed" in workflows
    assert page(run_logs_url(emulator.base_url, workspace_id, "no-such-run")).status_code == 404
    assert page(run_logs_url(emulator.base_url, "other-workspace", "listed-1")).status_code == 404
    assert page(f"{emulator.base_url}/workspace/other-workspace/w").status_code == 404
