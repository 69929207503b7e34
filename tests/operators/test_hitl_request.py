"""The Required Action built from a Sim pause, and the answer read back (no Airflow run needed).

The pause output is the one real Sim v0.8.9 sent (``TRANSCRIPT-slow-approval.md``, the approval
workflow's v2 sync execute), with a description added to one field as Sim's block allows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_sim.exceptions import SimError
from airflow_provider_sim.protocol.models import PauseInfo, RunStatus, SimRun
from airflow_provider_sim.version_compat import AIRFLOW_V_3_1_PLUS

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="Airflow's human-in-the-loop is 3.1+")

CONTEXT = "ba9dafe5-4b2b-4bc5-99be-88b309abc9df"
OUTPUT: dict[str, Any] = {
    "data": {
        "operation": "human",
        "responseStructure": [
            {"name": "request", "type": "string", "value": "buy a coffee machine"},
            {"name": "amount", "type": "number", "value": 120},
        ],
        "inputFormat": [
            {
                "id": "i1",
                "name": "approved",
                "label": "approved",
                "type": "boolean",
                "value": "",
                "required": True,
                "description": "Approve or reject this request",
            },
            {
                "id": "i2",
                "name": "comment",
                "label": "Comment",
                "type": "string",
                "value": "",
                "required": False,
            },
        ],
        "submission": None,
        "_resume": {"contextId": CONTEXT, "uiUrl": "http://sim/resume/wf/r1"},
    },
    "status": 200,
    "headers": {"Content-Type": "application/json"},
}
URL = "http://sim/resume/wf/r1"


def paused(output: Any = None, context_id: str | None = None) -> SimRun:
    return SimRun(
        "r1", "wf", RunStatus.PAUSED, output=output, paused=PauseInfo(context_id) if context_id else None
    )


def test_sims_form_becomes_typed_params_and_the_display_data_the_body() -> None:
    from airflow_provider_sim.operators.hitl import pause_context_id, pause_request

    request = pause_request(paused(OUTPUT), resume_url=URL, declared=None, timeout_answer=None)
    assert request.fields == ["approved", "comment"]
    approved, comment = request.params["approved"], request.params["comment"]
    assert approved.schema["type"] == "boolean" and approved.description == "Approve or reject this request"
    assert comment.schema == {"type": ["string", "null"], "title": "Comment"}
    assert approved.value is None and comment.value is None  # Sim's "" is no default
    assert "| request | buy a coffee machine |" in request.body and "| amount | 120 |" in request.body
    assert f"({URL})" in request.body and "r1" in request.subject
    assert pause_context_id(paused(OUTPUT)) == CONTEXT  # from _resume when the status has none


def test_timeout_answer_becomes_the_defaults() -> None:
    from airflow_provider_sim.operators.hitl import pause_request

    request = pause_request(paused(OUTPUT), resume_url=URL, declared=None, timeout_answer={"approved": False})
    assert request.params["approved"].value is False and request.params["comment"].value is None


def test_without_sims_form_the_declared_params_or_one_json_field() -> None:
    from airflow.sdk import Param

    from airflow_provider_sim.operators.hitl import GENERIC_FIELD, pause_request

    declared = pause_request(
        paused(context_id=CONTEXT),
        resume_url=URL,
        declared={"approved": Param(True, type="boolean"), "note": "n/a"},
        timeout_answer={"approved": False},
    )
    assert declared.fields == ["approved", "note"]
    assert declared.params["approved"].value is False and declared.params["note"].value == "n/a"
    assert "no display data" in declared.body
    generic = pause_request(paused(context_id=CONTEXT), resume_url=URL, declared=None, timeout_answer=None)
    assert generic.fields is None and list(generic.params) == [GENERIC_FIELD]


def test_answers_read_back_and_become_the_resume_input() -> None:
    from airflow_provider_sim.operators.hitl import read_answer

    at = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    answer = read_answer(
        {
            "chosen_options": ["Resume"],
            "params_input": {"approved": True, "comment": None, "extra": 1},
            "responded_by_user": {"id": "alice", "name": "Alice"},
            "responded_at": at,
        },
        run_id="r1",
        resume_url=URL,
    )
    assert (answer.option, answer.responded_at, answer.timed_out) == ("Resume", at.isoformat(), False)
    assert answer.resume_input(["approved", "comment"]) == {"approved": True}  # empty fields left out
    generic = read_answer(
        {"chosen_options": ["Resume"], "params_input": {"input": '{"x": 1}'}}, run_id="r1", resume_url=URL
    )
    assert generic.resume_input(None) == {"x": 1} and generic.responded_by is None


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"error": "late", "error_type": "timeout"}, "No answer came before the response timeout"),
        ({"error": "bad", "error_type": "validation"}, "The answer failed"),
        ({"chosen_options": ["Maybe"]}, "expected one of"),
        ({"chosen_options": []}, "expected one of"),
        (None, "Airflow reported no answer"),
    ],
)
def test_no_answer_is_never_a_resume(event: Any, message: str) -> None:
    from airflow_provider_sim.operators.hitl import read_answer

    with pytest.raises(SimError, match=message) as raised:
        read_answer(event, run_id="r1", resume_url=URL)
    if isinstance(event, dict) and "error" in event:
        assert URL in str(raised.value) and "SimResumeRunOperator" in str(raised.value)
