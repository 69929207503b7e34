"""SimJobSensor waits through a human pause (``on_pause="wait"``, the default) in every mode.

The run is paused before the DAG starts; the test answers it only once the sensor has looked at the
paused run (poke/reschedule: its own read; deferred: the trigger's watcher listing the runs), so
the sensor's result carrying the answer proves it kept waiting instead of ending at the pause.
"""

from __future__ import annotations

from airflow_provider_sim.emulator.control import EmulatorHandle
from airflow_provider_sim.hooks.sim import SimHook
from tests.dag_runner import RunDag, RunHandle, wait_for_executions, wait_until
from tests.sensors.test_sim_sensor import each_mode


@each_mode
def test_waits_through_a_pause_until_the_run_ends(
    run_dag: RunDag, emulator: EmulatorHandle, sim_hook: SimHook, mode_kwargs: str
) -> None:
    run_id = "paused-sensed"
    sim_hook.execute_workflow("approval", {"doc": 7}, run_id=run_id, async_execution=True)
    wait_for_executions(emulator.control, lambda ex: [e["status"] for e in ex] == ["paused"])
    read_path = f"/api/v2/workflows/approval/runs/{run_id}"
    list_path = "/api/v2/workflows/approval/runs"
    deferred = "deferrable" in mode_kwargs

    def looked_at_the_pause() -> bool:
        paths = [r["path"] for r in emulator.control.requests_received() if r["status"] == 200]
        return (list_path in paths) if deferred else paths.count(read_path) >= 1

    def answer_once_seen(_handle: RunHandle) -> None:
        wait_until(looked_at_the_pause, what="the sensor looked at the paused run")
        sim_hook.resume_run("approval", run_id, "approval", {"approved": True})

    result = run_dag(
        f'SimJobSensor(task_id="sense", workflow_id="approval", run_id="{run_id}", {mode_kwargs})',
        during=answer_once_seen,
    )
    ti = result.task("sense")
    assert ti.state == "success", result.tail()
    assert ti.return_value == {"input": {"doc": 7}, "resumeInput": {"approved": True}}
    assert ti.xcom["sim_status"] == "completed"
    if deferred:
        assert "running trigger in line" in result.log, result.tail()
    else:
        assert f"Sim run {run_id} is paused" in result.log  # a poke saw the pause and went on
    assert len(emulator.control.executions()) == 1  # the sensor started nothing
