"""Start and stop a real Airflow web server (2.x ``webserver``, 3.x ``api-server``) on loopback.

Standard library only: ``scripts/screenshots.py`` imports this from a throwaway venv that has
nothing but a browser driver, and starts the servers from the project's locked venvs.

Every server gets its own throwaway ``AIRFLOW_HOME`` with a SQLite database, listens on
127.0.0.1 only, lets anybody in as admin (FAB's public role on 2.x, the simple auth manager's
all-admins mode on 3.x) and has the connection Test button enabled. Nothing here waits unbounded:
each step has a timeout, and :meth:`AirflowServer.stop` kills the whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
MIGRATE_TIMEOUT = 240.0
START_TIMEOUT = 150.0
STOP_TIMEOUT = 20.0
CLI_TIMEOUT = 120.0

#: a fixed, non-secret admin-for-everyone config for FAB (Airflow 2.x web server)
WEBSERVER_CONFIG_2X = '''"""Throwaway test config: every visitor is an Admin, no login."""
AUTH_ROLE_PUBLIC = "Admin"
'''


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def airflow_major(version: str) -> int:
    return int(version.split(".", 1)[0])


def airflow_env(home: Path, version: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for every ``airflow`` command of one throwaway installation.

    Inherited ``AIRFLOW__*`` settings and ``AIRFLOW_CONN_*`` connections are dropped, so the
    developer's own configuration cannot leak into the check.
    """
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        PYTHONWARNINGS="ignore",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    if airflow_major(version) >= 3:
        env.update(
            AIRFLOW__CORE__AUTH_MANAGER=(
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            # Airflow 3.0 puts iss=None into its JWTs unless an issuer is configured, and
            # PyJWT >= 2.11 refuses to encode that ("Issuer (iss) must be a string").
            AIRFLOW__API_AUTH__JWT_ISSUER="airflow-provider-sim-tests",
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
        )
    else:
        env.update(
            AIRFLOW__API__AUTH_BACKENDS="airflow.api.auth.backend.default",
            AIRFLOW__WEBSERVER__SECRET_KEY=secrets.token_hex(16),
            AIRFLOW__WEBSERVER__WORKERS="1",
            AIRFLOW__WEBSERVER__WORKER_REFRESH_BATCH_SIZE="0",
            AIRFLOW__WEBSERVER__WEB_SERVER_WORKER_TIMEOUT="120",
            AIRFLOW__WEBSERVER__WARN_DEPLOYMENT_EXPOSURE="False",
        )
    return env


@dataclass
class HttpAnswer:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
    timeout: float = 60.0,
) -> HttpAnswer:
    """One HTTP request without proxies; a JSON ``body`` is sent as JSON. Errors are answers too."""
    data = None
    all_headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpAnswer(response.status, response.read())
    except urllib.error.HTTPError as err:
        return HttpAnswer(err.code, err.read())


@dataclass
class AirflowServer:
    """One running Airflow web server and the installation it serves."""

    airflow_bin: Path
    version: str
    home: Path
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _token: str | None = field(default=None, repr=False)

    @property
    def major(self) -> int:
        return airflow_major(self.version)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def health_path(self) -> str:
        return "/api/v2/monitor/health" if self.major >= 3 else "/health"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    # -- CLI -------------------------------------------------------------------------------------------
    def cli(
        self, *args: str, timeout: float = CLI_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` against this installation; raise with its output when it fails."""
        result = subprocess.run(
            [str(self.airflow_bin), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
            )
        return result

    # -- life cycle ------------------------------------------------------------------------------------
    def start(self, start_timeout: float = START_TIMEOUT) -> AirflowServer:
        """``airflow db migrate``, then the web server; return once its health check answers 200."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dags").mkdir(exist_ok=True)
        if self.major < 3:
            (self.home / "webserver_config.py").write_text(WEBSERVER_CONFIG_2X)
        self.cli("db", "migrate", timeout=MIGRATE_TIMEOUT)
        command = "api-server" if self.major >= 3 else "webserver"
        argv = [str(self.airflow_bin), command, "-H", HOST, "-p", str(self.port), "-w", "1"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches gunicorn/uvicorn workers
            )
        deadline = time.monotonic() + start_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"airflow {command} exited {self.process.returncode} before answering\n{self.log_tail()}"
                )
            try:
                answer = http("GET", self.base_url + self.health_path, timeout=5)
                if answer.status == 200:
                    return self
                last = f"HTTP {answer.status}: {answer.text[:300]}"
            except OSError as err:
                last = repr(err)
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(
            f"airflow {command} did not answer {self.health_path} within {start_timeout:.0f} s "
            f"(last: {last})\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it if it is still there after a while."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # workers left behind by a master that died first
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    # -- HTTP ------------------------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """Headers that make a request an admin's (3.x: a bearer token; 2.x: public role, none)."""
        if self.major < 3:
            return {}
        if self._token is None:
            answer = http("GET", self.base_url + "/auth/token")
            if answer.status not in (200, 201):
                raise RuntimeError(f"GET /auth/token: HTTP {answer.status}: {answer.text[:500]}")
            self._token = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> HttpAnswer:
        return http(method, self.base_url + path, headers=self.auth_headers(), body=body, timeout=timeout)

    @property
    def api_prefix(self) -> str:
        return "/api/v2" if self.major >= 3 else "/api/v1"

    @property
    def add_connection_path(self) -> str:
        """Where a person adds a connection in this version's UI."""
        return "/connections/add" if self.major >= 3 else "/connection/add"


def make_server(airflow_bin: Path, version: str, workdir: Path, port: int | None = None) -> AirflowServer:
    """An (unstarted) server for the ``airflow`` executable of one venv, living under ``workdir``."""
    home = workdir / "airflow-home"
    return AirflowServer(
        airflow_bin=airflow_bin,
        version=version,
        home=home,
        port=port or free_port(),
        env=airflow_env(home, version),
        log_path=workdir / "server.log",
    )
