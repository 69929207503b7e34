"""Differential test: every request recorded from a real Sim server, replayed against the emulator.

The transcripts in ``real_sim/`` (copied from ``../shared/sim-api/real-sim/``, so a clone of the
repository alone has them) are parsed by :mod:`real_sim_transcript`; a pair appended to one is
picked up with no new code. Each transcript is replayed once, in order, against a freshly reset
emulator; each pair is then its own test, comparing the two answers (:mod:`real_sim_compare`).

The recorded workflows map onto the emulator's (``slow``, a Wait block, onto ``hold``: the replay
ends each held run the way the recording says it ended, so nothing depends on timing). Ids the
real server generated are learned from its answers and the emulator's side by side, and replaced
in later requests. A pair recorded after a poll (``_Polled ...``) is sent once the emulator's run
has reached the recorded status.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_helpers import poll
from real_sim_compare import compare_answer
from real_sim_transcript import KEY_PLACEHOLDER, RecordedPair, RecordedResponse, Transcript, parse_transcript

from airflow_provider_sim.emulator.control import EmulatorControl
from airflow_provider_sim.emulator.process import EmulatorProcess

TRANSCRIPTS = sorted((Path(__file__).parent / "real_sim").glob("TRANSCRIPT*.md"))
#: the emulator's workflow for each role the recordings use
EMULATOR_WORKFLOW = {
    "echo": "echo",
    "fail": "fail",
    "undeployed": "undeployed",
    "slow": "hold",
    "approval": "approval",
}
#: where a recorded answer's generated ids sit (learned, then replaced in later requests)
ID_KEYS = frozenset({"executionId", "runId", "jobId", "taskId", "contextId", "pausedExecutionId"})
_EXECUTE = re.compile(r"^/api/(v2/)?workflows/(?P<workflow>[^/]+)/execute$")
#: the replay reads the v1 execution status of a v1 sync run as Sim did (once ``running``), and
#: holds async runs until the recording's poll says they ended (a read in between sees them running)
REPLAY_SETTINGS = {"v1_status_lag_reads": 1, "hold_async_runs": True}


def _load(path: Path) -> Transcript:
    return parse_transcript(path.stem, path.read_text(encoding="utf-8"))


PAIRS = [pair for path in TRANSCRIPTS for pair in _load(path).pairs]


@dataclass
class Answer:
    """What the emulator answered to one replayed request."""

    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Replayed:
    """One pair's replay: the emulator's answer, or why there is none."""

    answer: Answer | None
    client_run_id: str | None
    failure: str | None = None


def _status_of(body: str) -> str | None:
    try:
        decoded = json.loads(body)
    except json.JSONDecodeError:
        return None
    data = decoded.get("data", decoded) if isinstance(decoded, dict) else None
    return data.get("status") if isinstance(data, dict) else None


def _failure_message(recorded: RecordedResponse) -> str | None:
    """How a recorded sync run failed (to end the held run the same way), or ``None``."""
    body = recorded.json()
    data = body.get("data", body) if isinstance(body, dict) else {}
    if data.get("status") == "failed" or data.get("success") is False:
        error = data.get("error")
        return str(error.get("message") if isinstance(error, dict) else error)
    return None


class Replayer:
    """Replays one transcript in order against one emulator, learning ids as it goes."""

    def __init__(self, transcript: Transcript, base_url: str, api_key: str) -> None:
        self.api_key = api_key
        self.control = EmulatorControl(base_url)
        self.client = httpx.Client(base_url=base_url, trust_env=False, timeout=30)
        self.ids = {recorded: EMULATOR_WORKFLOW[role] for recorded, role in transcript.workflows.items()}
        self.v2_api: bool | None = None

    def substitute(self, text: str) -> str:
        """Replace recorded ids with the emulator's and the key placeholder with the key."""
        text = text.replace(KEY_PLACEHOLDER, self.api_key)
        if not self.ids:
            return text
        pattern = "|".join(re.escape(known) for known in sorted(self.ids, key=len, reverse=True))
        return re.sub(pattern, lambda found: self.ids[found.group()], text)

    def learn(self, recorded: Any, emulated: Any) -> None:
        """Learn the emulator's id for each id the real server generated, side by side."""
        if isinstance(recorded, dict) and isinstance(emulated, dict):
            for key in recorded.keys() & emulated.keys():
                left, right = recorded[key], emulated[key]
                if key in ID_KEYS and isinstance(left, str) and isinstance(right, str) and left != right:
                    self.ids[left] = right
                self.learn(left, right)
        elif isinstance(recorded, list) and isinstance(emulated, list):
            for left, right in zip(recorded, emulated, strict=False):
                self.learn(left, right)

    def replay(self, pair: RecordedPair) -> Replayed:
        """Send one pair's request (driving held runs as the recording says) and learn its ids."""
        if pair.v2_api != self.v2_api:
            self.control.settings(v2_enabled=pair.v2_api)
            self.v2_api = pair.v2_api
        target = self.substitute(pair.request.target)
        headers = {name: self.substitute(value) for name, value in pair.request.headers}
        client_run_id = headers.get("X-Run-Id") or headers.get("X-Execution-Id")
        body = self._body(pair, target)
        execute = _EXECUTE.match(target.split("?")[0])
        if execute and execute.group("workflow") == "hold" and not self._is_async(target, headers, body):
            answer = self._send_releasing(pair, target, headers, body)
        else:
            if pair.reached_status is not None:
                self._release_held(target, pair.reached_status)
                poll(
                    lambda: self._send(pair.request.method, target, headers, body),
                    lambda got: _status_of(got.body) == pair.reached_status,
                    timeout=10,
                )
            answer = self._send(pair.request.method, target, headers, body)
        if not pair.response.is_stream and answer.body.strip():
            with contextlib.suppress(json.JSONDecodeError):
                self.learn(pair.response.json(), json.loads(answer.body))
        if "x-run-id" in pair.response.headers and "x-run-id" in answer.headers:
            self.ids.setdefault(pair.response.headers["x-run-id"], answer.headers["x-run-id"])
        return Replayed(answer, client_run_id)

    def _body(self, pair: RecordedPair, target: str) -> bytes | None:
        size = pair.request.body_size
        if size is None:
            return None if pair.request.body is None else self.substitute(pair.request.body).encode()
        shell = '{"input": {"blob": ""}}' if target.startswith("/api/v2/") else '{"blob": ""}'
        return shell.replace('""', '"' + "x" * (size - len(shell)) + '"').encode()

    @staticmethod
    def _is_async(target: str, headers: dict[str, str], body: bytes | None) -> bool:
        if not target.startswith("/api/v2/"):
            return (headers.get("X-Execution-Mode") or "").lower() == "async"
        return bool(body) and json.loads(body).get("async") is True

    def _send(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> Answer:
        with self.client.stream(method, target, headers=headers, content=body) as response:
            text = response.read().decode()
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, text)

    def _held_runs(self) -> list[dict[str, Any]]:
        return [run for run in self.control.executions() if run["held"]]

    def _release_held(self, target: str, status: str) -> None:
        """End the held run ``target`` names as the recording says it ended."""
        for run in self._held_runs():
            if run["id"] in target or (run.get("jobId") or "\0") in target:
                # a held run of another workflow is let go to end as that workflow ends
                fail = (
                    "the recorded run failed" if status == "failed" and run["workflowId"] == "hold" else None
                )
                self.control.release([run["id"]], fail=fail)

    def _send_releasing(
        self, pair: RecordedPair, target: str, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        """A sync execute of the hold workflow: release its run (as it ended on Sim) once it exists."""
        known = {run["id"] for run in self.control.executions()}
        fail = _failure_message(pair.response)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(self._send, pair.request.method, target, headers, body)

            def release_new() -> bool:
                fresh = [run["id"] for run in self._held_runs() if run["id"] not in known]
                if fresh:
                    self.control.release(fresh, fail=fail)
                return bool(fresh) or pending.done()

            poll(release_new, bool, timeout=10)
            return pending.result(timeout=30)


@pytest.fixture(scope="module")
def replayed(sim_server: EmulatorProcess) -> Iterator[dict[str, Replayed]]:
    """Every transcript replayed once, in order, each against a freshly reset emulator."""
    outcomes: dict[str, Replayed] = {}
    control = EmulatorControl(sim_server.base_url)
    for path in TRANSCRIPTS:
        transcript = _load(path)
        control.reset()
        control.settings(**REPLAY_SETTINGS)
        replayer = Replayer(transcript, sim_server.base_url, sim_server.api_key)
        for pair in transcript.pairs:
            try:
                outcomes[pair.test_id] = replayer.replay(pair)
            except Exception as exc:  # one broken pair must not hide the others' results
                outcomes[pair.test_id] = Replayed(None, None, f"{type(exc).__name__}: {exc}")
        replayer.client.close()
    yield outcomes
    control.reset()


def test_both_transcripts_are_found_and_parsed() -> None:
    names = {path.stem for path in TRANSCRIPTS}
    assert {"TRANSCRIPT", "TRANSCRIPT-slow-approval"} <= names
    assert len(PAIRS) >= 100 and len({pair.test_id for pair in PAIRS}) == len(PAIRS)


def test_the_copies_are_the_shared_recordings() -> None:
    """Where the project's shared folder sits beside the clone, the copies here must not lag it."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "sim-api" / "real-sim"
    if not shared.is_dir():
        pytest.skip(f"no shared recordings at {shared} (a clone on its own has only the copies)")
    for original in sorted(shared.glob("TRANSCRIPT*.md")):
        copy = Path(__file__).parent / "real_sim" / original.name
        assert copy.is_file() and copy.read_bytes() == original.read_bytes(), f"copy {original} to {copy}"


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.test_id for pair in PAIRS])
def test_emulator_answers_as_sim_did(pair: RecordedPair, replayed: dict[str, Replayed]) -> None:
    outcome = replayed[pair.test_id]
    assert outcome.answer is not None, outcome.failure
    problems = compare_answer(
        pair.response,
        outcome.answer.status,
        outcome.answer.headers,
        outcome.answer.body,
        outcome.client_run_id,
    )
    assert not problems, "\n".join([f"{pair.request.method} {pair.request.target}", *problems])
