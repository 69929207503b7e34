"""Small helpers for the emulator tests: polling with a deadline, reading SSE frames."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def poll(
    fetch: Callable[[], T], until: Callable[[T], bool], timeout: float = 3.0, interval: float = 0.02
) -> T:
    """Call ``fetch`` until ``until(result)`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {result!r}")
        time.sleep(interval)


def sse_payloads(lines: Iterable[str]) -> list[Any]:
    """Decode the ``data:`` lines of an SSE body into JSON values, in order."""
    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]
