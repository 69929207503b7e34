"""Reading Sim's error answers: which exception each one becomes, with the fix in its message. No I/O.

Both generations' envelopes land in the tree of :mod:`airflow_provider_sim.exceptions`: v2's
``{"error": {"code", "message", "details"}}`` and v1's ``{"error": "<message>", "code"?}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from airflow_provider_sim.exceptions import (
    SimApiError,
    SimAuthError,
    SimBadRequestError,
    SimConflictError,
    SimConnectionError,
    SimInvalidResponseError,
    SimNotDeployedError,
    SimNotFoundError,
    SimRateLimitError,
    SimServerError,
    SimServiceUnavailableError,
    SimUsageLimitError,
    SimV2DisabledError,
)
from airflow_provider_sim.protocol.models import ApiVersion, HttpResponse, RequestSpec
from airflow_provider_sim.protocol.quota import retry_after_seconds

_FIX_BY_STATUS: dict[int, str] = {
    401: "check the API key in the Sim connection (password field); keys look like sk-sim-...",
    402: "the Sim account's usage limit is reached: raise the limit or upgrade the plan in Sim's "
    "billing settings; retrying will not help",
    403: "the API key may not do this: check the key's workspace and permissions in Sim",
    404: "check the id (workflow ids are in the workflow's URL in Sim) and the connection's base URL",
}

#: the largest request body Sim reads (``MAX_REQUEST_BODY_SIZE``, 10 MiB)
MAX_BODY_BYTES = 10 * 1024 * 1024

#: Sim's answer to every ``/api/v2`` path while v2 is off (its own catch-all 404 has the same body)
V2_OFF_MESSAGE = "Not found"


def connection_error(
    spec: RequestSpec, base_url: str, cause: BaseException, *, not_sent: bool, timed_out: bool
) -> SimConnectionError:
    """The error for a request that got no answer; each transport says only what it can tell from
    its own exception: whether the request never left (``not_sent``) and whether it timed out."""
    what = "could not connect" if not_sent else "the connection broke or timed out before Sim answered"
    return SimConnectionError(
        f"Sim {spec.method} {base_url}{spec.path}: {what} ({type(cause).__name__})",
        outcome_unknown=not not_sent,
        code="TIMEOUT" if timed_out else None,
    )


def invalid_response(response: HttpResponse, message: str) -> SimInvalidResponseError:
    """The error for a 2xx answer we cannot read."""
    return SimInvalidResponseError(
        message, http_status=response.status_code, request_id=response.header("x-request-id")
    )


def parse_json(response: HttpResponse) -> Any:
    """The JSON body, or :class:`SimInvalidResponseError` saying what came instead."""
    try:
        return json.loads(response.body)
    except ValueError as err:
        raise SimInvalidResponseError(
            f"Sim answered with a body that is not JSON ({_describe_body(response)}); check that the "
            "connection's base URL points at Sim and not at a proxy or another site",
            http_status=response.status_code,
            request_id=response.header("x-request-id"),
        ) from err


def _describe_body(response: HttpResponse) -> str:
    content_type = response.header("content-type") or "no content type"
    snippet = response.body[:80].decode("utf-8", "replace").replace("\n", " ")
    return f"{content_type}: {snippet!r}"


def error_fields(body: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """(message, code, details) from a v2 ``{"error": {...}}`` or v1 ``{"error": "...", "code"}`` body."""
    if not isinstance(body, dict):
        return None, None, {}
    error = body.get("error")
    if isinstance(error, dict):
        return json_str(error.get("message")), json_str(error.get("code")), json_obj(error.get("details"))
    return json_str(error) or json_str(body.get("message")), json_str(body.get("code")), {}


def is_run_outcome(spec: RequestSpec, response: HttpResponse) -> bool:
    """v1 reports a failed synchronous run as HTTP 500 ``{success: false}`` and a timed-out one as
    408: these are run results, not API errors."""
    if not spec.is_execute or spec.api_version is not ApiVersion.V1:
        return False
    if response.status_code == 408:
        return True
    if response.status_code == 500:
        try:
            body = json.loads(response.body)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("success") is False
    return False


def raise_for_response(spec: RequestSpec, response: HttpResponse, *, now: datetime | None = None) -> None:
    """Raise the exception for an error answer; return for success and for run outcomes."""
    status = response.status_code
    if 200 <= status < 300 or is_run_outcome(spec, response):
        return
    request_id = response.header("x-request-id")
    if 300 <= status < 400:
        location = response.header("location") or "an unknown place"
        raise SimApiError(
            f"Sim redirected {spec.method} {spec.path} to {location}; redirects are not followed so the "
            "API key stays on its host: set the connection's base URL to where Sim really is",
            http_status=status,
            code="REDIRECT",
            request_id=request_id,
        )
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    message, code, details = error_fields(body)
    if message is None:
        message = f"Sim answered {spec.method} {spec.path} with HTTP {status}" + (
            "" if body is not None else f" and a non-JSON body ({_describe_body(response)})"
        )
    common: dict[str, Any] = {
        "http_status": status,
        "code": code,
        "request_id": request_id,
        "details": details,
    }
    if status == 404 and message == V2_OFF_MESSAGE and spec.path.startswith("/api/v2/"):
        raise SimV2DisabledError(
            f"Sim answered {spec.method} {spec.path} with a bare 404 'Not found', as it answers every "
            "v2 path while its v2 API is switched off: set api_version to v1 in the Sim connection's "
            "extras (or the hook's api_version='v1'), or start the Sim server with V2_API=true",
            **common,
        )
    if status == 403 and (
        details.get("code") == "WORKFLOW_NOT_DEPLOYED" or "not deployed" in message.lower()
    ):
        raise SimNotDeployedError(
            f"{message}: deploy the workflow in Sim (Deploy button) first; an API key never runs a draft",
            **{**common, "code": "WORKFLOW_NOT_DEPLOYED"},
        )
    if status == 409:
        raise _conflict(spec, response, message, common)
    if status == 429:
        hint = retry_after_seconds(response.headers, now=now)
        if hint is None:  # v1's capacity and concurrency answers say it in the body
            hint = json_number(details.get("retryAfterSeconds", json_obj(body).get("retryAfterSeconds")))
        limit = json_str(details.get("code")) or code
        raise SimRateLimitError(
            f"{message}: rate limited by Sim",
            retry_after=hint,
            operation=spec.operation,
            limit_code=limit,
            **common,
        )
    if status in (502, 503, 504):
        raise SimServiceUnavailableError(
            message, retry_after=retry_after_seconds(response.headers, now=now), **common
        )
    error_class: type[SimApiError] = {
        400: SimBadRequestError,
        401: SimAuthError,
        402: SimUsageLimitError,
        403: SimAuthError,
        404: SimNotFoundError,
        413: SimBadRequestError,
        415: SimBadRequestError,
    }.get(status, SimServerError if status >= 500 else SimApiError)
    fix = _too_large_fix(spec) if status == 413 else _FIX_BY_STATUS.get(status)
    raise error_class(f"{message}: {fix}" if fix else message, **common)


def _too_large_fix(spec: RequestSpec) -> str:
    size = len(spec.body or b"")
    return (
        f"the request body is {size:,} bytes ({size / 1024 / 1024:.1f} MiB) and Sim takes at most "
        f"{MAX_BODY_BYTES:,} bytes (10 MiB): send large files as URLs instead of inline"
    )


def _conflict(
    spec: RequestSpec, response: HttpResponse, message: str, common: dict[str, Any]
) -> SimConflictError:
    """A 409. On an execute the run id is taken (v2 says ``RUN_ID_CONFLICT`` in ``details``, v1
    ``EXECUTION_ID_CONFLICT`` as its code); on a cancel or resume the run's state forbids it."""
    if not spec.is_execute:
        return SimConflictError(message, run_id="", after_resend=False, **common)
    code = json_str(common["details"].get("code")) or common["code"]
    return SimConflictError(
        f"{message}: run id {spec.run_id!r} is already taken",
        run_id=spec.run_id or "",
        after_resend=response.attempt > 1,
        **{**common, "code": code},
    )


def json_obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def json_str(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def json_number(value: Any) -> float | None:
    """``value`` as a float if it is a JSON number (not a boolean), else ``None``."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
