"""For DAG files of the HITL tests on Airflow 3.1/3.2: let ``dag.test()`` run ``HITLTrigger`` inline.

A real triggerer answers the trigger's ``GetHITLDetailResponse`` / ``UpdateHITLDetail`` requests
(``TriggerRunnerSupervisor``); ``dag.test()`` runs triggers inline under its in-process test
supervisor, which does not, so Airflow's own ``HITLOperator`` cannot finish in ``dag.test()`` on
these lines either. :func:`install` (called by the DAG file, in the dag.test worker) adds the
triggerer's handling of those two requests, word for word, to the test supervisor. Airflow 3.3
needs none: its HITL tasks wait in ``awaiting_input`` without a trigger.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Idempotent; a no-op where the test supervisor already answers the requests."""
    from airflow.sdk.execution_time import supervisor

    cls: Any = supervisor.ActivitySubprocess
    if getattr(cls, "_hitl_trigger_shim", False):
        return
    from airflow.jobs.triggerer_job_runner import HITLDetailResponseResult
    from airflow.sdk.execution_time.comms import GetHITLDetailResponse, UpdateHITLDetail

    original = cls._handle_request

    def handle_request(self: Any, msg: Any, log: Any, req_id: int) -> None:
        if isinstance(msg, UpdateHITLDetail):
            api_resp = self.client.hitl.update_response(
                ti_id=msg.ti_id, chosen_options=msg.chosen_options, params_input=msg.params_input
            )
        elif isinstance(msg, GetHITLDetailResponse):
            api_resp = self.client.hitl.get_detail_response(ti_id=msg.ti_id)
        else:
            original(self, msg, log, req_id)
            return
        self.send_msg(
            HITLDetailResponseResult.from_api_response(response=api_resp), request_id=req_id, error=None
        )

    cls._handle_request = handle_request
    cls._hitl_trigger_shim = True
