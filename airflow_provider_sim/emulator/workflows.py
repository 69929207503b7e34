"""The preloaded workflows and what each one does when run.

============  ==============================================================================
id            behaviour (``input`` is the workflow input)
============  ==============================================================================
echo          completes at once; output = input
sleep         waits ``input.seconds`` (float, default 1) then echoes; cancellable meanwhile
fail          fails with ``Workflow failed: <input.message or a default>`` after an optional
              ``input.seconds``; ``input.soft: true`` makes the workflow *report* failure
              (v1 200 ``success: false``) instead of throwing (v1 500, v1 job ``failed``)
stream        emits the words of ``input.text`` (or a default sentence) as chunks of block
              ``agent``, ``input.delay`` seconds apart (default 0.02), then completes with
              ``{"content": <text>}``; ``input.streamError: "msg"`` adds a non-terminal
              ``stream_error`` event after the first chunk
approval      pauses for a human (``pauseKind: human``) at block ``approval``, its output shaped
              like Sim's Human-in-the-loop block (``{"data": {"operation": "human",
              "responseStructure", "inputFormat", "submission", "_resume"}, "status": 200,
              "headers"}``); resuming with an input completes it with
              ``{"input": <original input>, "resumeInput": ...}``; ``input.pauses: 2`` pauses a
              second time, at block ``approval-2`` (showing the first answer), before completing
hold          stays ``running`` until released through ``POST /_emulator/release``, then
              completes with output = input (or fails with the release's ``fail`` message);
              no timing involved, so tests can hold runs open for as long as they need
undeployed    exists but is not deployed: execute answers 403 and no run is created
============  ==============================================================================

Any other id is an unknown workflow (404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

DEFAULT_FAILURE_MESSAGE = "intentional failure from the emulator's fail workflow"
DEFAULT_STREAM_TEXT = "The quick brown fox jumps over the lazy dog"
#: when the preloaded workflows were "deployed"; fixed so responses are stable
DEPLOYED_AT = datetime(2026, 1, 1, tzinfo=UTC)
WORKSPACE_ID = "emulator-workspace"


@dataclass(frozen=True)
class Completed:
    """The workflow finished with ``output``."""

    output: Any


@dataclass(frozen=True)
class Failed:
    """The workflow failed.

    :param message: the error message Sim reports.
    :param soft: the workflow reported ``success: false`` rather than throwing.
    """

    message: str
    output: Any = None
    soft: bool = False


@dataclass(frozen=True)
class Paused:
    """The workflow stopped at ``block_id`` to wait for a human; ``output`` is what it produced so far."""

    block_id: str
    output: Any


@dataclass(frozen=True)
class Held:
    """The workflow waits for a release (``POST /_emulator/release``); the run engine decides the end."""


Outcome = Completed | Failed | Paused | Held


class Emit(Protocol):
    """Hands streamed text to a ``stream: true`` client (a no-op for other runs)."""

    async def __call__(self, block_id: str, text: str, *, error: bool = False) -> None:
        """Send ``text`` as a chunk of ``block_id`` (``error=True``: a non-terminal ``stream_error``)."""


Behaviour = Callable[[Any, Emit], Awaitable[Outcome]]
#: (original input, resume input, the block whose pause was answered) -> what the run does next
ResumeBehaviour = Callable[[Any, Any, str], Awaitable[Outcome]]


@dataclass(frozen=True)
class Workflow:
    """A preloaded workflow: its identity, deployment state and behaviour.

    :param block_id: the block whose output is the workflow output (for ``selectedOutputs``).
    :param cost: the credit cost a run reports once it has ended or paused.
    :param holds: runs wait for a release (the behaviour answers :class:`Held`).
    :param block_name: the name of the block a failure is pinned to, as Sim's editor names
        blocks; Sim puts it before the message when a failed run is read back.
    """

    id: str
    description: str
    run: Behaviour
    resume: ResumeBehaviour | None = None
    deployed: bool = True
    block_id: str = ""  # the workflow's id when empty
    block_type: str = "function"
    inputs: tuple[tuple[str, str], ...] = ()
    cost: float = 0.0001
    holds: bool = False
    block_name: str = "Function 1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_id", self.block_id or self.id)

    @property
    def name(self) -> str:
        """The display name: the id, capitalised."""
        return self.id.capitalize()

    @property
    def deployed_at(self) -> datetime | None:
        """When the workflow was deployed, or ``None`` if it is not."""
        return DEPLOYED_AT if self.deployed else None


def as_dict(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else an empty dict (inputs may be any JSON value)."""
    return value if isinstance(value, dict) else {}


def seconds_from(value: Any, default: float) -> float:
    """Read a non-negative number of seconds from an input field, falling back to ``default``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


async def _echo(inp: Any, emit: Emit) -> Outcome:
    return Completed(inp)


async def _sleep(inp: Any, emit: Emit) -> Outcome:
    await asyncio.sleep(seconds_from(as_dict(inp).get("seconds"), 1.0))
    return Completed(inp)


async def _fail(inp: Any, emit: Emit) -> Outcome:
    fields = as_dict(inp)
    await asyncio.sleep(seconds_from(fields.get("seconds"), 0.0))
    message = fields.get("message") or DEFAULT_FAILURE_MESSAGE
    return Failed(f"Workflow failed: {message}", output={}, soft=bool(fields.get("soft")))


async def _stream(inp: Any, emit: Emit) -> Outcome:
    fields = as_dict(inp)
    raw_text = fields.get("text")
    text = raw_text if isinstance(raw_text, str) and raw_text else DEFAULT_STREAM_TEXT
    delay = seconds_from(fields.get("delay"), 0.02)
    words = text.split(" ")
    for index, word in enumerate(words):
        if index:
            await asyncio.sleep(delay)
        await emit("agent", word if index == len(words) - 1 else word + " ")
        if index == 0 and isinstance(fields.get("streamError"), str):
            await emit("agent", fields["streamError"], error=True)
    return Completed({"content": text})


async def _hold(inp: Any, emit: Emit) -> Outcome:
    return Held()


#: the form the approver fills in (the resume input), as Sim's Human-in-the-loop block lists it
APPROVAL_FORM = (
    {"id": "i1", "name": "approved", "label": "approved", "type": "boolean", "value": "", "required": False},
    {"id": "i2", "name": "comment", "label": "comment", "type": "string", "value": "", "required": False},
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "object"


#: the second Human-in-the-loop block of an approval run with ``input.pauses: 2``
SECOND_APPROVAL_BLOCK = "approval-2"


def _human_pause(block_id: str, shown_values: Any) -> Paused:
    shown = [{"name": k, "type": _json_type(v), "value": v} for k, v in as_dict(shown_values).items()]
    form = {"operation": "human", "responseStructure": shown, "inputFormat": list(APPROVAL_FORM)}
    return Paused(block_id, {**form, "submission": None})


async def _approval(inp: Any, emit: Emit) -> Outcome:
    return _human_pause("approval", inp)


async def _approval_resume(original_input: Any, resume_input: Any, answered_block: str) -> Outcome:
    if answered_block != SECOND_APPROVAL_BLOCK and as_dict(original_input).get("pauses") == 2:
        return _human_pause(SECOND_APPROVAL_BLOCK, resume_input)
    return Completed({"input": original_input, "resumeInput": resume_input})


WORKFLOWS: Mapping[str, Workflow] = {
    wf.id: wf
    for wf in (
        Workflow("echo", "Returns its input.", _echo),
        Workflow(
            "sleep",
            "Waits input.seconds, then returns its input.",
            _sleep,
            block_id="wait",
            block_type="wait",
            inputs=(("seconds", "number"),),
            block_name="Wait",
        ),
        Workflow(
            "fail",
            "Always fails.",
            _fail,
            inputs=(("message", "string"), ("seconds", "number"), ("soft", "boolean")),
        ),
        Workflow(
            "stream",
            "Streams the words of input.text.",
            _stream,
            block_id="agent",
            block_type="agent",
            inputs=(("text", "string"), ("delay", "number")),
            cost=0.0025,
            block_name="Agent 1",
        ),
        Workflow(
            "approval",
            "Pauses for a human decision.",
            _approval,
            _approval_resume,
            block_type="human_in_the_loop",
            block_name="Approval",
        ),
        Workflow("hold", "Runs until released through the emulator's control API.", _hold, holds=True),
        Workflow("undeployed", "Exists but is not deployed.", _echo, deployed=False, block_id="echo"),
    )
}
