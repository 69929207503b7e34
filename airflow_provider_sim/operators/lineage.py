"""What a Sim run tells Airflow's lineage: OpenLineage facets for each task, and the run's facts in
the ``extra`` of each Asset event the task emits.

Both read one record, :class:`RunFacts`, taken when the wait for the run ends, in the task's own
process (after a deferral too: the resumed task takes it). The OpenLineage listener asks for the
facets later, in a process it forks from the task, where calling Sim or Airflow's API again is
unsafe (Airflow 3: the fork shares the task's supervisor channel), so the facets never call out.

OpenLineage is optional (the ``openlineage`` extra): without it nothing calls the
``get_openlineage_facets_on_*`` methods, and :mod:`.lineage_facets` is never imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_sim.links import (
    XCOM_COST,
    XCOM_DURATION_MS,
    XCOM_RUN_ID,
    XCOM_RUN_URL,
    XCOM_STATUS,
    XCOM_WORKFLOW_ID,
)
from airflow_provider_sim.protocol.models import SimRun
from airflow_provider_sim.version_compat import Asset, Context

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

#: the facets' keys in OpenLineage events (custom facets carry their producer's prefix)
JOB_FACET = "sim_workflow"
RUN_FACET = "sim_run"


@dataclass(frozen=True)
class RunFacts:
    """A Sim run as lineage reports it: the run as Sim last reported it, and its link."""

    run_id: str
    workflow_id: str
    status: str
    run_url: str | None = None
    duration_ms: float | None = None
    cost: float | None = None
    error: str | None = None
    error_code: str | None = None

    @classmethod
    def of(cls, run: SimRun, run_url: str | None) -> RunFacts:
        """The facts of ``run``; ``run_url`` is the link the task pushed (``None`` if it had none)."""
        return cls(
            run_id=run.run_id,
            workflow_id=run.workflow_id,
            status=run.status.value,
            run_url=run_url,
            duration_ms=run.duration_ms,
            cost=run.cost,
            error=run.error.message if run.error else None,
            error_code=run.error.code if run.error else None,
        )

    def asset_extra(self) -> dict[str, Any]:
        """The Asset event's ``extra``: the XCom keys and values the task pushes for the same run,
        every key present (``None`` where Sim reported nothing) so a consumer can index them."""
        return {
            XCOM_RUN_ID: self.run_id,
            XCOM_WORKFLOW_ID: self.workflow_id,
            XCOM_STATUS: self.status,
            XCOM_DURATION_MS: self.duration_ms,
            XCOM_COST: self.cost,
            XCOM_RUN_URL: self.run_url,
        }


def add_to_outlet_events(context: Context, facts: RunFacts) -> None:
    """Put the run's facts in the ``extra`` of the event each Asset outlet of the task will get
    (``outlet_events[asset].extra``: Airflow 3 Assets, Airflow 2.10+ Datasets). Keys the task set
    there itself are kept unless they are ours; outlets that are no Asset (aliases, lineage
    entities) are left alone."""
    outlet_events: Any = context.get("outlet_events")
    if outlet_events is None:
        return
    for outlet in context["task"].outlets:
        if isinstance(outlet, Asset):
            outlet_events[outlet].extra.update(facts.asset_extra())


def operator_lineage(task: Any, facts: RunFacts | None) -> OperatorLineage:
    """The task's OpenLineage metadata: its inlets and outlets as datasets, the workflow as a job
    facet and, once there is a run, the run's facets (``sim_run``, and OpenLineage's own
    ``externalQuery`` naming the run for consumers that know no Sim)."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from openlineage.client.facet_v2 import external_query_run

    from airflow_provider_sim.operators.lineage_facets import SimRunFacet, SimWorkflowJobFacet

    def datasets(entities: list[Any]) -> list[Any]:
        return [d for e in entities if (d := ExtractorManager.convert_to_ol_dataset(e)) is not None]

    run_facets: dict[str, Any] = {}
    if facts is not None:
        run_facets[RUN_FACET] = SimRunFacet(
            runId=facts.run_id,
            workflowId=facts.workflow_id,
            status=facts.status,
            runUrl=facts.run_url,
            durationMs=facts.duration_ms,
            cost=facts.cost,
            error=facts.error,
            errorCode=facts.error_code,
        )
        run_facets["externalQuery"] = external_query_run.ExternalQueryRunFacet(
            externalQueryId=facts.run_id, source="sim"
        )
    return OperatorLineage(
        inputs=datasets(task.inlets),
        outputs=datasets(task.outlets),
        run_facets=run_facets,
        job_facets={JOB_FACET: SimWorkflowJobFacet(workflowId=str(task.workflow_id))},
    )


class SimRunLineage:
    """Lineage for ``SimExecuteWorkflowOperator``: the OpenLineage provider's
    ``get_openlineage_facets_on_start/complete/failure``, and the run's facts on Asset events.

    A mixin placed before the operator's other bases: it sees each finished wait (``_finish``),
    takes the facts there, and hands the run on. A task that fails before its run ends (timeout,
    kill, API error) reports the run as last seen, without a link.
    """

    _facts: RunFacts | None = None

    def _finish(self, context: Context, run: SimRun) -> Any:
        ti = context["ti"]
        url = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_RUN_URL, map_indexes=getattr(ti, "map_index", -1))
        self._facts = RunFacts.of(run, url if isinstance(url, str) else None)
        add_to_outlet_events(context, self._facts)
        return super()._finish(context, run)  # type: ignore[misc]

    def _last_facts(self) -> RunFacts | None:
        if self._facts is not None:
            return self._facts
        run: SimRun | None = getattr(self, "_run", None)
        return RunFacts.of(run, None) if run is not None else None

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """As the task starts: the workflow and the declared inlets and outlets (no run yet)."""
        return operator_lineage(self, None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """As the task succeeds: the workflow, the run (id, link, status, duration, cost), datasets."""
        return operator_lineage(self, self._last_facts())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """As the task fails: as on complete, with Sim's error for a failed run."""
        return operator_lineage(self, self._last_facts())
