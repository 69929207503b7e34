"""Every error this provider raises, in one tree.

::

    SimError (AirflowException)            base of everything below
    ├── SimConfigurationError (ValueError)  bad argument or connection; raised before any request
    ├── SimConnectionError                  no HTTP answer (refused, reset, read timeout)
    ├── SimRunFailedError                   the run ended failed or cancelled (carries the run)
    ├── SimWaitTimeoutError                 we stopped waiting for a run that is still going
    └── SimApiError                         Sim answered with an error (status, code, request id)
        ├── SimBadRequestError              400, 413, 415: the request itself is wrong
        ├── SimAuthError                    401, 403: wrong key, or no permission
        │   └── SimNotDeployedError         403 WORKFLOW_NOT_DEPLOYED
        ├── SimUsageLimitError              402: usage (cost) limit reached; never retried
        ├── SimNotFoundError                404
        ├── SimV2DisabledError              404 from every /api/v2 path: the server has v2 off
        ├── SimConflictError                409: the run id is taken (execute), or the run's state forbids it
        ├── SimRateLimitError               429 (carries ``retry_after``)
        ├── SimServiceUnavailableError      502, 503, 504 (carries ``retry_after``)
        ├── SimServerError                  any other 5xx
        └── SimInvalidResponseError         a 2xx we could not read (not JSON, wrong shape)

No message, attribute or ``repr`` of these ever contains the API key: messages are built from
Sim's answer and our own text only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.exceptions import AirflowException

if TYPE_CHECKING:  # for annotations only: protocol.models imports this module
    from airflow_provider_sim.protocol.models import SimRun

#: Sim's code for an execute refused because the account has its plan's maximum of runs in flight
CONCURRENCY_LIMIT_CODE = "EXECUTION_CONCURRENCY_LIMIT"


class SimError(AirflowException):
    """Base class of every error raised by the Sim provider.

    :param message: What went wrong and, where we know it, how to fix it.
    :param code: Sim's error code (e.g. ``RATE_LIMITED``) or our own (e.g. ``TIMEOUT``).
    """

    default_code = "EXECUTION_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class SimConfigurationError(SimError, ValueError):
    """A parameter or the connection is wrong; raised before anything is sent to Sim."""

    default_code = "INVALID_CONFIGURATION"


class SimConnectionError(SimError):
    """Sim could not be reached, or the connection broke before an answer arrived.

    :param outcome_unknown: True when the request may have reached Sim (read timeout, reset after
        sending), so a non-idempotent call may or may not have taken effect.
    """

    default_code = "CONNECTION_ERROR"

    def __init__(self, message: str, *, outcome_unknown: bool, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.outcome_unknown = outcome_unknown


class SimRunFailedError(SimError):
    """A workflow run ended ``failed`` or ``cancelled``; ``run`` holds what Sim reported."""

    def __init__(self, run: SimRun) -> None:
        error = run.error
        detail = error.message if error and error.message else "no error message from Sim"
        super().__init__(
            f"Sim run {run.run_id} of workflow {run.workflow_id!r} ended {run.status.value}: {detail}",
            code=(error.code if error else None) or run.status.value.upper(),
        )
        self.run = run


class SimWaitTimeoutError(SimError):
    """We gave up waiting for a run that has not finished (the run itself may still be going)."""

    default_code = "TIMEOUT"


class SimApiError(SimError):
    """Sim answered with an HTTP error.

    :param http_status: The HTTP status of the answer.
    :param request_id: Sim's ``x-request-id``, to quote when asking Sim for help.
    :param details: The ``details`` object of a v2 error body, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        code: str | None = None,
        request_id: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        suffix = f" (HTTP {http_status}" + (f", request id {request_id})" if request_id else ")")
        super().__init__(message + suffix, code=code)
        self.http_status = http_status
        self.request_id = request_id
        self.details = details or {}


class SimBadRequestError(SimApiError):
    """Sim rejected the request as malformed (400), too large (413) or of the wrong type (415)."""

    default_code = "INVALID_INPUT"


class SimAuthError(SimApiError):
    """The API key was rejected (401) or may not do this (403)."""

    default_code = "UNAUTHORIZED"


class SimNotDeployedError(SimAuthError):
    """The workflow exists but is not deployed; an API key never runs a draft."""

    default_code = "WORKFLOW_NOT_DEPLOYED"


class SimUsageLimitError(SimApiError):
    """The account's usage (cost) limit is reached. Retrying does not help."""

    default_code = "USAGE_LIMIT_EXCEEDED"


class SimNotFoundError(SimApiError):
    """The workflow, run or job does not exist (or is no longer kept)."""

    default_code = "NOT_FOUND"


class SimV2DisabledError(SimApiError):
    """The server answers every ``/api/v2`` path with a bare 404: its v2 API is switched off (a
    self-hosted Sim without ``V2_API=true``), so no v2 call can work. Not a
    :class:`SimNotFoundError`: it says nothing about whether the workflow or run exists."""

    default_code = "NOT_FOUND"


class SimConflictError(SimApiError):
    """Sim refused with 409: on an execute, the client-chosen run id is already taken, so Sim
    started no new run; on a cancel or resume, the run is not in a state that allows it.

    :param run_id: The id that was already taken.
    :param after_resend: True when our own earlier attempt of the same call took the id, i.e. the
        earlier attempt reached Sim and its run exists.
    """

    default_code = "RUN_ID_CONFLICT"

    def __init__(self, message: str, *, run_id: str, after_resend: bool, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.run_id = run_id
        self.after_resend = after_resend


class SimRateLimitError(SimApiError):
    """Too many requests (429): nothing was done, so the call can always be sent again later.

    :param retry_after: the server's hint in seconds, if it gave one.
    :param operation: the metered operation (``workflows.runs.read`` ...), if known.
    :param limit_code: which limit: ``EXECUTION_CONCURRENCY_LIMIT`` (runs in flight),
        ``ADMISSION_GATE_CAPACITY``, or a rate limit (``RATE_LIMITED``...).
    :param deadline_exceeded: we stopped waiting because the hint ran past the call's deadline.
    """

    default_code = "RATE_LIMIT_EXCEEDED"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        operation: str | None = None,
        limit_code: str | None = None,
        deadline_exceeded: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.operation = operation
        self.limit_code = limit_code
        self.deadline_exceeded = deadline_exceeded

    @property
    def is_concurrency_limit(self) -> bool:
        """True when Sim refused a run because the account has as many in flight as its plan admits."""
        return self.limit_code == CONCURRENCY_LIMIT_CODE


class SimServiceUnavailableError(SimApiError):
    """Sim or a proxy in front of it is unavailable (502, 503, 504); usually passes."""

    default_code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: float | None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class SimServerError(SimApiError):
    """Sim failed with an internal error (5xx other than 502/503/504)."""

    default_code = "INTERNAL_ERROR"


class SimInvalidResponseError(SimApiError):
    """Sim (or something pretending to be Sim) answered with a body we cannot read."""

    default_code = "INVALID_JSON"
