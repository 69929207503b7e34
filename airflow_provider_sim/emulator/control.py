"""A small ``requests`` client for the emulator's ``/_emulator/`` control endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from airflow_provider_sim.emulator.faults import FaultKind, FaultWhen


class EmulatorControl:
    """Drive and inspect a running emulator.

    :param base_url: the emulator's base URL, e.g. ``http://127.0.0.1:8765``.
    :param timeout: seconds to wait for each control call.
    """

    def __init__(self, base_url: str, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        if session is None:
            session = requests.Session()
            session.trust_env = False  # the emulator is local: no proxy from the environment in between
        self._session = session

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}/_emulator/{path}", json=payload, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise ValueError(
                f"emulator control {method} {path} failed: {response.status_code} {response.text}"
            )
        return response.json()

    def health(self) -> bool:
        """True if the emulator answers its health check."""
        try:
            return self._call("GET", "health").get("status") == "ok"
        except requests.RequestException:
            return False

    def executions(self) -> list[dict[str, Any]]:
        """Every run started since the last reset, in start order.

        Each is ``{"id", "workflowId", "apiVersion": "v1"|"v2", "mode": "sync"|"async"|"stream",
        "status", "input", "jobId"?, "clientChosenId", "startedAt", "endedAt", "error", "resumeAttempts"}``.
        """
        return list(self._call("GET", "executions")["executions"])

    def requests_received(self) -> list[dict[str, Any]]:
        """Every API request received since the last reset (control calls excluded).

        Each is ``{"seq", "receivedAt", "method", "path", "query", "headers", "apiKeyPresent",
        "apiKeyMatched", "json", "bodyBytes", "status", "rateLimited"}``; ``x-api-key`` and
        ``authorization`` read ``<redacted>``. ``status`` is the HTTP status answered (``None`` while
        the answer is pending, or for a connection reset; a stream's is its 200), ``rateLimited`` is
        true for a 429 (rate limit or concurrency cap).
        """
        return list(self._call("GET", "requests")["requests"])

    def add_fault(
        self,
        path: str,
        kind: FaultKind = "status",
        *,
        method: str | None = None,
        when: FaultWhen = "before",
        times: int = 1,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        seconds: float | None = None,
    ) -> list[dict[str, Any]]:
        """Queue a fault for the next ``times`` requests to ``path`` (exact or glob); return the queue.

        :raises ValueError: if the emulator rejects the fault (the message says why).
        """
        fault: dict[str, Any] = {"path": path, "kind": kind, "when": when, "times": times}
        optional = {"method": method, "status": status, "body": body, "headers": headers, "seconds": seconds}
        fault.update({key: value for key, value in optional.items() if value is not None})
        return list(self._call("POST", "faults", fault)["faults"])

    def faults(self) -> list[dict[str, Any]]:
        """The faults still queued."""
        return list(self._call("GET", "faults")["faults"])

    def release(self, run_ids: list[str] | None = None, *, fail: str | None = None) -> list[str]:
        """End runs of the ``hold`` workflow: complete them with their input, or fail them.

        :param run_ids: the runs to release; ``None`` releases every held run.
        :param fail: fail the runs with this error message instead of completing them.
        :return: the ids of the runs that were still held and are now released.
        """
        payload: dict[str, Any] = {}
        if run_ids is not None:
            payload["runIds"] = list(run_ids)
        if fail is not None:
            payload["fail"] = fail
        return list(self._call("POST", "release", payload)["released"])

    def reset(self) -> None:
        """Clear runs, logs, faults and buckets, and restore the settings the server started with."""
        self._call("POST", "reset")

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Change settings (none: just read them) and return them all.

        The names and what they mean: :class:`~airflow_provider_sim.emulator.config.EmulatorSettings`
        (``plan`` sets every counter of a sim.ai plan; counters named in the same call win).
        Changing ``plan``, a rate, a burst or the window refills every bucket.

        :raises ValueError: on an unknown name or a bad value (the message names the setting).
        """
        if not changes:
            return dict(self._call("GET", "settings"))
        return dict(self._call("POST", "settings", changes))


@dataclass(frozen=True)
class EmulatorHandle:
    """What a test needs to talk to a running emulator (the ``emulator`` pytest fixture yields one).

    :param headers: ``{"X-API-Key": api_key}``, ready to pass to an HTTP client.
    """

    base_url: str
    api_key: str
    control: EmulatorControl
    headers: dict[str, str] = field(default_factory=dict)
