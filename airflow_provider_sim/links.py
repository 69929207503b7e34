"""The "Sim run" button on a task: a link to the run's logs in Sim's web app.

The operator pushes the URL to XCom as soon as the run exists, before waiting, so the button is
there for running, failed and timed-out tasks too.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_sim.version_compat import BaseOperatorLink, XCom

XCOM_RUN_ID = "sim_run_id"
XCOM_RUN_URL = "sim_run_url"
XCOM_STATUS = "sim_status"
XCOM_DURATION_MS = "sim_duration_ms"
XCOM_COST = "sim_cost"
XCOM_WORKFLOW_ID = "sim_workflow_id"


class SimRunLink(BaseOperatorLink):
    """Opens the task's Sim run in Sim (``<base>/workspace/<id>/logs?executionId=<run id>``)."""

    name = "Sim run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The URL the task pushed under ``sim_run_url``, or ``""`` before it had a run."""
        url = XCom.get_value(key=XCOM_RUN_URL, ti_key=ti_key)
        return url if isinstance(url, str) else ""
