"""A throwaway Redis server on 127.0.0.1 for the CeleryExecutor's broker: no persistence, its own
directory, Debian's ``redis-server`` installed with ``apt-get`` when missing (and we are root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.cluster.host import PackageInstallError, apt_install, free_port, tail


class RedisError(RuntimeError):
    """Redis is not installed and cannot be, or did not come up; the message has its log tail."""


class RedisServer:
    """``redis-server`` in ``root`` (log and pid file there), on a free loopback port.

    :param root: a directory of its own.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log_path = root / "redis.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def ensure_installed() -> str:
        """The path of ``redis-server``, installing Debian's ``redis-server`` package if missing.

        :raises RedisError: not installed and not installable here.
        """
        found = shutil.which("redis-server")
        if found is None:
            try:
                apt_install("redis-server")
            except PackageInstallError as err:
                raise RedisError(str(err)) from err
            found = shutil.which("redis-server")
        if found is None:
            raise RedisError("redis-server is not installed: apt-get install -y redis-server")
        return found

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and wait until it answers ``PING``; return :attr:`url`."""
        binary = self.ensure_installed()
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        command = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.root)]
        command += ["--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"]
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers_ping():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RedisError(f"redis-server did not come up on port {self.port}:\n{tail(self.log_path)}")
            time.sleep(0.2)
        return self.url

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
                return

    def tail(self, lines: int = 20) -> str:
        """The last lines of its log."""
        return f"\n--- redis ({self.log_path}) ---\n{tail(self.log_path, lines)}"
