"""Framework-free request and response values, and the builders for Sim's two error shapes.

A route handler turns an :class:`EmulatorRequest` into an :class:`EmulatorResponse`;
:mod:`.endpoints` converts between them and Starlette's request and response.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class EmulatorRequest:
    """An HTTP request as the core sees it.

    :param headers: names lower-cased; one value per name.
    :param query: ``(name, value)`` pairs in order.
    :param base_url: scheme and authority the client used, for absolute URLs in responses.
    :param client_host: the client's IP address (the key of the per-IP rate-limit bucket).
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = "http://127.0.0.1"
    client_host: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        """Return header ``name`` (any case) or ``None``."""
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        """Return the last value of query parameter ``name`` or ``None``."""
        values = [value for key, value in self.query if key == name]
        return values[-1] if values else None


@dataclass
class EmulatorResponse:
    """An HTTP response, a streamed one, or an instruction to drop the connection.

    :param stream: when set, the body is produced by this iterator (SSE) and ``body`` is ignored.
    :param reset: drop the TCP connection without answering.
    :param bucket: the execution bucket (sync or async) a v2 execute consulted; the core reports
        whichever of it and the operation's bucket is more restrictive in ``X-RateLimit-*``.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    reset: bool = False
    bucket: BucketState | None = None

    def json(self) -> Any:
        """Decode a JSON body (for tests and the in-process transports)."""
        return json.loads(self.body)


def new_request_id() -> str:
    """A request id as Sim makes one (``generateRequestId``): 8 hex digits."""
    return secrets.token_hex(4)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> EmulatorResponse:
    """A JSON response."""
    merged = {"content-type": "application/json"}
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    return EmulatorResponse(status, merged, json.dumps(payload, separators=(",", ":")).encode())


def v1_error(
    status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None, **extra: Any
) -> EmulatorResponse:
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
) -> EmulatorResponse:
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
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    return json_response(status, {"error": error}, merged)


def v2_data(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> EmulatorResponse:
    """A v2 success: ``{"data": ...}``."""
    merged = {"cache-control": "private, no-store"}
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    return json_response(status, {"data": data}, merged)


def rate_limit_headers(state: BucketState) -> dict[str, str]:
    """The v2 ``X-RateLimit-*`` headers for a bucket (reset as ISO 8601, as Sim sends it)."""
    return {
        "x-ratelimit-limit": str(state.limit),
        "x-ratelimit-remaining": str(state.remaining),
        "x-ratelimit-reset": iso(state.reset_at) or "",
    }


def rate_limited(state: BucketState) -> EmulatorResponse:
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
