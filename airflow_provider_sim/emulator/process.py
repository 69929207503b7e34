"""Run the emulator as a subprocess (for tests and benchmarks) and learn its URL from the ready line."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO

from airflow_provider_sim.emulator.config import DEFAULT_API_KEY, DEFAULT_HOST, READY_PREFIX
from airflow_provider_sim.emulator.control import EmulatorControl


class EmulatorStartError(RuntimeError):
    """The emulator process died or stayed silent before printing its ready line; carries its stderr."""


class EmulatorProcess:
    """Start ``python -m airflow_provider_sim.emulator --port 0 ...`` and stop it with SIGTERM.

    Use as a context manager; ``base_url`` is known once :meth:`start` returns::

        with EmulatorProcess(api_key="sk-sim-test") as sim:
            requests.post(f"{sim.base_url}/api/workflows/echo/execute", ...)

    :param flags: command-line flags by name (``plan="pro"`` is ``--plan pro``, see
        ``sim-emulator --help``); ``None`` leaves a flag off (the server's default, or the plan's
        number), and a limit may be ``"none"`` for no limit (``rate_limit_ip="none"`` turns the
        per-IP bucket off).
    :param v2: serve the v2 API. On by default here, as this project's tests, benchmarks and demo
        use it; the server itself (``sim-emulator`` without ``--v2``) has it off, as Sim does
        unless ``V2_API=true``.
    :param extra_args: further command-line arguments, e.g. ``["--no-v2"]``.
    :param startup_timeout: seconds to wait for the ready line.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        host: str = DEFAULT_HOST,
        v2: bool = True,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
        python: str = sys.executable,
        **flags: float | str | None,
    ) -> None:
        self.api_key = api_key
        self.startup_timeout = startup_timeout
        self._env = env
        self._args = [python, "-m", "airflow_provider_sim.emulator", "--port", "0", "--host", host]
        self._args += ["--api-key", api_key]
        for name, value in flags.items():
            if value is not None:
                self._args += [f"--{name.replace('_', '-')}", str(value)]
        # explicit either way, so ``$V2_API`` in the environment cannot change what the caller asked for
        self._args.append("--v2" if v2 else "--no-v2")
        self._args += list(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (:raises RuntimeError: before the process has started)."""
        if self._base_url is None:
            raise RuntimeError("the emulator process has not been started")
        return self._base_url

    @property
    def control(self) -> EmulatorControl:
        """A control client for this process."""
        return EmulatorControl(self.base_url)

    def start(self) -> EmulatorProcess:
        """Start the process and wait for its ready line.

        :raises EmulatorStartError: if it exits or stays silent for ``startup_timeout`` seconds
            (the message includes its stderr).
        """
        env = dict(os.environ if self._env is None else self._env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # a file, not a pipe: nobody reads stderr while the server runs, and a full pipe would block it
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._proc = subprocess.Popen(
            self._args, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, env=env
        )
        threading.Thread(target=self._pump_stdout, args=(self._proc,), daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:  # stdout closed: the process is gone
                break
            if line.startswith(READY_PREFIX):
                self._base_url = line[len(READY_PREFIX) :].strip()
                return self
        returncode = self._proc.poll()
        self.stop(timeout=2)
        why = (
            f"exited with status {returncode}" if returncode is not None else "printed no ready line in time"
        )
        raise EmulatorStartError(f"emulator {why}: {' '.join(self._args)}\n--- stderr ---\n{self.stderr()}")

    def _pump_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._lines.put(raw.decode(errors="replace"))
        self._lines.put(None)

    def stderr(self) -> str:
        """Everything the process has written to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("the emulator process has not been started")
        return self._proc

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the process (e.g. ``signal.SIGINT``; :raises RuntimeError: before start)."""
        self._started().send_signal(signum)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit and return its status (:raises subprocess.TimeoutExpired:)."""
        return self._started().wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Send SIGTERM, wait up to ``timeout`` seconds, then kill; return the exit status."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
