"""The OpenLineage facets of a Sim run (custom facets, as providers define theirs).

Imported only from :mod:`airflow_provider_sim.operators.lineage` when the OpenLineage provider
calls the operator (the ``openlineage`` extra); nothing else imports it, so the provider works
without ``openlineage-python``. Each facet's schema ships next to this module
(``schemas/<Facet>.json``) and is named, versioned with the provider, in ``_schemaURL``.
"""

from __future__ import annotations

from pathlib import Path

from attrs import define, field
from openlineage.client.facet_v2 import JobFacet, RunFacet

from airflow_provider_sim import __version__

#: where the facets' JSON schemas are published: the provider's source at the release's tag
SCHEMA_BASE_URL = (
    "https://raw.githubusercontent.com/airflow-provider-sim/airflow-provider-sim/"
    f"{__version__}/airflow_provider_sim/operators/schemas"
)
#: the same schemas, as shipped in the package
SCHEMA_DIR = Path(__file__).with_name("schemas")


def schema_url(facet: str) -> str:
    """The versioned URL of ``facet``'s JSON schema (its definition inside the file)."""
    return f"{SCHEMA_BASE_URL}/{facet}.json#/$defs/{facet}"


@define
class SimWorkflowJobFacet(JobFacet):
    """The Sim workflow an Airflow task runs (job facet ``sim_workflow``).

    :param workflowId: the workflow's id in Sim.
    """

    workflowId: str  # OpenLineage facets spell fields in camelCase

    _additional_skip_redact = ["workflowId"]

    @staticmethod
    def _get_schema() -> str:
        return schema_url("SimWorkflowJobFacet")


@define
class SimRunFacet(RunFacet):
    """The Sim run behind one try of an Airflow task (run facet ``sim_run``), as Sim last reported it.

    :param runId: Sim's run id (the id the task chose for the try: ``af-<dag>-<task>-...-try<n>``).
    :param workflowId: the workflow the run belongs to.
    :param status: ``queued``, ``running``, ``paused``, ``completed``, ``failed``, ``cancelled``
        or ``unknown``: a task that failed before the run ended reports the last status it saw.
    :param runUrl: the run's logs in Sim's web app, when the task could build the link.
    :param durationMs: how long the run took, as Sim reports it.
    :param cost: the run's total cost, when Sim reports one.
    :param error: Sim's error message for a failed run.
    :param errorCode: Sim's error code (v2), e.g. ``TIMEOUT``.
    """

    runId: str
    workflowId: str
    status: str
    runUrl: str | None = field(default=None)
    durationMs: float | None = field(default=None)
    cost: float | None = field(default=None)
    error: str | None = field(default=None)
    errorCode: str | None = field(default=None)

    _additional_skip_redact = ["runId", "workflowId", "status", "runUrl", "errorCode"]

    @staticmethod
    def _get_schema() -> str:
        return schema_url("SimRunFacet")
