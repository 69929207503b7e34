"""Run a DAG end to end with the real Airflow of this venv (``dag.test()``) and read back what happened.

``dag.test()`` runs in a *worker* process (this venv's Python) with its own environment: the
session's ``AIRFLOW_HOME`` (a migrated SQLite DB), a dags folder under it, ``LOAD_EXAMPLES=False``
and ``AIRFLOW_CONN_SIM_DEFAULT`` pointing at the emulator. The DAG file is written into the dags
folder first (Airflow 3.3's ``dag.test()`` only runs DAGs its dag bundle has parsed) and removed
afterwards. Deferrable tasks really defer: ``dag.test()`` runs the trigger inline on 2.11, 3.0 and
3.3, then resumes the task with the trigger's event.

Starting Airflow costs 5-15 s per process (3.3 builds its in-process Execution API on the first
task), so one worker serves many runs, one at a time: :class:`DagRunner` sends it a request per
run over a pipe and reads a JSON summary back — final state, try number and every XCom of each
task instance, read from the metadata DB as each version stores them — plus the log of that run
alone. A run that overruns its timeout kills the worker (a new one starts for the next run); so
does a worker that dies. ``DAG_RUNNER_KEEP_LOGS=1`` keeps the per-run logs after the session.

On Airflow 3.0 with FastAPI >= 0.132 (the 3.0 lock has 0.165) the Task SDK's JSON requests lack
a ``Content-Type`` header and FastAPI rejects them, so no task could start; the worker adds the
header the way Airflow 3.1+ does (:func:`_backport_content_type_fix`). Real 3.0 deployments with
that lock break the same way: the lock should pin ``fastapi<0.132``.

Use from pytest (the ``dag_runner``/``run_dag`` fixtures of the test folders' conftests, built on
:func:`shared_runner`) and from ``scripts/demo.py``::

    runner = DagRunner(AirflowEnv.create(home, sim_base_url=..., sim_api_key=...))
    result = runner.run_file(Path("example_dags/example_sim_deferrable.py"))
    result.task("run_workflow").return_value
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
READY = "DAG-RUNNER-READY"
DONE = "DAG-RUNNER-DONE"
DEFAULT_TIMEOUT = 120.0


class DagRunnerError(RuntimeError):
    """The worker died, overran its timeout, or could not run the DAG; the message has its log tail."""


# --------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class TaskResult:
    """One task instance after the run: ``state`` is Airflow's word (``success``, ``failed``, ...)."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    xcom: dict[str, Any]

    @property
    def return_value(self) -> Any:
        """The task's ``return_value`` XCom (``None`` if it pushed none)."""
        return self.xcom.get("return_value")


class TaskLookups:
    """What a DAG run's results offer over their ``tasks`` (``dag.test()`` and real-cluster runs)."""

    tasks: list[TaskResult]

    def mapped(self, task_id: str) -> list[TaskResult]:
        """The mapped instances of ``task_id``, by map index."""
        return sorted((t for t in self.tasks if t.task_id == task_id), key=lambda t: t.map_index)

    @property
    def states(self) -> dict[str, str | None]:
        """``{task_id (or task_id[i]): state}`` — handy in assertion messages."""
        return {
            (t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"): t.state for t in self.tasks
        }


@dataclass(frozen=True)
class DagRunResult(TaskLookups):
    """What one ``dag.test()`` left behind.

    ``log`` is everything the run printed (task logs included); ``error`` is the traceback if
    ``dag.test()`` itself raised (the task instances it recorded until then are still here).
    """

    dag_id: str
    run_id: str | None
    state: str | None
    tasks: list[TaskResult]
    log: str
    seconds: float
    error: str | None = None

    def task(self, task_id: str, map_index: int = -1) -> TaskResult:
        """The task instance ``task_id`` (``map_index`` for a mapped one).

        :raises KeyError: no such task instance (the message lists those there are).
        """
        for ti in self.tasks:
            if ti.task_id == task_id and ti.map_index == map_index:
                return ti
        have = [(t.task_id, t.map_index) for t in self.tasks]
        raise KeyError(f"no task instance {task_id!r}[{map_index}] in {have}; log tail:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        """The last lines of the log."""
        return "\n".join(self.log.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# environment


@dataclass(frozen=True)
class AirflowEnv:
    """Where the worker's Airflow lives: its home (and DB), dags folder and environment variables."""

    home: Path
    dags_folder: Path
    env: dict[str, str]

    @classmethod
    def create(
        cls,
        home: Path,
        *,
        sim_base_url: str,
        sim_api_key: str,
        conn_extra: dict[str, Any] | None = None,
        python: str = sys.executable,
    ) -> AirflowEnv:
        """An environment for ``home`` with a ``sim_default`` connection to ``sim_base_url``."""
        home = home.resolve()
        dags = home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW_CONN_SIM_DEFAULT": sim_connection(sim_base_url, sim_api_key, **(conn_extra or {})),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            }
        )
        env.pop("PYTEST_CURRENT_TEST", None)  # the worker is not a test
        return cls(home=home, dags_folder=dags, env=env)

    def migrate(self, timeout: float = 300.0) -> None:
        """``airflow db migrate`` for this home (idempotent).

        :raises DagRunnerError: the migration failed (its output is in the message).
        """
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise DagRunnerError(
                f"airflow db migrate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )


def sim_connection(base_url: str, api_key: str, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON) for a ``sim`` connection."""
    return json.dumps({"conn_type": "sim", "host": base_url, "password": api_key, "extra": extra})


# --------------------------------------------------------------------------------------------------
# the parent side


class RunHandle:
    """Given to a ``during`` callback while the DAG runs: the worker's pid, a way to signal it, and
    the run's output so far."""

    def __init__(self, pid: int, log_file: Path) -> None:
        self.pid = pid
        self.log_file = log_file

    def output(self) -> str:
        """What ``dag.test()`` has printed so far in this run."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def terminate(self) -> None:
        """Send SIGTERM to the process running the task, as Airflow does to kill a task."""
        os.kill(self.pid, signal.SIGTERM)


class DagRunner:
    """Runs DAGs with ``dag.test()`` in a reusable worker process, one at a time.

    :param airflow: the environment (the DB must be migrated: :meth:`AirflowEnv.migrate`).
    :param reuse: keep the worker for the next run (``False``: a fresh process per run).
    """

    def __init__(self, airflow: AirflowEnv, *, reuse: bool = True) -> None:
        self.airflow = airflow
        self.reuse = reuse
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._scratch = Path(tempfile.mkdtemp(prefix="dag-runner-"))
        self._lock = threading.Lock()

    # -- worker lifecycle ----------------------------------------------------------------------------
    def _start(self, timeout: float = 120.0) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._lines = queue.Queue()
        idle_log = self._scratch / "worker-idle.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.dag_runner", "--worker", str(idle_log)],
            cwd=REPO_ROOT,
            env=self.airflow.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(proc, self._lines), daemon=True).start()
        self._proc = proc
        self._expect(READY, timeout, None)
        return proc

    @staticmethod
    def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def _expect(self, word: str, timeout: float, log_file: Path | None) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise DagRunnerError(f"the dag.test worker overran {timeout:.0f} s{_log_tail(log_file)}")
            try:
                line = self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self._proc.wait() if self._proc else None
                self._proc = None
                idle = self._scratch / "worker-idle.log"
                raise DagRunnerError(
                    f"the dag.test worker exited ({code}){_log_tail(log_file)}{_log_tail(idle)}"
                )
            if line.startswith(word):
                return line[len(word) :].strip()

    def stop(self) -> None:
        """Stop the worker (it is started again by the next run)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def close(self) -> None:
        """Stop the worker for good and remove its logs (kept if ``DAG_RUNNER_KEEP_LOGS`` is set)."""
        self.stop()
        if not os.environ.get("DAG_RUNNER_KEEP_LOGS"):
            shutil.rmtree(self._scratch, ignore_errors=True)

    # -- running -------------------------------------------------------------------------------------
    def run_source(
        self,
        source: str,
        *,
        dag_id: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        during: Callable[[RunHandle], None] | None = None,
    ) -> DagRunResult:
        """Write ``source`` as a DAG file and run it; see :meth:`run_file`."""
        with self._lock:
            name = f"{_slug(dag_id or 'dag')}_{uuid.uuid4().hex[:8]}.py"
            path = self.airflow.dags_folder / name
            path.write_text(source)
            try:
                return self._run(path, dag_id, env, timeout, during)
            finally:
                path.unlink(missing_ok=True)

    def run_file(
        self,
        dag_file: Path,
        *,
        dag_id: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        during: Callable[[RunHandle], None] | None = None,
    ) -> DagRunResult:
        """Copy ``dag_file`` into the dags folder and run its DAG (``dag_id``, or its only DAG).

        :param env: environment variables for this run only (e.g. another ``AIRFLOW_CONN_*``).
        :param timeout: seconds the whole run may take; then the worker is killed and this raises.
        :param during: called in a thread once the run has started, e.g. to cancel the Sim run or
            send SIGTERM; the run's result is returned after it finishes.
        :raises DagRunnerError: the worker died or overran ``timeout``.
        """
        return self.run_source(
            Path(dag_file).read_text(), dag_id=dag_id, env=env, timeout=timeout, during=during
        )

    def _run(
        self,
        path: Path,
        dag_id: str | None,
        env: dict[str, str] | None,
        timeout: float,
        during: Callable[[RunHandle], None] | None,
    ) -> DagRunResult:
        proc = self._start()
        stamp = uuid.uuid4().hex[:8]
        log_file = self._scratch / f"{path.stem}-{stamp}.log"
        result_file = self._scratch / f"{path.stem}-{stamp}.json"
        request = {
            "dag_file": str(path),
            "dag_id": dag_id,
            "env": env or {},
            "log_file": str(log_file),
            "result_file": str(result_file),
        }
        assert proc.stdin is not None
        started = time.monotonic()
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        helper: threading.Thread | None = None
        helper_error: list[BaseException] = []
        if during is not None:

            def call_during() -> None:
                try:
                    during(RunHandle(proc.pid, log_file))
                except BaseException as err:  # reported after the run, in the test's thread
                    helper_error.append(err)

            helper = threading.Thread(target=call_during, daemon=True)
            helper.start()
        try:
            self._expect(DONE, timeout, log_file)
        finally:
            if helper is not None:
                helper.join(timeout=30)
            if not self.reuse:
                self.stop()
        if helper_error:
            raise helper_error[0]
        summary = json.loads(result_file.read_text())
        log = log_file.read_text(errors="replace") if log_file.exists() else ""
        return DagRunResult(
            dag_id=summary["dag_id"],
            run_id=summary.get("run_id"),
            state=summary.get("state"),
            tasks=[TaskResult(**t) for t in summary.get("tasks", [])],
            log=log,
            seconds=time.monotonic() - started,
            error=summary.get("error"),
        )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:60] or "dag"


def _log_tail(path: Path | None, lines: int = 80) -> str:
    if path is None or not path.exists():
        return ""
    text = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return f"\n--- {path.name} (tail) ---\n{text}"


def dag_source(dag_id: str, body: str, *, imports: str = "", dag_kwargs: str = "") -> str:
    """A DAG file: ``body`` (Python, operators created inside ``with DAG(...) as dag:``) and a ``__main__``.

    The usual imports are there: ``datetime``/``timedelta``, ``DAG``, ``SimExecuteWorkflowOperator``,
    ``SimJobSensor``.
    """
    head = textwrap.dedent(
        """\
        from datetime import datetime, timedelta

        from airflow.providers.common.compat.sdk import DAG

        from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator
        from airflow_provider_sim.sensors.sim import SimJobSensor
        """
    )
    extra = f", {dag_kwargs}" if dag_kwargs else ""
    return (
        head
        + textwrap.dedent(imports)
        + f"\nwith DAG({dag_id!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False{extra})"
        + " as dag:\n"
        + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
        + '\nif __name__ == "__main__":\n    dag.test()\n'
    )


# --------------------------------------------------------------------------------------------------
# pytest: one migrated DB and one worker per test session


class RunDag:
    """What the ``run_dag`` fixtures return: ``run_dag(body, ...)`` runs a DAG named after the test.

    :param runner: the session's runner.
    :param test_name: the pytest node name; the DAG id is made from it.
    :param node_id: the pytest node id: tests of one name in two modules get two DAG ids (Airflow
        keeps a DAG id's serialized tasks, and a later DAG of that id would miss its own).
    """

    def __init__(self, runner: DagRunner, test_name: str, node_id: str = "") -> None:
        self.runner = runner
        digest = hashlib.sha256((node_id or test_name).encode()).hexdigest()[:6]
        self.dag_id = f"t_{_slug(test_name)}_{digest}"

    def __call__(
        self,
        body: str,
        *,
        imports: str = "",
        dag_kwargs: str = "",
        env: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        during: Callable[[RunHandle], None] | None = None,
    ) -> DagRunResult:
        """Run the DAG whose tasks ``body`` creates (see :func:`dag_source`); return what happened."""
        source = dag_source(self.dag_id, body, imports=imports, dag_kwargs=dag_kwargs)
        result = self.runner.run_source(source, dag_id=self.dag_id, env=env, timeout=timeout, during=during)
        if result.error and not result.tasks:
            raise DagRunnerError(f"dag.test() of {self.dag_id} raised:\n{result.error}\n{result.tail()}")
        return result


def wait_for_executions(
    control: Any,
    until: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout: float = 60.0,
    interval: float = 0.1,
) -> list[dict[str, Any]]:
    """Poll the emulator's ``executions()`` until ``until(executions)`` holds.

    :raises AssertionError: not within ``timeout`` seconds (with the last list in the message).
    """
    deadline = time.monotonic() + timeout
    while True:
        executions = control.executions()
        if until(executions):
            return list(executions)
        if time.monotonic() > deadline:
            raise AssertionError(f"emulator executions never matched within {timeout} s: {executions}")
        time.sleep(interval)


def wait_until(condition: Callable[[], bool], *, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``condition`` every 50 ms until it holds.

    :raises AssertionError: not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def act_on_each(
    control: Any,
    names: list[str],
    status: str,
    action: Callable[[dict[str, Any]], object],
    *,
    by_id: bool = False,
    timeout: float = 90.0,
) -> None:
    """Call ``action(execution)`` once for each task's run (``by_id``: each run id in ``names``) as
    soon as it has ``status``, in whatever order Airflow runs the tasks. For ``during`` callbacks.

    :raises AssertionError: not every run reached ``status`` within ``timeout`` seconds.
    """
    done: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(done) < len(names):
        executions = control.executions()
        for name in names:
            if name in done:
                continue
            mine = [e for e in executions if e["id"] == name] if by_id else of_task(executions, name)
            for execution in mine:
                if execution["status"] == status:
                    action(execution)
                    done.add(name)
        if time.monotonic() > deadline:
            raise AssertionError(f"runs of {sorted(set(names) - done)} never were {status}: {executions}")
        time.sleep(0.1)


def of_task(executions: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    """The executions whose client-chosen run id names ``task_id`` (``run_id_for_try``'s format)."""
    task = re.escape(re.sub(r"[^A-Za-z0-9._-]+", "-", task_id)[:36])
    pattern = re.compile(rf"^af-.+-{task}-[0-9a-f]{{20}}-try\d+$")
    return [e for e in executions if pattern.match(str(e.get("id")))]


_SHARED: dict[str, Any] = {}


def shared_runner(sim_base_url: str, sim_api_key: str) -> DagRunner:
    """The session's runner: the DB under ``$AIRFLOW_HOME`` (migrated once), one reusable worker."""
    key = f"{sim_base_url} {sim_api_key}"
    if key not in _SHARED:
        home = Path(os.environ.get("AIRFLOW_HOME") or tempfile.mkdtemp(prefix="airflow-home-"))
        airflow = AirflowEnv.create(home, sim_base_url=sim_base_url, sim_api_key=sim_api_key)
        if not _SHARED.get("migrated:" + str(home)):
            airflow.migrate()
            _SHARED["migrated:" + str(home)] = True
        runner = DagRunner(airflow)
        atexit.register(runner.close)
        _SHARED[key] = runner
    return _SHARED[key]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# the worker side: `python -m tests.dag_runner --worker IDLE_LOG`


def _backport_content_type_fix() -> str | None:
    """Airflow 3.0's task SDK client sends JSON bodies without ``Content-Type``; FastAPI >= 0.132
    rejects those (422), so no task can start. Airflow 3.1+ adds the header itself; do the same
    here, in this test worker only. The real fix is a ``fastapi<0.132`` pin in the 3.0 lock."""
    from airflow import __version__ as airflow_version
    from packaging.version import Version

    if not Version("3.0") <= Version(airflow_version) < Version("3.1"):
        return None
    import fastapi

    if Version(fastapi.__version__) < Version("0.132"):
        return None
    import airflow.sdk.api.client as client

    original = client.add_correlation_id

    def add_headers(request: Any) -> None:
        original(request)
        if request.content and "content-type" not in request.headers:
            request.headers["content-type"] = "application/json"

    client.add_correlation_id = add_headers
    return (
        f"dag_runner: Airflow {airflow_version} with FastAPI {fastapi.__version__}: adding the JSON "
        "Content-Type header its task SDK client omits (fixed in Airflow 3.1)"
    )


def _register_assets(dag: Any) -> None:
    """Write a DAG that names Assets to the DB first, as the DAG processor would, on the lines whose
    ``dag.test()`` does not (3.1+ syncs the DAG itself): Airflow 3.0 fails a task whose inlets or
    outlets were never activated (``AirflowInactiveAssetInInletOrOutletException``), Airflow 2
    records no event for a Dataset its DB has not seen."""
    from airflow import __version__ as airflow_version
    from packaging.version import Version

    version = Version(Version(airflow_version).base_version)
    uses_assets = any(t.inlets or t.outlets for t in dag.tasks) or any(
        getattr(dag.timetable, name, None) for name in ("asset_condition", "dataset_condition")
    )
    if version >= Version("3.1") or not uses_assets:
        return
    from airflow.models.dag import DAG as SchedulerDAG

    if version < Version("3.0"):
        SchedulerDAG.bulk_write_to_db([dag])
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.serialization.serialized_objects import SerializedDAG

    DagBundlesManager().sync_bundles_to_db()
    scheduler_dag = SerializedDAG.deserialize_dag(SerializedDAG.serialize_dag(dag))  # as dag.test() does
    SchedulerDAG.bulk_write_to_db(bundle_name="dags-folder", bundle_version=None, dags=[scheduler_dag])


@contextlib.contextmanager
def _output_to(path: str) -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


@contextlib.contextmanager
def _environment(changes: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _load_dag(dag_file: str, dag_id: str | None) -> Any:
    import importlib.util

    from airflow.providers.common.compat.sdk import DAG

    name = f"dag_runner_{Path(dag_file).stem}"
    spec = importlib.util.spec_from_file_location(name, dag_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    dags = {obj.dag_id: obj for obj in vars(module).values() if isinstance(obj, DAG)}
    if dag_id is None:
        if len(dags) != 1:
            raise ValueError(f"{dag_file} defines DAGs {sorted(dags)}: name the one to run")
        return next(iter(dags.values()))
    return dags[dag_id]


def _summary(dag_id: str, run_id: str | None) -> dict[str, Any]:
    """Task instances and XComs of one DAG run (``None``: the latest), read from the metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    try:  # Airflow 3: JSON column, decoded by XComModel.deserialize_value
        from airflow.models.xcom import XComModel as XComRow

        def decode(row: Any) -> Any:
            return XComRow.deserialize_value(row)

    except ImportError:  # Airflow 2: the ORM object decodes its value when loaded
        from airflow.models.xcom import XCom as XComRow  # type: ignore[no-redef]

        def decode(row: Any) -> Any:
            return row.value

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id)
        if run_id is None:
            dr = runs.order_by(DagRun.id.desc()).first()
            assert dr is not None, f"no DAG run of {dag_id}"
            run_id = dr.run_id
        else:
            dr = runs.filter(DagRun.run_id == run_id).one()
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        rows = session.query(XComRow).filter(XComRow.dag_id == dag_id, XComRow.run_id == run_id)
        xcoms: dict[tuple[str, int], dict[str, Any]] = {}
        for row in rows:
            try:
                value = decode(row)
            except Exception as err:  # keep going: one odd value should not hide the rest
                value = f"<undecodable: {err}>"
            xcoms.setdefault((row.task_id, row.map_index), {})[row.key] = value
        tasks = [
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state)
                if ti.state
                else None,
                "try_number": int(ti.try_number or 0),
                "xcom": xcoms.get((ti.task_id, ti.map_index), {}),
            }
            for ti in tis
        ]
        state = dr.state.value if hasattr(dr.state, "value") else dr.state
        return {"dag_id": dag_id, "run_id": run_id, "state": str(state), "tasks": tasks}


def _serve(idle_log: str) -> None:
    control = os.fdopen(os.dup(1), "w", buffering=1)
    with _output_to(idle_log):
        note = _backport_content_type_fix()
        if note:
            print(note)
        import airflow  # noqa: F401  - pay the import before the first run
    control.write(READY + "\n")
    default_sigterm = signal.getsignal(signal.SIGTERM)
    for line in sys.stdin:
        request = json.loads(line)
        summary: dict[str, Any] = {"dag_id": request.get("dag_id") or "?", "tasks": []}
        with _output_to(request["log_file"]), _environment(request["env"]):
            dag = None
            try:
                dag = _load_dag(request["dag_file"], request["dag_id"])
                _register_assets(dag)
                summary["dag_id"] = dag.dag_id
                if note:
                    print(note)
                # the emulator was reset for this test: forget what it announced before
                from airflow_provider_sim.protocol.quota import forget_budgets

                forget_budgets()
                dr = dag.test()
                summary = _summary(dag.dag_id, dr.run_id)
            except BaseException:
                # e.g. Airflow 2's AirflowTaskTimeout/AirflowTaskTerminated are BaseExceptions that
                # escape dag.test(); the task instances it recorded up to then are still worth reading
                error = traceback.format_exc()
                print(error)
                if dag is not None:
                    with contextlib.suppress(Exception):
                        summary = _summary(dag.dag_id, None)
                summary["error"] = error
            finally:
                # the task runner installs a SIGTERM handler bound to its task; drop it between runs
                signal.signal(signal.SIGTERM, default_sigterm)
        tmp = request["result_file"] + ".tmp"
        Path(tmp).write_text(json.dumps(summary, default=repr))
        os.replace(tmp, request["result_file"])
        control.write(DONE + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _serve(sys.argv[2])
    else:
        sys.exit("usage: python -m tests.dag_runner --worker IDLE_LOG (started by DagRunner)")
