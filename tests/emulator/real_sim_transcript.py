"""Parse the answers recorded from a real Sim server (``real_sim/TRANSCRIPT*.md``); no I/O.

A transcript is Markdown: ``## `` headings name sections (one saying ``V2_API=false`` means the
server ran with v2 switched off from there on), each ``### `` heading one request/response pair
written as two fenced ``http`` blocks (the request, then ``Response (...)`` and the answer). A
line ``_Polled `URL`: ... at HTTP 200 status='X'. Final answer:_`` says the next pair was read
once the resource had reached status ``X``. The preamble names the workflows, as
``echo `<uuid>```; the key appears as ``sk-sim-<key>``, a body too large to show as
``<N bytes of JSON>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: the workflow roles the recordings use, as their preambles name them
ROLES = ("echo", "fail", "undeployed", "slow", "approval")
#: the API key as the transcripts show it
KEY_PLACEHOLDER = "sk-sim-<key>"
_ROLE_ID = re.compile(r"\b(" + "|".join(ROLES) + r") `([0-9a-f-]{36})`")
_POLLED = re.compile(r"^_Polled `(?P<url>[^`]+)`:.*status='(?P<status>[a-z]+)'\. Final answer:_$")
_SIZED_BODY = re.compile(r"^<(\d+) bytes of JSON>$")
_FENCE = "```"


@dataclass(frozen=True)
class RecordedRequest:
    """A request as recorded: ``target`` is the path with its query string."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: str | None
    #: the body was too large to record; it was this many bytes of JSON
    body_size: int | None = None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None``."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


@dataclass(frozen=True)
class RecordedResponse:
    """An answer as recorded: header names lower-cased."""

    status: int
    headers: dict[str, str]
    body: str

    @property
    def is_stream(self) -> bool:
        """True for a Server-Sent Events answer."""
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def json(self) -> Any:
        """The body decoded as JSON (``None`` for an empty body)."""
        return json.loads(self.body) if self.body.strip() else None

    def frames(self) -> list[Any]:
        """The ``data:`` frames of a stream, decoded as JSON."""
        return sse_frames(self.body)


@dataclass(frozen=True)
class RecordedPair:
    """One request and the answer the real server gave.

    :param name: unique within its transcript (the heading, numbered if it repeats).
    :param v2_api: the server had v2 switched on (``V2_API=true``) when this was recorded.
    :param reached_status: the answer was read once the resource reached this status (a poll).
    """

    transcript: str
    name: str
    section: str
    request: RecordedRequest
    response: RecordedResponse
    v2_api: bool = True
    reached_status: str | None = None

    @property
    def test_id(self) -> str:
        """A pytest id: transcript and heading."""
        return f"{self.transcript}:{self.name}"


@dataclass(frozen=True)
class Transcript:
    """A parsed transcript: the role of each recorded workflow id, and the pairs in recorded order."""

    name: str
    workflows: dict[str, str] = field(default_factory=dict)
    pairs: tuple[RecordedPair, ...] = ()


def sse_frames(body: str) -> list[Any]:
    """Decode every ``data:`` line of a Server-Sent Events body as JSON."""
    return [
        json.loads(line[len("data:") :].strip()) for line in body.splitlines() if line.startswith("data:")
    ]


def _fenced_blocks(lines: list[str], start: int) -> Iterator[tuple[int, list[str]]]:
    """``(index after the block, lines inside)`` for each fenced block from ``start`` on."""
    index = start
    while index < len(lines):
        if lines[index].startswith(_FENCE):
            end = index + 1
            while end < len(lines) and lines[end] != _FENCE:
                end += 1
            yield end + 1, lines[index + 1 : end]
            index = end + 1
        else:
            index += 1


def _head_and_body(block: list[str]) -> tuple[str, list[tuple[str, str]], str]:
    blank = block.index("") if "" in block else len(block)
    first, *header_lines = block[:blank]
    headers = [(name.strip(), value.strip()) for name, _, value in (h.partition(":") for h in header_lines)]
    return first, headers, "\n".join(block[blank + 1 :]).strip("\n")


def parse_request(block: list[str]) -> RecordedRequest:
    """A request block: ``METHOD target HTTP/1.1``, headers, a blank line, the body."""
    first, headers, body = _head_and_body(block)
    method, target, _ = first.split(" ", 2)
    sized = _SIZED_BODY.match(body)
    if sized:
        return RecordedRequest(method, target, tuple(headers), None, int(sized.group(1)))
    return RecordedRequest(method, target, tuple(headers), body or None)


def parse_response(block: list[str]) -> RecordedResponse:
    """A response block: ``HTTP/1.1 STATUS reason``, headers, a blank line, the body."""
    first, headers, body = _head_and_body(block)
    return RecordedResponse(int(first.split(" ")[1]), {k.lower(): v for k, v in headers}, body)


def parse_transcript(name: str, text: str) -> Transcript:
    """Every request/response pair of one transcript, in recorded order.

    :raises ValueError: for a ``###`` pair without both of its blocks.
    """
    lines = text.splitlines()
    # every recording's preamble names its workflows; a later recording may have new ids
    workflows = {wf_id: role for role, wf_id in _ROLE_ID.findall(text)}
    pairs: list[RecordedPair] = []
    seen: dict[str, int] = {}
    section, v2_api, reached = "", True, None
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line[3:].strip()
            if "V2_API=false" in section:
                v2_api = False
            elif "V2_API=true" in section:
                v2_api = True
        elif (polled := _POLLED.match(line.strip())) is not None:
            reached = polled.group("status")
        elif line.startswith("### "):
            title = line[4:].strip()
            seen[title] = seen.get(title, 0) + 1
            unique = title if seen[title] == 1 else f"{title} ({seen[title]})"
            blocks = _fenced_blocks(lines, index + 1)
            try:
                _, request_block = next(blocks)
                index, response_block = next(blocks)
            except StopIteration:
                raise ValueError(f"{name}: pair {title!r} lacks its request or response block") from None
            pairs.append(
                RecordedPair(
                    name,
                    unique,
                    section,
                    parse_request(request_block),
                    parse_response(response_block),
                    v2_api,
                    reached,
                )
            )
            reached = None
            continue
        index += 1
    return Transcript(name, workflows, tuple(pairs))
