"""Run DAGs on real Airflow 3.3 components — api-server, scheduler (LocalExecutor), dag-processor and
one or more triggerers, each its own process — and read back what happened through the REST API.

``dag.test()`` (:mod:`tests.dag_runner`) runs deferred triggers inline, one after the other; here they
run in a real triggerer, many at once, while a real scheduler and executor start and resume the tasks.

What :class:`AirflowCluster` sets up, all on loopback, all under one temp directory:

- ``AIRFLOW_HOME`` with a dags folder, ``LOAD_EXAMPLES=False`` and the ``sim_default`` connection as
  ``AIRFLOW_CONN_SIM_DEFAULT`` (JSON) in every component's environment;
- the metadata DB: a throwaway PostgreSQL cluster on a free port (``initdb`` as the ``postgres`` user,
  ``fsync=off``) when this venv can import ``psycopg2`` and ``asyncpg``, else SQLite
  (``AIRFLOW_CLUSTER_DB=sqlite|postgres`` forces one); PostgreSQL itself is installed with
  ``apt-get`` when missing and we are root. Airflow 3 tasks reach the DB only through the
  api-server, so SQLite copes with a LocalExecutor running several tasks at once;
- ``airflow db migrate``, then ``api-server`` (Execution API included), ``scheduler``, ``dag-processor``
  and ``triggerer`` as subprocesses in their own process groups, each logging to
  ``<root>/components/<name>.log``; the start waits (bounded) until ``/api/v2/monitor/health`` reports
  each of them healthy, and fails with the tails of their logs if one does not come up or dies.

Use it as a context manager (or through the ``airflow_cluster`` fixture of ``tests/cluster/conftest.py``)::

    with AirflowCluster(sim_base_url=url, sim_api_key=key) as cluster:
        cluster.add_dag("my_dag", source)            # writes the file, waits until it is parsed
        run = cluster.run_dag("my_dag", timeout=300)  # unpause, trigger, wait for an end state
        run.mapped("run")[0].state, run.mapped("run")[0].return_value
        cluster.task_log("my_dag", run.run_id, "run", map_index=0)

``AIRFLOW_CLUSTER_KEEP=1`` keeps the temp directory (logs, DB) after the cluster stops;
``AIRFLOW_CLUSTER_PARALLELISM=N`` overrides the executor's parallelism.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import requests

from airflow_provider_sim.version_compat import AIRFLOW_V_3_3_PLUS, AIRFLOW_VERSION
from tests.cluster.host import PackageInstallError, apt_install, free_port, tail
from tests.cluster.redis_server import RedisServer
from tests.dag_runner import TaskLookups, TaskResult, sim_connection

REPO_ROOT = Path(__file__).resolve().parents[2]
#: DAG run states after which nothing more happens on its own
RUN_END_STATES = frozenset({"success", "failed"})
#: where Debian's ``postgresql`` package puts its binaries (``/usr/lib/postgresql/<major>/bin``)
DEBIAN_POSTGRES_GLOB = "/usr/lib/postgresql/*/bin"
#: the parallelism PostgreSQL gets when none is asked for; SQLite gets :data:`SQLITE_PARALLELISM`
POSTGRES_PARALLELISM = 16
SQLITE_PARALLELISM = 8

Database = Literal["auto", "postgres", "sqlite"]
Executor = Literal["LocalExecutor", "CeleryExecutor"]

#: for ``pytest.mark.skipif``: the harness drives Airflow 3.3's components and REST API
NOT_AIRFLOW_3_3 = not AIRFLOW_V_3_3_PLUS
SKIP_REASON = (
    "the cluster harness runs Airflow 3.3's components (api-server with the Execution API, "
    f"dag-processor, triggerer); this venv has Airflow {AIRFLOW_VERSION}"
)


class ClusterError(RuntimeError):
    """A component did not come up, died, or an API call or a wait failed; the message has log tails."""


# --------------------------------------------------------------------------------------------------
# small helpers


def wait_for(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
    check: Callable[[], None] | None = None,
    details: Callable[[], str] | None = None,
) -> Any:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy; return that.

    :param check: called on every round; raises to give up early (e.g. a component died).
    :param details: what to add to the error message (e.g. log tails).
    :raises ClusterError: not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            extra = details() if details is not None else ""
            raise ClusterError(f"{what}: not within {timeout:.0f} s{extra}")
        time.sleep(interval)


def _as_root_for(user: str, command: Sequence[str]) -> list[str]:
    """``command`` run as ``user`` when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", user, "--", *command]
    return list(command)


#: what Airflow 3.3 needs to talk to PostgreSQL: ``psycopg2`` (sync engine) and ``asyncpg`` (its
#: async engine, made at import time), both in ``apache-airflow[postgres]``
POSTGRES_DRIVERS = ("psycopg2", "asyncpg")


def missing_postgres_drivers() -> list[str]:
    """The :data:`POSTGRES_DRIVERS` this venv's Python (the one the components run) cannot import."""
    return [name for name in POSTGRES_DRIVERS if importlib.util.find_spec(name) is None]


# --------------------------------------------------------------------------------------------------
# processes


@dataclass
class Component:
    """One Airflow component process (its own process group) and its log file."""

    name: str
    command: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes]
    #: the ``job`` row of a triggerer (known once it heartbeats), for reading which triggers it holds
    job_id: int | None = None

    @property
    def pid(self) -> int:
        """The component's process id (also its process group id)."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def tail(self, lines: int = 60) -> str:
        """The last lines of its log, headed by its name and state."""
        code = self.proc.poll()
        state = "running" if code is None else f"exited with {code}"
        return (
            f"\n--- {self.name} (pid {self.pid}, {state}) {self.log_path} ---\n{tail(self.log_path, lines)}"
        )

    @property
    def kind(self) -> str:
        """``triggerer`` for ``triggerer-#2`` and so on."""
        return self.name.split("-#")[0]

    def kill(self) -> None:
        """SIGKILL to its process group (its task processes too), as a crashed host would; waits for it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def process_ids(self) -> set[int]:
        """The pids of the process and all its descendants (e.g. a Celery worker's task processes)."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            return {self.pid} | {child.pid for child in root.children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to its process group (the executor's workers too), SIGKILL after ``timeout`` seconds."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # the leader is gone; children left in the group get the same signal once more
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            return


class PostgresServer:
    """A throwaway PostgreSQL cluster in ``root`` on 127.0.0.1, trust auth, no fsync.

    :param root: a directory of its own (made and chowned to the ``postgres`` user when we are root).
    """

    USER = "airflow"
    DATABASE = "airflow"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log_path = root / "postgres.log"
        self.port = 0
        self.bin_dir: Path | None = None
        self._started = False

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its database."""
        return f"postgresql+psycopg2://{self.USER}@127.0.0.1:{self.port}/{self.DATABASE}"

    @staticmethod
    def find_bin_dir() -> Path | None:
        """The directory holding ``initdb`` and ``pg_ctl``, or ``None``."""
        candidates = sorted(Path("/").glob(DEBIAN_POSTGRES_GLOB.lstrip("/")), key=_version_key, reverse=True)
        for directory in candidates:
            if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
                return directory
        found = shutil.which("initdb")
        if found and shutil.which("pg_ctl"):
            return Path(found).resolve().parent
        return None

    @classmethod
    def ensure_installed(cls, timeout: float = 600.0) -> Path:
        """The binaries' directory, installing Debian's ``postgresql`` package first if they are missing.

        :raises ClusterError: not installed, and not installable here (not root, no apt-get, or it failed).
        """
        found = cls.find_bin_dir()
        if found is not None:
            return found
        try:
            apt_install("postgresql", timeout=timeout)
        except PackageInstallError as err:
            raise ClusterError(str(err)) from err
        found = cls.find_bin_dir()
        if found is None:
            raise ClusterError("apt-get installed postgresql, but initdb and pg_ctl are not to be found")
        return found

    def _run(self, command: Sequence[str], timeout: float, *, as_postgres: bool = True) -> None:
        argv = _as_root_for("postgres", command) if as_postgres else list(command)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                f"\n--- postgres.log ---\n{tail(self.log_path)}"
            )

    def start(self, timeout: float = 120.0) -> str:
        """``initdb``, ``pg_ctl start`` (waiting until it accepts connections), ``createdb``; the URL."""
        self.bin_dir = self.ensure_installed()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            for path in (self.root, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self.port = free_port()
        bin_dir = self.bin_dir
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            timeout,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c max_connections=300"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            timeout + 10,
        )
        self._started = True
        self._run(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.USER,
                self.DATABASE,
            ],
            timeout,
        )
        return self.url

    def stop(self, timeout: float = 60.0) -> None:
        """``pg_ctl stop -m fast``; if that fails, SIGKILL to the postmaster it started."""
        if not self._started or self.bin_dir is None:
            return
        self._started = False
        try:
            self._run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"],
                timeout,
            )
        except (ClusterError, subprocess.TimeoutExpired):
            pid_file = self.data / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        """The last lines of the server log."""
        return f"\n--- postgres ({self.log_path}) ---\n{tail(self.log_path, lines)}"


def _version_key(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in path.parent.name.split("."))
    except ValueError:
        return (0,)


# --------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class ClusterRun(TaskLookups):
    """A DAG run after it reached an end state, as the REST API reports it.

    ``tasks`` has the shape :mod:`tests.dag_runner` results have (:class:`TaskResult`): state, try
    number and the XComs that were asked for.
    """

    dag_id: str
    run_id: str
    state: str | None
    tasks: list[TaskResult]
    seconds: float

    def task(self, task_id: str, map_index: int = -1) -> TaskResult:
        """The task instance ``task_id`` (``map_index`` for a mapped one).

        :raises KeyError: no such task instance (the message lists those there are).
        """
        for ti in self.tasks:
            if ti.task_id == task_id and ti.map_index == map_index:
                return ti
        raise KeyError(
            f"no task instance {task_id!r}[{map_index}] in {[(t.task_id, t.map_index) for t in self.tasks]}"
        )

    def state_counts(self) -> dict[str | None, int]:
        """How many task instances are in each state."""
        return dict(Counter(t.state for t in self.tasks))


# --------------------------------------------------------------------------------------------------
# the cluster


@dataclass
class ClusterSettings:
    """How to shape the cluster.

    :param database: ``"auto"`` (PostgreSQL if ``psycopg2`` and ``asyncpg`` import, else SQLite),
        ``"postgres"`` or ``"sqlite"``; the ``AIRFLOW_CLUSTER_DB`` environment variable overrides it.
    :param parallelism: ``[core] parallelism`` (LocalExecutor worker processes); ``None``:
        :data:`POSTGRES_PARALLELISM` on PostgreSQL, :data:`SQLITE_PARALLELISM` on SQLite.
    :param max_active_tasks_per_dag: ``[core] max_active_tasks_per_dag``.
    :param triggerers: how many triggerers to start (more with :meth:`AirflowCluster.start_triggerer`),
        one after the other, so that each one's ``job_id`` is known.
    :param executor: ``CeleryExecutor`` starts a throwaway Redis as its broker (results in the
        metadata DB) and :attr:`celery_workers` ``airflow celery worker`` processes.
    :param celery_workers: how many Celery workers (more with :meth:`AirflowCluster.start_celery_worker`).
    :param worker_concurrency: task slots per Celery worker.
    :param start_timeout: seconds each start-up step may take (migration, each component coming up).
    :param extra_env: more environment for every component (e.g. ``AIRFLOW__...`` settings); wins.
    """

    database: Database = "auto"
    parallelism: int | None = None
    max_active_tasks_per_dag: int = 256
    triggerers: int = 1
    executor: Executor = "LocalExecutor"
    celery_workers: int = 2
    worker_concurrency: int = 8
    start_timeout: float = 180.0
    extra_env: dict[str, str] = field(default_factory=dict)


class AirflowCluster:
    """Real Airflow components on a temp home, driven through the REST API (see the module docstring).

    :param sim_base_url: the emulator's (or Sim's) base URL for the ``sim_default`` connection.
    :param sim_api_key: the API key of that connection.
    :param settings: the cluster's shape.
    :param conn_extra: the connection's extra fields.
    """

    def __init__(
        self,
        *,
        sim_base_url: str,
        sim_api_key: str,
        settings: ClusterSettings | None = None,
        conn_extra: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings or ClusterSettings()
        self.sim_base_url = sim_base_url
        self.sim_api_key = sim_api_key
        self.conn_extra = conn_extra or {}
        self.root = Path(tempfile.mkdtemp(prefix="airflow-cluster-"))
        self.home = self.root / "home"
        self.dags_folder = self.home / "dags"
        self.components_dir = self.root / "components"
        self.api_port = 0
        self.database: Literal["postgres", "sqlite"] = "sqlite"
        self.parallelism = 0
        self.env: dict[str, str] = {}
        self.components: list[Component] = []
        #: components killed or replaced on purpose (their logs stay readable)
        self.retired: list[Component] = []
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self._session = requests.Session()
        self._session.trust_env = False  # loopback only: no proxy from the environment
        self._token: str | None = None
        self._stopped = False

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> AirflowCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """The api-server's base URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        """Database, migration, api-server, then scheduler, dag-processor and the triggerers; each
        waited for (bounded) until ``/api/v2/monitor/health`` reports it healthy.

        :raises ClusterError: a step failed or timed out (with the log tails).
        """
        timeout = self.settings.start_timeout
        atexit.register(self.stop)  # should the interpreter exit without leaving the ``with``
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.components_dir.mkdir(parents=True, exist_ok=True)
        self.database = self._choose_database()
        if self.database == "postgres":
            self.postgres = PostgresServer(Path(tempfile.mkdtemp(prefix="airflow-cluster-pg-")))
            db_url = self.postgres.start(timeout=timeout)
        else:
            db_url = f"sqlite:///{self.home / 'airflow.db'}"
        default_parallelism = POSTGRES_PARALLELISM if self.database == "postgres" else SQLITE_PARALLELISM
        forced = os.environ.get("AIRFLOW_CLUSTER_PARALLELISM")
        self.parallelism = int(forced) if forced else self.settings.parallelism or default_parallelism
        if self.settings.executor == "CeleryExecutor":
            self.redis = RedisServer(self.root / "redis")
            self.redis.start()
        self.api_port = free_port()
        self.env = self._environment(db_url)
        self._migrate(timeout)
        self._start_api_server(timeout)
        self.start_component("scheduler", "--skip-serve-logs")
        self.start_component("dag-processor")
        if self.settings.executor == "CeleryExecutor":
            for _ in range(self.settings.celery_workers):
                self.start_celery_worker()
        for _ in range(self.settings.triggerers):
            self.start_triggerer(timeout)
        self.wait_healthy(timeout)

    def _start_api_server(self, timeout: float) -> Component:
        api = self.start_component("api-server", "--host", "127.0.0.1", "--port", str(self.api_port))
        wait_for(
            lambda: self._health() is not None,
            timeout=timeout,
            what=f"api-server answering on {self.api_url}",
            check=lambda: self._check_alive([api]),
            details=self.diagnostics,
        )
        self._token = self._fetch_token()
        return api

    def restart_api_server(self, timeout: float | None = None) -> tuple[Component, float]:
        """Stop the api-server (SIGTERM) and start a new one on the same port; wait until it answers.

        :return: the new component and the seconds the API was away.
        """
        old = next(c for c in self.components if c.kind == "api-server" and c.alive())
        began = time.monotonic()
        old.stop()
        self.components.remove(old)
        self.retired.append(old)
        new = self._start_api_server(timeout or self.settings.start_timeout)
        return new, time.monotonic() - began

    def kill(self, component: Component) -> None:
        """SIGKILL ``component`` (and its children); it no longer counts for :meth:`check_alive`."""
        component.kill()
        self.components.remove(component)
        self.retired.append(component)

    def alive(self, kind: str) -> list[Component]:
        """The running components of one kind (``triggerer``, ``celery``, ...), oldest first."""
        return [c for c in self.components if c.kind == kind and c.alive()]

    def start_celery_worker(self) -> Component:
        """Start one more ``airflow celery worker`` (named ``worker<N>@<host>``); not waited for."""
        number = sum(1 for c in self.components + self.retired if c.kind == "celery") + 1
        return self.start_component(
            "celery",
            "worker",
            "--concurrency",
            str(self.settings.worker_concurrency),
            "--celery-hostname",
            f"worker{number}@%h",
            "--skip-serve-logs",
            "--without-gossip",
            "--without-mingle",
        )

    def sql(self, statement: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query on the metadata DB (PostgreSQL only).

        :raises ClusterError: the cluster runs on SQLite.
        """
        if self.postgres is None:
            raise ClusterError("sql() reads the PostgreSQL metadata DB; this cluster runs on SQLite")
        import psycopg2

        dsn = self.postgres.url.replace("+psycopg2", "")
        with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cursor:
            cursor.execute(statement, tuple(parameters))
            return list(cursor.fetchall())

    def stop(self) -> None:
        """Stop every component (triggerers first, api-server last), PostgreSQL, and remove the temp
        directories (kept with ``AIRFLOW_CLUSTER_KEEP=1``). Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        order = {"triggerer": 0, "celery": 1, "scheduler": 2, "dag-processor": 3, "api-server": 4}
        for component in sorted(self.components, key=lambda c: order.get(c.kind, 9)):
            component.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        self._session.close()
        if os.environ.get("AIRFLOW_CLUSTER_KEEP") == "1":
            print(f"airflow cluster kept in {self.root}", file=sys.stderr)
            return
        shutil.rmtree(self.root, ignore_errors=True)
        if self.postgres is not None:
            shutil.rmtree(self.postgres.root, ignore_errors=True)

    def _choose_database(self) -> Literal["postgres", "sqlite"]:
        wanted = os.environ.get("AIRFLOW_CLUSTER_DB") or self.settings.database
        if wanted not in ("auto", "postgres", "sqlite"):
            raise ClusterError(f"AIRFLOW_CLUSTER_DB must be postgres, sqlite or auto, not {wanted!r}")
        missing = missing_postgres_drivers()
        if wanted == "auto":
            return "sqlite" if missing else "postgres"
        if wanted == "postgres" and missing:
            raise ClusterError(
                f"database=postgres needs {', '.join(missing)} in this venv (apache-airflow[postgres])"
            )
        return wanted  # type: ignore[return-value]

    def _environment(self, db_url: str) -> dict[str, str]:
        dropped = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        env.pop("PYTEST_CURRENT_TEST", None)
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY") or env.get("no_proxy"), "127.0.0.1,localhost"]))
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": self.settings.executor,
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(self.settings.max_active_tasks_per_dag),
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                # find a DAG file written after the start within seconds (300 s by default)
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                # components are started with --skip-serve-logs; these only keep the defaults' ports free
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW_CONN_SIM_DEFAULT": sim_connection(
                    self.sim_base_url, self.sim_api_key, **self.conn_extra
                ),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
                "NO_PROXY": no_proxy,
                "no_proxy": no_proxy,
            }
        )
        if self.redis is not None:
            env["AIRFLOW__CELERY__BROKER_URL"] = self.redis.url
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = f"db+{db_url}"
            env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(self.settings.worker_concurrency)
        env.update(self.settings.extra_env)
        return env

    def _migrate(self, timeout: float) -> None:
        log = self.components_dir / "db-migrate.log"
        with log.open("wb") as out:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            raise ClusterError(f"airflow db migrate failed ({done.returncode}):\n{tail(log, 80)}")

    def start_component(self, name: str, *args: str) -> Component:
        """Start ``airflow <name> <args>`` with the cluster's environment, logging to its own file.

        A second component of the same name is ``<name>-#2`` (its log too). It is not waited for.
        """
        same = sum(1 for c in self.components + self.retired if c.kind == name)
        label = name if same == 0 else f"{name}-#{same + 1}"
        log_path = self.components_dir / f"{label}.log"
        command = [sys.executable, "-m", "airflow", name, *args]
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() signals its children too
            )
        component = Component(label, command, log_path, proc)
        self.components.append(component)
        return component

    def start_triggerer(self, timeout: float | None = None) -> Component:
        """Start one more triggerer, wait until the API counts it among the live ones, and note its
        ``job_id`` (the live triggerer job that was not there before)."""
        before = {int(job["id"]) for job in self.alive_triggerer_jobs()}
        component = self.start_component("triggerer", "--skip-serve-logs")
        self.wait_for_triggerers(len(before) + 1, timeout or self.settings.start_timeout)
        new = sorted({int(job["id"]) for job in self.alive_triggerer_jobs()} - before)
        component.job_id = new[-1] if new else None
        return component

    # -- health --------------------------------------------------------------------------------------
    def _check_alive(self, components: Sequence[Component] | None = None) -> None:
        dead = [c for c in (components if components is not None else self.components) if not c.alive()]
        if dead:
            names = ", ".join(f"{c.name} (exit {c.proc.returncode})" for c in dead)
            raise ClusterError(f"Airflow component died: {names}{self.diagnostics()}")

    def check_alive(self) -> None:
        """:raises ClusterError: a component exited (with the log tails)."""
        self._check_alive()

    def _health(self) -> dict[str, Any] | None:
        try:
            response = self._session.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        return dict(response.json())

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health``: ``{"metadatabase": {"status"}, "scheduler": {...}, ...}``."""
        return self._health() or {}

    def wait_healthy(self, timeout: float) -> None:
        """Wait until the DB, scheduler, triggerer and dag-processor all report ``healthy``."""
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")

        def healthy() -> bool:
            health = self.health()
            return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

        wait_for(
            healthy,
            timeout=timeout,
            what="scheduler, triggerer and dag-processor healthy",
            check=self.check_alive,
            details=lambda: f"\nlast health: {self.health()}{self.diagnostics()}",
        )

    def alive_triggerer_jobs(self) -> list[dict[str, Any]]:
        """The triggerer jobs the API reports alive."""
        body = self.api("GET", "/api/v2/jobs", params={"job_type": "TriggererJob", "is_alive": "true"})
        return list(body.get("jobs", []))

    def wait_for_triggerers(self, count: int, timeout: float) -> None:
        """Wait until at least ``count`` triggerers are alive."""
        wait_for(
            lambda: len(self.alive_triggerer_jobs()) >= count,
            timeout=timeout,
            what=f"{count} live triggerer(s)",
            check=self.check_alive,
            details=self.diagnostics,
        )

    def diagnostics(self, lines: int = 40) -> str:
        """Every component's log tail (and PostgreSQL's), for error messages."""
        parts = [c.tail(lines) for c in self.retired + self.components]
        if self.redis is not None:
            parts.append(self.redis.tail(lines // 2))
        migrate = self.components_dir / "db-migrate.log"
        if migrate.exists() and not self.components:
            parts.append(f"\n--- db migrate ---\n{tail(migrate, lines)}")
        if self.postgres is not None:
            parts.append(self.postgres.tail(lines // 2))
        return "".join(parts)

    # -- REST API ------------------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        response = self._session.get(f"{self.api_url}/auth/token", timeout=30)
        if response.status_code >= 400:
            raise ClusterError(f"GET /auth/token: {response.status_code} {response.text}{self.diagnostics()}")
        return str(response.json()["access_token"])

    def api(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        ok: Sequence[int] = (),
        timeout: float = 60.0,
    ) -> Any:
        """Call the REST API (``path`` from ``/api/v2/...``) with the admin token; return the JSON body.

        :param ok: further status codes that are not errors (their body is returned, or ``None``).
        :raises ClusterError: any other status >= 400.
        """
        for attempt in (1, 2):
            if self._token is None:
                self._token = self._fetch_token()
            response = self._session.request(
                method,
                f"{self.api_url}{path}",
                params=params,
                json=json_body,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=timeout,
            )
            if response.status_code == 401 and attempt == 1:
                self._token = None  # expired: one more try with a new token
                continue
            break
        if response.status_code >= 400 and response.status_code not in ok:
            raise ClusterError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def _paged(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            body = self.api("GET", path, params={**(params or {}), "limit": 100, "offset": len(items)})
            page = list(body.get(key, []))
            items += page
            if not page or len(items) >= int(body.get("total_entries", 0)):
                return items

    # -- DAGs ----------------------------------------------------------------------------------------
    def add_dag(self, dag_id: str, source: str, *, timeout: float = 120.0) -> Path:
        """Write ``source`` as ``<dags folder>/<dag_id>.py`` and wait until the API knows ``dag_id``.

        Airflow's safe mode parses only files that mention both "airflow" and "dag".

        :raises ClusterError: the file has an import error (its traceback is in the message), or the
            DAG did not appear within ``timeout`` seconds.
        """
        path = self.dags_folder / f"{dag_id}.py"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(source)
        os.replace(tmp, path)

        def parsed() -> bool:
            errors = self._paged("/api/v2/importErrors", "import_errors")
            mine = [e for e in errors if str(e.get("filename", "")).endswith(path.name)]
            if mine:
                raise ClusterError(f"{path.name} does not import:\n{mine[0].get('stack_trace')}")
            return self.api("GET", f"/api/v2/dags/{quote(dag_id)}", ok=(404,)).get("dag_id") == dag_id

        wait_for(
            parsed,
            timeout=timeout,
            what=f"DAG {dag_id} parsed",
            interval=1.0,
            check=self.check_alive,
            details=self.diagnostics,
        )
        return path

    def unpause(self, dag_id: str) -> None:
        """Unpause ``dag_id`` (new DAGs start paused)."""
        self.api("PATCH", f"/api/v2/dags/{quote(dag_id)}", json_body={"is_paused": False})

    def trigger(self, dag_id: str, *, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Create a manual DAG run; return its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id is not None:
            body["dag_run_id"] = run_id
        created = self.api("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", json_body=body)
        return str(created["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The DAG run's state (``queued``, ``running``, ``success``, ``failed``)."""
        body = self.api("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}")
        return body.get("state")  # type: ignore[no-any-return]

    def wait_for_run(
        self, dag_id: str, run_id: str, *, timeout: float, progress: Callable[[str], None] | None = None
    ) -> str:
        """Poll the run every second until it is ``success`` or ``failed``; return that state.

        :param progress: called every ~15 s with the task instances' state counts.
        :raises ClusterError: not within ``timeout`` seconds (with the state counts and log tails),
            or a component died.
        """
        last_report = time.monotonic()

        def ended() -> str | None:
            nonlocal last_report
            state = self.run_state(dag_id, run_id)
            if progress is not None and time.monotonic() - last_report >= 15:
                last_report = time.monotonic()
                progress(f"{dag_id} {run_id}: {state}, tasks {self._state_counts(dag_id, run_id)}")
            return state if state in RUN_END_STATES else None

        return str(
            wait_for(
                ended,
                timeout=timeout,
                what=f"DAG run {dag_id} {run_id} ending",
                interval=1.0,
                check=self.check_alive,
                details=lambda: f"\ntask states: {self._state_counts(dag_id, run_id)}{self.diagnostics()}",
            )
        )

    def _state_counts(self, dag_id: str, run_id: str) -> dict[str | None, int]:
        try:
            return dict(Counter(ti.get("state") for ti in self.task_instances(dag_id, run_id)))
        except (ClusterError, requests.RequestException) as err:
            return {f"<unreadable: {err}>": 0}

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, as the REST API returns them (all pages)."""
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self._paged(path, "task_instances")

    def xcom_keys(self, dag_id: str, run_id: str) -> list[tuple[str, int, str]]:
        """``(task_id, map_index, key)`` of every XCom of the run."""
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances/~/xcomEntries"
        return [(e["task_id"], int(e["map_index"]), e["key"]) for e in self._paged(path, "xcom_entries")]

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """One XCom value (``None`` if there is none)."""
        path = (
            f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances/{quote(task_id)}"
            f"/xcomEntries/{quote(key)}"
        )
        body = self.api("GET", path, params={"map_index": map_index}, ok=(404,))
        if not isinstance(body, dict) or "value" not in body:
            return None
        return body["value"]

    def collect(
        self,
        dag_id: str,
        run_id: str,
        *,
        xcom_keys: Sequence[str] | None = ("return_value",),
        seconds: float = 0.0,
    ) -> ClusterRun:
        """The run's state, task instances and XComs (``xcom_keys``; ``None``: every key there is)."""
        state = self.run_state(dag_id, run_id)
        wanted = None if xcom_keys is None else set(xcom_keys)
        present = [k for k in self.xcom_keys(dag_id, run_id) if wanted is None or k[2] in wanted]
        values: dict[tuple[str, int], dict[str, Any]] = {}
        for task_id, map_index, key in present:
            values.setdefault((task_id, map_index), {})[key] = self.xcom(
                dag_id, run_id, task_id, key, map_index
            )
        tasks = [
            TaskResult(
                task_id=ti["task_id"],
                map_index=int(ti.get("map_index", -1)),
                state=ti.get("state"),
                try_number=int(ti.get("try_number") or 0),
                xcom=values.get((ti["task_id"], int(ti.get("map_index", -1))), {}),
            )
            for ti in self.task_instances(dag_id, run_id)
        ]
        return ClusterRun(dag_id=dag_id, run_id=run_id, state=state, tasks=tasks, seconds=seconds)

    def run_dag(
        self,
        dag_id: str,
        *,
        conf: dict[str, Any] | None = None,
        timeout: float = 300.0,
        xcom_keys: Sequence[str] | None = ("return_value",),
        progress: Callable[[str], None] | None = None,
    ) -> ClusterRun:
        """Unpause ``dag_id``, trigger a run, wait (at most ``timeout`` s) until it ends, and read it back.

        ``seconds`` of the result is from the trigger call to the end state being seen.
        """
        self.unpause(dag_id)
        started = time.monotonic()
        run_id = self.trigger(dag_id, conf=conf)
        self.wait_for_run(dag_id, run_id, timeout=timeout, progress=progress)
        seconds = time.monotonic() - started
        return self.collect(dag_id, run_id, xcom_keys=xcom_keys, seconds=seconds)

    # -- logs ----------------------------------------------------------------------------------------
    def task_log_files(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[Path]:
        """The task instance's log files (every attempt, and the trigger's), oldest first."""
        base = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            base = base / f"map_index={map_index}"
        files = [p for p in base.glob("*.log*") if p.is_file()] if base.exists() else []
        return sorted(files, key=lambda p: p.stat().st_mtime)

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, lines: int = 200) -> str:
        """The last ``lines`` lines of each of the task instance's log files, each headed by its name."""
        parts = [
            f"--- {p.name} ---\n{tail(p, lines)}"
            for p in self.task_log_files(dag_id, run_id, task_id, map_index)
        ]
        return "\n".join(parts) or f"(no log files for {task_id}[{map_index}] of {run_id})"

    def stale_event_failures(self, dag_id: str, run_id: str) -> dict[tuple[str, int], list[str]]:
        """Task instances the scheduler failed because an executor event was stale — Airflow's own race.

        Airflow 3.3 keeps the try number when a task resumes after deferring. When the trigger fires
        before the scheduler has taken the executor's ``success`` event of the worker that deferred
        (its supervisor may notice the exit up to ``[workers] min_heartbeat_interval`` late), that
        event is read as being about the resumed attempt and the task is failed with "finished with
        state success, but the task instance's state attribute is queued" (apache/airflow#66374,
        #71580, #72716; Airflow guards only the ``scheduled`` case). Read from the scheduler logs.

        :return: ``{(task_id, map_index): [the state the task instance was in, per occurrence]}``.
        """
        pattern = re.compile(
            r"reported that the task instance <TaskInstance: "
            + re.escape(dag_id)
            + r"\.(?P<task>\S+) "
            + re.escape(run_id)
            + r"(?: map_index=(?P<index>\d+))? \[[^\]]*\][^>]*> finished with state \w+, "
            r"but the task instance's state attribute is (?P<state>\w+)"
        )
        found: dict[tuple[str, int], list[str]] = {}
        for component in self.components:
            if component.name.split("-#")[0] != "scheduler" or not component.log_path.exists():
                continue
            for match in pattern.finditer(component.log_path.read_text(errors="replace")):
                key = (match["task"], int(match["index"]) if match["index"] is not None else -1)
                found.setdefault(key, []).append(match["state"])
        return found

    def explain(self, run: ClusterRun, *, limit: int = 3, lines: int = 80) -> str:
        """State counts, then the logs of up to ``limit`` task instances that did not succeed."""
        bad = [t for t in run.tasks if t.state != "success"][:limit]
        logs = "\n".join(
            f"\n===== {t.task_id}[{t.map_index}] {t.state} (try {t.try_number}) =====\n"
            + self.task_log(run.dag_id, run.run_id, t.task_id, t.map_index, lines)
            for t in bad
        )
        return f"run {run.run_id}: {run.state}, task states {run.state_counts()}{logs}"


@contextlib.contextmanager
def airflow_cluster(
    *, sim_base_url: str, sim_api_key: str, settings: ClusterSettings | None = None
) -> Iterator[AirflowCluster]:
    """``with airflow_cluster(...) as cluster:`` — a started :class:`AirflowCluster`, stopped afterwards."""
    with AirflowCluster(sim_base_url=sim_base_url, sim_api_key=sim_api_key, settings=settings) as cluster:
        yield cluster
