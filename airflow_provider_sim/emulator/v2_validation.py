"""Validation of v2 request bodies and headers, with Sim's zod issues as the error ``details``.

Each issue is shaped as zod reports it (``code`` and its fields, ``path``, ``message``); the
answer's message is the first issue's, as Sim's ``getValidationErrorMessage`` picks it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_sim.emulator.config import MAX_BODY_BYTES, MAX_EXECUTION_TIMEOUT_SECONDS
from airflow_provider_sim.emulator.views import id_problem

Issue = dict[str, Any]
_BOOL_KEYS = ("stream", "async", "includeThinking", "includeToolCalls", "includeFileBase64")
EXECUTE_KEYS = frozenset(
    {"input", "selectedOutputs", "executionTimeoutSeconds", "base64MaxBytes", *_BOOL_KEYS}
)


def issue(path: list[str], message: str, **fields: Any) -> Issue:
    """One validation problem, shaped as Sim's zod issues are (``code`` and its fields first)."""
    return {**fields, "path": path, "message": message}


def _received(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def wrong_type(key: str, expected: str, value: Any) -> Issue:
    message = f"Invalid input: expected {expected}, received {_received(value)}"
    return issue([key], message, expected=expected, code="invalid_type")


def _out_of_range(key: str, value: float, low: int, high: int) -> Issue | None:
    if value > high:
        bound: dict[str, Any] = {"origin": "number", "code": "too_big", "maximum": high, "inclusive": True}
        return issue([key], f"Too big: expected number to be <={high}", **bound)
    if value < low:
        bound = {"origin": "number", "code": "too_small", "minimum": low, "inclusive": True}
        return issue([key], f"Too small: expected number to be >={low}", **bound)
    return None


def unknown_keys_issue(body: dict[str, Any], allowed: frozenset[str] | tuple[str, ...]) -> Issue | None:
    """Zod's one issue for every key a strict object does not know, or ``None``."""
    unknown = [key for key in body if key not in allowed]
    if not unknown:
        return None
    listed = ", ".join(f'"{key}"' for key in unknown)
    message = f"Unrecognized key{'s' if len(unknown) > 1 else ''}: {listed}"
    return issue([], message, code="unrecognized_keys", keys=unknown)


def run_id_issue(run_id: str) -> Issue | None:
    """Sim's issue for a bad ``X-Run-Id`` (``runIdSchema``), or ``None``."""
    problem = id_problem(run_id, "Run ID")
    if problem is None:
        return None
    if not run_id or len(run_id) > 128:
        size = {"code": "too_small", "minimum": 1} if not run_id else {"code": "too_big", "maximum": 128}
        return issue(["x-run-id"], problem, origin="string", **size, inclusive=True)
    pattern = {"code": "invalid_format", "format": "regex", "pattern": "/^[A-Za-z0-9._:-]+$/"}
    return issue(["x-run-id"], problem, origin="string", **pattern)


def _number_issue(body: dict[str, Any], key: str, high: int) -> Issue | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, int | float) or isinstance(value, bool):
        return wrong_type(key, "number", value)
    if not float(value).is_integer():
        return issue(
            [key], "Invalid input: expected int, received number", expected="int", code="invalid_type"
        )
    return _out_of_range(key, value, 1, high)


def validate_execute_body(body: Any) -> list[Issue]:
    """Check a v2 execute body against Sim's strict schema; return the problems found."""
    if not isinstance(body, dict):
        return [wrong_type("", "object", body) | {"path": []}]
    unknown = unknown_keys_issue(body, EXECUTE_KEYS)
    issues = [] if unknown is None else [unknown]
    if "input" in body and not isinstance(body["input"], dict):
        issues.append(wrong_type("input", "record", body["input"]))
    issues += [
        wrong_type(key, "boolean", body[key])
        for key in _BOOL_KEYS
        if key in body and not isinstance(body[key], bool)
    ]
    outputs = body.get("selectedOutputs")
    if outputs is not None and (
        not isinstance(outputs, list)
        or len(outputs) > 100
        or not all(isinstance(item, str) and item for item in outputs)
    ):
        issues.append(issue(["selectedOutputs"], "Expected at most 100 non-empty strings"))
    for key, high in (
        ("executionTimeoutSeconds", MAX_EXECUTION_TIMEOUT_SECONDS),
        ("base64MaxBytes", MAX_BODY_BYTES),
    ):
        problem = _number_issue(body, key, high)
        if problem is not None:
            issues.append(problem)
    return issues
