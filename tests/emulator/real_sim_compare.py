"""Compare an answer of the emulator with the one a real Sim server gave to the same request; no I/O.

What must agree:

- the status code and the media type;
- the presence of the headers that matter (:data:`HEADERS_PRESENT`), the exact value of
  :data:`HEADERS_EXACT`, ``x-request-id`` as 8 hex digits, ``X-Run-Id`` naming the run the
  request named (a client-chosen id) and the ``X-RateLimit-*`` values' formats;
- the JSON shape: the same keys everywhere, the same JSON type for every value (int and float
  are both numbers), timestamps as ISO 8601, and the same value for the keys that are protocol
  (:data:`EXACT_KEYS`: codes, statuses, success flags, cancel reasons, error messages of error
  answers). What a workflow computes (a run's ``output``, a run failure's message) is compared by
  type only, except a ``_resume`` object inside it, which is protocol;
- for a stream, the same frames in the same order, each compared as above.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from real_sim_transcript import RecordedResponse, sse_frames

#: headers whose presence must agree
HEADERS_PRESENT = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-run-id",
    "x-execution-id",
    "www-authenticate",
    "retry-after",
    "cache-control",
)
#: headers whose value must agree too
HEADERS_EXACT = ("www-authenticate", "cache-control")
#: keys whose values are protocol, so must be equal (where the value is a string, bool or null)
EXACT_KEYS = frozenset(
    {
        "code",
        "status",
        "success",
        "async",
        "reason",
        "trigger",
        "level",
        "pauseKind",
        "message",
        "error",
        "event",
        "isDeployed",
        "needsRedeployment",
        "redisAvailable",
        "durablyRecorded",
        "locallyAborted",
        "pausedCancelled",
        "authType",
        "plan",
        "source",
        "triggerType",
        "keys",
        "path",
        "origin",
        "format",
        "pattern",
    }
)
#: keys holding what the workflow computed or declares (compared by type, ``_resume`` inside by shape)
WORKFLOW_KEYS = frozenset({"output", "finalOutput", "inputs", "variables"})
#: keys that mark an object as describing a run or job (its ``error`` is the run's failure)
RUN_KEYS = frozenset({"success", "status", "taskId", "runId"})
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
REQUEST_ID = re.compile(r"^[0-9a-f]{8}$")


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (``number`` for int and float alike)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def compare_shape(recorded: Any, emulated: Any, path: str = "$", *, exact: bool = False) -> list[str]:
    """The differences between two JSON values under the rules above (``[]`` when they agree).

    :param exact: the value itself is protocol (a key of :data:`EXACT_KEYS`).
    """
    if json_type(recorded) != json_type(emulated):
        return [
            f"{path}: {json_type(recorded)} {recorded!r:.80} recorded, {json_type(emulated)} {emulated!r:.80}"
        ]
    if isinstance(recorded, dict):
        return _compare_objects(recorded, emulated, path)
    if isinstance(recorded, list):
        if exact and len(recorded) != len(emulated):
            return [f"{path}: {recorded!r:.80} recorded, {emulated!r:.80}"]
        if bool(recorded) != bool(emulated):
            return [f"{path}: {len(recorded)} items recorded, {len(emulated)}"]
        problems: list[str] = []
        for index, (left, right) in enumerate(zip(recorded, emulated, strict=False)):
            problems += compare_shape(left, right, f"{path}[{index}]", exact=exact)
        return problems
    if isinstance(recorded, str) and ISO_TIME.match(recorded):
        return [] if ISO_TIME.match(emulated) else [f"{path}: {emulated!r} is not an ISO 8601 time"]
    if exact and not isinstance(recorded, int | float) and recorded != emulated:
        return [f"{path}: {recorded!r:.100} recorded, {emulated!r:.100}"]
    return []


def _compare_objects(recorded: dict[str, Any], emulated: dict[str, Any], path: str) -> list[str]:
    problems = []
    missing, extra = sorted(set(recorded) - set(emulated)), sorted(set(emulated) - set(recorded))
    if missing:
        problems.append(f"{path}: keys missing: {', '.join(missing)}")
    if extra:
        problems.append(f"{path}: keys Sim does not send: {', '.join(extra)}")
    describes_run = bool(RUN_KEYS & set(recorded))
    for key in sorted(set(recorded) & set(emulated)):
        where = f"{path}.{key}"
        left, right = recorded[key], emulated[key]
        if key in WORKFLOW_KEYS and "taskId" not in recorded:
            problems += _compare_workflow_value(left, right, where)
        elif key == "error" and describes_run:
            problems += _compare_run_error(left, right, where)
        else:
            problems += compare_shape(left, right, where, exact=key in EXACT_KEYS)
    return problems


def _compare_run_error(recorded: Any, emulated: Any, path: str) -> list[str]:
    """A run's failure: its message is the workflow's, its code and block fields are protocol."""
    if isinstance(recorded, dict) and isinstance(emulated, dict):
        problems = _compare_objects({**recorded, "message": ""}, {**emulated, "message": ""}, path)
        return problems + compare_shape(recorded.get("message"), emulated.get("message"), f"{path}.message")
    return compare_shape(recorded, emulated, path)


def _compare_workflow_value(recorded: Any, emulated: Any, path: str) -> list[str]:
    if json_type(recorded) != json_type(emulated):
        return compare_shape(recorded, emulated, path)
    problems = []
    for resume_path in _paths_to(recorded, "_resume"):
        left, right = _at(recorded, resume_path), _at(emulated, resume_path)
        where = path + "".join(f".{key}" for key in resume_path)
        if right is _MISSING:
            problems.append(f"{where}: missing (a paused run's output carries it)")
        else:
            problems += compare_shape(left, right, where)
    return problems


_MISSING = object()


def _paths_to(value: Any, wanted: str, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        return []
    found = [(*prefix, wanted)] if wanted in value else []
    for key, inner in value.items():
        if key != wanted:
            found += _paths_to(inner, wanted, (*prefix, key))
    return found


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def compare_headers(
    recorded: Mapping[str, str], emulated: Mapping[str, str], client_run_id: str | None
) -> list[str]:
    """Differences in the headers that matter (names lower-case in both)."""
    problems = []
    for name in HEADERS_PRESENT:
        if (name in recorded) != (name in emulated):
            state = "sent" if name in recorded else "not sent"
            problems.append(
                f"header {name}: Sim {state} it, the emulator {'did not' if name in recorded else 'did'}"
            )
        elif name in HEADERS_EXACT and name in recorded and recorded[name] != emulated[name]:
            problems.append(f"header {name}: {recorded[name]!r} recorded, {emulated[name]!r}")
    if not REQUEST_ID.match(emulated.get("x-request-id", "")):
        problems.append(f"header x-request-id: {emulated.get('x-request-id')!r} is not 8 hex digits")
    media = (recorded.get("content-type", "").split(";")[0], emulated.get("content-type", "").split(";")[0])
    if media[0] != media[1]:
        problems.append(f"content type: {media[0]!r} recorded, {media[1]!r}")
    named = client_run_id is not None and recorded.get("x-run-id") == client_run_id
    if named and "x-run-id" in emulated and emulated["x-run-id"] != client_run_id:
        problems.append(f"header x-run-id: {emulated['x-run-id']!r}, not the run named {client_run_id!r}")
    if "x-ratelimit-limit" in recorded and "x-ratelimit-limit" in emulated:
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining"):
            if not emulated.get(name, "").isdigit():
                problems.append(f"header {name}: {emulated.get(name)!r} is not a whole number")
        if not ISO_TIME.match(emulated.get("x-ratelimit-reset", "")):
            problems.append(
                f"header x-ratelimit-reset: {emulated.get('x-ratelimit-reset')!r} is not ISO 8601"
            )
    return problems


def compare_answer(
    recorded: RecordedResponse,
    status: int,
    headers: Mapping[str, str],
    body: str,
    client_run_id: str | None = None,
) -> list[str]:
    """Every difference between the recorded answer and the emulator's (``[]``: they match)."""
    problems = [] if recorded.status == status else [f"status: {recorded.status} recorded, {status}"]
    problems += compare_headers(recorded.headers, headers, client_run_id)
    if recorded.is_stream:
        want, got = recorded.frames(), sse_frames(body)
        if len(want) != len(got):
            return [*problems, f"stream: {len(want)} frames recorded, {len(got)}: {got!r:.300}"]
        for index, (left, right) in enumerate(zip(want, got, strict=True)):
            problems += compare_shape(left, right, f"frame[{index}]")
        return problems
    try:
        emulated = json.loads(body) if body.strip() else None
    except json.JSONDecodeError:
        return [*problems, f"body is not JSON: {body!r:.200}"]
    return problems + compare_shape(recorded.json(), emulated)
