"""Builders of Sim's answers as Starlette responses: JSON, Sim's two error shapes, rate-limit headers, SSE."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_sim.emulator.config import MAX_BODY_BYTES
from airflow_provider_sim.emulator.ratelimit import BucketState
from airflow_provider_sim.emulator.state import iso

#: v2 error code for each HTTP status (Sim's V2_ERROR_CODE_BY_STATUS)
V2_CODE_BY_STATUS: Mapping[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "USAGE_LIMIT_EXCEEDED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    423: "LOCKED",
    429: "RATE_LIMITED",
    499: "CLIENT_CLOSED_REQUEST",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
#: the challenge every v2 401 carries (copied from Sim)
V2_AUTH_CHALLENGE = 'SimApiKey realm="Sim API", header="x-api-key"'
SSE_HEADERS: Mapping[str, str] = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


class Refused(Exception):
    """Raised by a route handler to answer at once with ``response``: Sim's error for what it found."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def json_body(
    request: Request, error: Callable[[int, str], Response], too_large: str, invalid: str
) -> Any:
    """The request's JSON body (``None`` if empty).

    :param error: builds the error answer (``v1_error`` or ``v2_error``).
    :raises Refused: with a 413 saying ``too_large`` for a body over Sim's limit, or a 400 saying
        ``invalid`` for a body that is not JSON.
    """
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Refused(error(413, too_large))
    ok, body = parse_json_body(raw)
    if not ok:
        raise Refused(error(400, invalid))
    return body


def new_request_id() -> str:
    """A request id as Sim makes one (``generateRequestId``): 8 hex digits."""
    return secrets.token_hex(4)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (compact, as Sim sends it)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(body, status, {"content-type": "application/json", **(headers or {})})


def v1_error(
    status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    """A v1 error: ``{"error": message}`` plus ``code`` and extra fields where Sim adds them."""
    payload: dict[str, Any] = {"error": message}
    if code is not None:
        payload["code"] = code
    payload.update(extra)
    return json_response(status, payload, headers)


def v2_error(
    status: int,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
) -> Response:
    """A v2 error: ``{"error": {"code", "message", "details"?}}`` with Sim's standard headers."""
    error: dict[str, Any] = {
        "code": code or V2_CODE_BY_STATUS.get(status, "INTERNAL_ERROR"),
        "message": message,
    }
    if details is not None:
        error["details"] = details
    merged = {"cache-control": "private, no-store"}
    if status == 401:
        merged["www-authenticate"] = V2_AUTH_CHALLENGE
    if status == 503:
        merged["retry-after"] = "5"
    return json_response(status, {"error": error}, {**merged, **(headers or {})})


def v2_data(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A v2 success: ``{"data": ...}``."""
    return json_response(status, {"data": data}, {"cache-control": "private, no-store", **(headers or {})})


def rate_limit_headers(state: BucketState) -> dict[str, str]:
    """The v2 ``X-RateLimit-*`` headers for a bucket (reset as ISO 8601, as Sim sends it)."""
    return {
        "x-ratelimit-limit": str(state.limit),
        "x-ratelimit-remaining": str(state.remaining),
        "x-ratelimit-reset": iso(state.reset_at) or "",
    }


def rate_limited(state: BucketState) -> Response:
    """Sim's v2 429 for a refused operation or per-IP bucket (``v2RateLimitError``)."""
    headers = {**rate_limit_headers(state), "retry-after": state.retry_after_header}
    details = {"retryAfter": iso(state.reset_at)}
    return v2_error(429, "API rate limit exceeded", details, headers)


def sse_frame(payload: Any) -> bytes:
    """One Server-Sent Events frame: ``data: <JSON>`` and a blank line."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def parse_json_body(body: bytes) -> tuple[bool, Any]:
    """Decode a request body: ``(True, value)``; ``(True, None)`` if empty; ``(False, None)`` if not JSON."""
    if not body.strip():
        return True, None
    try:
        return True, json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False, None
