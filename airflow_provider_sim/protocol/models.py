"""Value types of the Sim protocol: what requests are made of and what answers become."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from airflow_provider_sim.exceptions import SimRunFailedError


class ApiVersion(StrEnum):
    """The generation of Sim's HTTP API a connection speaks."""

    V1 = "v1"
    V2 = "v2"


class RunStatus(StrEnum):
    """The one vocabulary for a run's state, whatever Sim endpoint reported it.

    Sim's own words map onto these (``pending`` -> ``queued``, ``processing`` and ``redacting`` ->
    ``running``); a word Sim adds later maps to ``UNKNOWN`` instead of raising.
    """

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True when the run will not change state again by itself (paused waits for a person)."""
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)

    @property
    def is_success(self) -> bool:
        """True only for ``completed``: a failed, cancelled or unknown run is never a success."""
        return self is RunStatus.COMPLETED

    @classmethod
    def from_sim(cls, value: object) -> RunStatus:
        """Map a status word from any Sim endpoint (v1 job, v1 execution, v2 run)."""
        return _SIM_STATUS_WORDS.get(str(value).lower(), cls.UNKNOWN)


_SIM_STATUS_WORDS: dict[str, RunStatus] = {
    "queued": RunStatus.QUEUED,
    "pending": RunStatus.QUEUED,
    "running": RunStatus.RUNNING,
    "processing": RunStatus.RUNNING,
    "redacting": RunStatus.RUNNING,
    "paused": RunStatus.PAUSED,
    "completed": RunStatus.COMPLETED,
    "success": RunStatus.COMPLETED,
    "failed": RunStatus.FAILED,
    "error": RunStatus.FAILED,
    "cancelled": RunStatus.CANCELLED,
    "canceled": RunStatus.CANCELLED,
}


@dataclass(frozen=True)
class RunError:
    """Why a run failed: Sim's message and, on v2, its code (e.g. ``TIMEOUT``)."""

    message: str
    code: str | None = None


@dataclass(frozen=True)
class PauseInfo:
    """Where a paused run waits: for a person (``human``) or a time (``time``)."""

    context_id: str | None
    kind: str | None = None
    paused_at: str | None = None
    resume_at: str | None = None
    blocked_on_block_id: str | None = None
    resume_url: str | None = None


@dataclass(frozen=True)
class SimRun:
    """One workflow run as Sim last reported it.

    Returned by every execute (sync: the finished run; async: the queued run) and every status
    read, on both API generations.

    :param run_id: v2 ``runId`` / v1 ``executionId``.
    :param job_id: v1 only: the async job id (status at ``/api/jobs/{job_id}``).
    :param status_url: where Sim says the status can be read (async executes).
    :param cost: the run's total cost where Sim reports it.
    :param trigger: how the run was started, where Sim says (``api``, ``schedule``, ``webhook``,
        ``chat``, ``manual``, ...; its run list and status reads do).
    :param resume_attempt_id: on a resume's answer only: the id Sim gave the resume attempt (its
        status reads 404; the run goes on under ``run_id``).
    """

    run_id: str
    workflow_id: str
    status: RunStatus
    output: Any = None
    error: RunError | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: float | None = None
    cost: float | None = None
    paused: PauseInfo | None = None
    job_id: str | None = None
    status_url: str | None = None
    resume_attempt_id: str | None = None
    trigger: str | None = None

    def raise_for_status(self) -> SimRun:
        """Raise :class:`~airflow_provider_sim.exceptions.SimRunFailedError` if the run failed or
        was cancelled; return the run otherwise."""
        if self.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise SimRunFailedError(self)
        return self


@dataclass(frozen=True)
class RunPage:
    """One page of ``GET /api/v2/workflows/{id}/runs``: run summaries (no output) and the cursor
    of the next page (``None`` on the last)."""

    runs: tuple[SimRun, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class CancelResult:
    """The answer to a cancel: whether this call cancelled the run, and Sim's reason if not."""

    run_id: str
    cancelled: bool
    reason: str | None = None


@dataclass(frozen=True)
class DeploymentStatus:
    """Whether a workflow can be run with an API key (only deployed workflows can)."""

    workflow_id: str
    is_deployed: bool
    deployed_at: str | None = None
    needs_redeployment: bool = False


@dataclass(frozen=True)
class WorkflowInfo:
    """A workflow's identity; ``workspace_id`` is needed for links into Sim's web app."""

    workflow_id: str
    name: str | None
    workspace_id: str | None


@dataclass(frozen=True)
class RateLimitInfo:
    """The rate-limit state Sim reported in the headers of an answer.

    :param reset_at: when the bucket refills (from ISO 8601 or epoch ``X-RateLimit-Reset``).
    :param retry_after: seconds to wait before the next call, if Sim said so.
    """

    limit: int | None
    remaining: int | None
    reset_at: datetime | None
    retry_after: float | None = None


@dataclass(frozen=True)
class RateLimitBucket:
    """One of the buckets in the usage-limits answer (``sync`` or ``async``)."""

    is_limited: bool
    requests_per_minute: int | None
    max_burst: int | None
    remaining: int | None
    reset_at: str | None


@dataclass(frozen=True)
class UsageLimits:
    """``GET /api/users/me/usage-limits``: rate-limit buckets, spend and storage."""

    sync: RateLimitBucket | None
    async_: RateLimitBucket | None
    auth_type: str | None
    current_period_cost: float | None
    cost_limit: float | None
    plan: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamFrame:
    """One Server-Sent Event of a streamed execution, already interpreted.

    ``kind`` is ``chunk`` (``block_id`` + ``chunk``), ``stream_error`` (not terminal), ``final``
    (``output`` / ``error``/``success``), ``error`` (the run failed) or ``done`` (end of stream).
    """

    kind: str
    block_id: str | None = None
    chunk: str | None = None
    output: Any = None
    error: str | None = None
    success: bool | None = None
    status: RunStatus | None = None


def encode_json(value: Any) -> bytes:
    """``value`` as a JSON body: UTF-8 rather than ``\\u`` escapes (Sim's 10 MiB limit counts bytes,
    and an escape spends 6 on a CJK character UTF-8 writes in 3), compact, no NaN or Infinity.

    :raises ValueError: for NaN/Infinity and for strings that are not Unicode (lone surrogates).
    :raises TypeError: for values JSON has no type for.
    """
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class RequestSpec:
    """One HTTP request, ready for any transport to send.

    :param path: path below the base URL, already percent-encoded.
    :param read_timeout: ``None`` for the connection's normal timeout; set for calls that wait
        long by design (synchronous executes).
    :param is_execute: starts a run; resent only under its client-chosen ``run_id``.
    :param run_id: the client-chosen id the request names its run with (executes only).
    :param safe_to_resend: whether a request that may have reached Sim (read timeout, reset after
        sending, 502/504) can be sent again without doing its work twice.
    :param operation: the operation Sim meters the call under (``workflows.runs.read`` ...), one
        budget per operation and account; ``None`` for calls Sim does not meter (v1 reads).
    """

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None
    read_timeout: float | None = None
    stream: bool = False
    is_execute: bool = False
    run_id: str | None = None
    api_version: ApiVersion | None = None
    safe_to_resend: bool = True
    operation: str | None = None
    #: ``json_body`` as sent (:func:`encode_json`), encoded once here for every transport
    body: bytes | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.json_body is not None:
            object.__setattr__(self, "body", encode_json(self.json_body))


@dataclass(frozen=True)
class HttpResponse:
    """What a transport got back, reduced to what the protocol reads.

    :param attempt: 1 for the first send of a request, 2+ for resends of the same request.
    :param stream: for a streamed 2xx answer, the transport's open response (body not read).
    """

    status_code: int
    headers: Mapping[str, str]
    body: bytes
    attempt: int = 1
    stream: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # one pass over the transport's header type (requests, aiohttp, httpx); plain dict after it
        object.__setattr__(self, "headers", lowercase_keys(self.headers))

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())


def lowercase_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as a plain dict with lower-case names, so lookups are one ``get``."""
    return {key.lower(): value for key, value in headers.items()}


@dataclass(frozen=True)
class Sleep:
    """A flow step asking its driver to wait (``time.sleep`` or ``asyncio.sleep``)."""

    seconds: float
