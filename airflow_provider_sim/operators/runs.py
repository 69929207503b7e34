"""What the operator and the sensor share: run ids per try, input from templates, re-attaching,
publishing a run to XCom, and the one way a finished run completes a task."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

from airflow_provider_sim.exceptions import (
    SimConfigurationError,
    SimError,
    SimNotFoundError,
    SimRunFailedError,
)
from airflow_provider_sim.links import (
    XCOM_COST,
    XCOM_DURATION_MS,
    XCOM_RUN_ID,
    XCOM_RUN_URL,
    XCOM_STATUS,
    XCOM_WORKFLOW_ID,
)
from airflow_provider_sim.protocol.build import run_logs_url
from airflow_provider_sim.protocol.models import RunStatus, SimRun
from airflow_provider_sim.version_compat import Context, task_state_store

if TYPE_CHECKING:  # requests, tenacity and sseclient load when a task runs, not when a DAG parses
    from airflow_provider_sim.hooks.sim import SimHook

PAUSE_CHOICES = ("wait", "succeed", "fail")
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
STATE_STORE_KEY = "sim_run_id"
#: most the run link's workflow lookup may wait for Sim's rate limits
LINK_LOOKUP_SECONDS = 5.0


def task_deadline(
    context: Context, timeout: float | None, execution_timeout: Any
) -> tuple[float | None, str]:
    """When the task must be over (epoch seconds, ``None`` for never) and what says so: the
    operator's ``timeout`` from now, or ``execution_timeout`` from the task's start, the earlier."""
    candidates: list[tuple[float, str]] = []
    if timeout is not None:
        candidates.append((time.time() + timeout, f"the operator's timeout ({timeout:g} s)"))
    start = getattr(context["ti"], "start_date", None)
    if execution_timeout is not None and start is not None:
        seconds = execution_timeout.total_seconds()
        candidates.append((start.timestamp() + seconds, f"the task's execution_timeout ({seconds:g} s)"))
    return min(candidates) if candidates else (None, "no deadline (no timeout or execution_timeout)")


def run_id_for_try(context: Context, try_number: int) -> str:
    """The client-chosen run id of one try of one task instance: stable, readable, Sim-valid.

    Any try can compute any earlier try's id, which is how a retry finds the run an earlier try
    started, on every Airflow version.
    """
    ti = context["ti"]
    identity = f"{ti.dag_id}\x1f{ti.task_id}\x1f{context['run_id']}\x1f{getattr(ti, 'map_index', -1)}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    dag, task = _SLUG.sub("-", ti.dag_id)[:36], _SLUG.sub("-", ti.task_id)[:36]
    return f"af-{dag}-{task}-{digest}-try{try_number}"


def parse_template_input(value: Any) -> Any:
    """The workflow input after templating: a dict, or a JSON string (e.g. from an upstream XCom)."""
    if not isinstance(value, str) or not value.strip().startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:  # a template renders a dict from XCom as its Python repr
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise SimConfigurationError(
            f"input looks like JSON but is not valid JSON: {value[:80]!r}; render it with "
            "'{{ ... | tojson }}' or set render_template_as_native_obj=True on the DAG."
        ) from None


def find_previous_run(hook: SimHook, context: Context, workflow_id: str, log: Any) -> SimRun | None:
    """A run an earlier try of this task instance started that is still useful: queued, running,
    paused or completed. A failed or cancelled one is not: the caller starts a new run."""
    ti = context["ti"]
    candidates: list[str] = []
    store = task_state_store(context)
    if store is not None and (stored := store.get(STATE_STORE_KEY)):
        candidates.append(str(stored))
    candidates += [run_id_for_try(context, n) for n in range(int(ti.try_number) - 1, 0, -1)]
    for run_id in dict.fromkeys(candidates):
        try:
            run = hook.get_run(workflow_id, run_id)
        except SimNotFoundError:
            continue
        if run.status in (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.UNKNOWN):
            log.info("An earlier try's Sim run %s ended %s; starting a new run", run_id, run.status.value)
            return None
        log.info("Re-attaching to Sim run %s (%s) started by an earlier try", run_id, run.status.value)
        return run
    return None


def remember_run(context: Context, run: SimRun) -> None:
    """Airflow 3.3+: keep the run id in the task state store, which survives retries."""
    store = task_state_store(context)
    if store is not None:
        store.set(STATE_STORE_KEY, run.run_id)


def publish_run(hook: SimHook, context: Context, run: SimRun, log: Any) -> None:
    """Run id, workflow id and the link to the run, to XCom, before any waiting."""
    ti = context["ti"]
    ti.xcom_push(key=XCOM_RUN_ID, value=run.run_id)
    ti.xcom_push(key=XCOM_WORKFLOW_ID, value=run.workflow_id)
    from airflow_provider_sim.retry import deadline

    try:  # a convenience: it must not make the task wait for Sim's rate limits
        with deadline(time.time() + LINK_LOOKUP_SECONDS, "the run link's lookup"):
            workspace_id = hook.get_workflow(run.workflow_id).workspace_id
    except SimError as err:  # v1 servers have no workflow endpoint; or Sim is rate-limiting us
        log.info("No link to the Sim run: could not read the workflow's workspace (%s)", err)
        return
    if workspace_id:
        url = run_logs_url(hook.settings.base_url, workspace_id, run.run_id)
        ti.xcom_push(key=XCOM_RUN_URL, value=url)
        log.info("Sim run %s: %s", run.run_id, url)


def result_xcoms(run: SimRun, *, with_return_value: bool = False) -> dict[str, Any]:
    """The XComs a finished run leaves besides those :func:`publish_run` pushed; with
    ``with_return_value``, the output too, as the worker pushes a task's result (not when ``None``)."""
    xcoms: dict[str, Any] = {XCOM_STATUS: run.status.value}
    if run.duration_ms is not None:
        xcoms[XCOM_DURATION_MS] = run.duration_ms
    if run.cost is not None:
        xcoms[XCOM_COST] = run.cost
    if with_return_value and run.output is not None:
        xcoms[XCOM_RETURN_KEY] = run.output
    return xcoms


def complete(context: Context, run: SimRun, *, on_pause: str, log: Any) -> Any:
    """The one path from a finished run to the task's result; a failure is never a success."""
    ti = context["ti"]
    for key, value in result_xcoms(run).items():
        ti.xcom_push(key=key, value=value)
    duration = f" in {run.duration_ms / 1000:.1f} s" if run.duration_ms is not None else ""
    log.info("Sim run %s ended %s%s", run.run_id, run.status.value, duration)
    if run.status is RunStatus.COMPLETED:
        return run.output
    if run.status is RunStatus.PAUSED and on_pause == "succeed":
        return run.output
    if run.status is RunStatus.PAUSED:
        raise SimError(
            f"Sim run {run.run_id} paused for human input; answer it in Sim, or set on_pause='wait' "
            "(keep waiting) or on_pause='succeed'",
            code="PAUSED",
        )
    raise SimRunFailedError(run)
