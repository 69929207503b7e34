"""What the cluster's processes need from this machine: free loopback ports, log tails, and Debian
packages installed with ``apt-get`` when missing (PostgreSQL, Redis)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path


class PackageInstallError(RuntimeError):
    """A Debian package is missing and could not be installed here (not root, no apt-get, or it failed)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of ``path`` (empty if it does not exist)."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 200 * lines))  # enough for long JSON log lines
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def apt_install(package: str, timeout: float = 600.0) -> None:
    """``apt-get install -y --no-install-recommends <package>`` (after ``apt-get update`` if the first
    attempt fails, e.g. on a fresh machine without package lists).

    :raises PackageInstallError: not root, no ``apt-get``, or the install failed (with its output).
    """
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PackageInstallError(f"{package} is not installed: apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=timeout, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise PackageInstallError(
            f"apt-get install {package} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
