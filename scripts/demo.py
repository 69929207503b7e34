"""``make demo``: run the deferrable example DAG end to end against a local Sim emulator.

1. start the emulator (a local Sim-compatible server) on a free port;
2. make a throwaway Airflow home with a SQLite DB (``airflow db migrate``) and a ``sim_default``
   connection pointing at the emulator;
3. run ``example_dags/example_sim_deferrable.py`` with ``dag.test()``: the task starts the run,
   defers, the trigger waits for it, and the task resumes with the run's output;
4. print what happened and the task's result, then stop the emulator and remove the home.

Options: ``--keep`` keeps the Airflow home (its path is printed); ``--verbose`` prints the whole log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "example_dags" / "example_sim_deferrable.py"
TASK_ID = "run_workflow"
API_KEY = "sk-sim-demo-key"
# log lines worth showing: the run's life as the task and the trigger saw it
STORY = ("Starting Sim workflow", "Sim run ", "running trigger in line", "Trigger completed", "DEFERRED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the throwaway Airflow home")
    parser.add_argument("--verbose", action="store_true", help="print the whole dag.test() log")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="sim-demo-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)  # before anything imports Airflow
    sys.path.insert(0, str(REPO_ROOT))
    from airflow_provider_sim.emulator.process import EmulatorProcess
    from tests.dag_runner import AirflowEnv, DagRunner, DagRunnerError

    try:
        with EmulatorProcess(api_key=API_KEY, v2=True) as sim:
            print(f"[1/3] Sim emulator listening on {sim.base_url}")
            airflow = AirflowEnv.create(home, sim_base_url=sim.base_url, sim_api_key=API_KEY)
            print(f"[2/3] Throwaway Airflow home {home}: airflow db migrate ...", flush=True)
            started = time.monotonic()
            airflow.migrate()
            print(f"      migrated in {time.monotonic() - started:.0f} s")
            print(f"[3/3] dag.test() of {EXAMPLE.relative_to(REPO_ROOT)} ...", flush=True)
            runner = DagRunner(airflow, reuse=False)
            try:
                result = runner.run_file(EXAMPLE, timeout=300)
            finally:
                runner.close()
            executions = sim.control.executions()
    except DagRunnerError as err:
        print(f"demo failed: {err}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"Airflow home kept at {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)

    if args.verbose:
        print(result.log)
    else:
        print("\nWhat happened (from the task log):")
        for line in result.log.splitlines():
            if any(word in line for word in STORY):
                print("   ", line.strip()[:200])

    task = result.task(TASK_ID)
    width = 72
    print("\n" + "=" * width)
    print(f" DAG {result.dag_id}: {result.state}   task {TASK_ID}: {task.state} (try {task.try_number})")
    print(f" Sim run:   {task.xcom.get('sim_run_id')}  ({task.xcom.get('sim_status')})")
    print(f" Link:      {task.xcom.get('sim_run_url')}")
    deferred = "running trigger in line" in result.log
    print(f" Deferred:  {'yes, the trigger waited for the run' if deferred else 'no'}")
    print(f" Runs Sim saw: {len(executions)}")
    print(" Result (the run's output, XCom return_value):")
    print("   " + json.dumps(task.return_value, indent=2).replace("\n", "\n   "))
    print("=" * width)
    ok = result.state == "success" and task.state == "success" and len(executions) == 1
    if not ok:
        print(result.tail(), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
