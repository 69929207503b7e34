"""Building requests: argument checks, endpoint paths, headers and bodies. No I/O.

Every check here runs before anything is sent, and every error names the fix.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from airflow_provider_sim import __version__
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.protocol.files import file_values
from airflow_provider_sim.protocol.models import ApiVersion, RequestSpec, encode_json

MAX_EXECUTION_TIMEOUT_SECONDS = 604_800
USER_AGENT = f"airflow-provider-sim/{__version__}"
ExecuteMode = Literal["sync", "async", "stream"]

# matched with fullmatch: ``$`` would let a trailing newline through
_RUN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_WORKFLOW_ID = re.compile(r"[A-Za-z0-9._:~-]{1,200}")


def client_headers(api_key: str) -> dict[str, str]:
    """Headers sent with every request: the key, JSON, and a User-Agent naming this provider."""
    if not api_key or api_key != api_key.strip() or any(c in api_key for c in "\r\n"):
        raise SimConfigurationError(
            "The Sim API key is empty or has whitespace or line breaks in it: paste the key "
            "(it looks like sk-sim-...) into the connection's password field without spaces."
        )
    return {
        "X-API-Key": api_key,
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }


def normalize_base_url(url: str | None, *, default: str) -> str:
    """Check a base URL (``https://www.sim.ai``) and strip trailing slashes."""
    url = (url or "").strip() or default
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SimConfigurationError(
            f"The Sim base URL {url!r} needs a scheme and host, e.g. 'https://www.sim.ai' or "
            "'http://127.0.0.1:8765': put the full URL in the connection's host field (in a "
            "connection URI, percent-encode it: sim://:KEY@https%3A%2F%2Fwww.sim.ai)."
        )
    if parts.query or parts.fragment:
        raise SimConfigurationError(f"The Sim base URL {url!r} must not have a query or fragment.")
    return url.rstrip("/")


def check_workflow_id(workflow_id: object) -> str:
    """A workflow id is one path segment: reject empty, path-like and non-string ids."""
    if (
        not isinstance(workflow_id, str)
        or not _WORKFLOW_ID.fullmatch(workflow_id)
        or workflow_id in (".", "..")
    ):
        raise SimConfigurationError(
            f"workflow_id {workflow_id!r} is not a Sim workflow id: pass the id from the workflow's "
            "URL in Sim (…/w/<workflow id>), without slashes, spaces or a URL around it."
        )
    return workflow_id


def check_run_id(run_id: object, *, name: str = "run_id") -> str:
    """A run id (ours or Sim's) must match Sim's pattern ``^[A-Za-z0-9._:-]{1,128}$``."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise SimConfigurationError(
            f"{name} {run_id!r} is not a valid Sim run id: use 1-128 characters from "
            "letters, digits and . _ : - (for example the run id an execute returned)."
        )
    return run_id


def new_run_id() -> str:
    """A fresh client-chosen run id, so any execute can be resent without running twice."""
    return f"airflow-{uuid.uuid4()}"


def check_timeout(value: object, *, name: str, maximum: float | None = None) -> float:
    """A positive, finite number of seconds (and at most ``maximum``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SimConfigurationError(f"{name} must be a positive number of seconds, got {value!r}.")
    if maximum is not None and value > maximum:
        raise SimConfigurationError(f"{name} must be at most {maximum:g} seconds, got {value!r}.")
    return float(value)


def check_execution_timeout(value: object, *, is_async: bool) -> None:
    """Sim's own cap for a run: async runs only, a whole number of seconds from 1 to 604800."""
    if value is None:
        return
    if not is_async:
        raise SimConfigurationError(
            "execution_timeout_seconds is Sim's cap for async runs only: use async execution (the "
            "operator's default, not stream or async_execution=False) or drop execution_timeout_seconds."
        )
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_EXECUTION_TIMEOUT_SECONDS
    ):
        raise SimConfigurationError(
            f"execution_timeout_seconds must be a whole number from 1 to {MAX_EXECUTION_TIMEOUT_SECONDS}, "
            f"got {value!r}."
        )


def workflow_input(value: Any) -> dict[str, Any]:
    """The workflow input as Sim's SDK sends it: a dict as-is, anything else as ``{"input": value}``.

    Files inside (``SimFile``, bytes, ``pathlib.Path``, open files) become Sim's file values
    (:mod:`~airflow_provider_sim.protocol.files`). The result is checked to be JSON here, so a bad
    value fails before a request is made.
    """
    if value is None:
        value = {}
    wrapped = value if isinstance(value, dict) else {"input": value}
    converted = file_values(wrapped)
    try:
        encode_json(converted)
    except (TypeError, ValueError) as err:
        raise SimConfigurationError(
            f"The workflow input is not JSON-serialisable ({err}): pass only dicts, lists, strings, "
            "finite numbers, booleans, None and files (SimFile, bytes, Path, open files); convert "
            "dates and other objects to strings (NaN and Infinity have no JSON form)."
        ) from err
    return converted


def _segment(value: str) -> str:
    # ':' is legal in a path segment and Sim's own URLs keep it (job ids are workflow-execution:<id>)
    return quote(value, safe=":")


def _workflow_path(api: ApiVersion, workflow_id: str) -> str:
    prefix = "/api/v2/workflows" if api is ApiVersion.V2 else "/api/workflows"
    return f"{prefix}/{_segment(check_workflow_id(workflow_id))}"


def build_execute(
    api: ApiVersion,
    workflow_id: str,
    input: Any = None,
    *,
    run_id: str,
    mode: ExecuteMode = "sync",
    selected_outputs: Sequence[str] | None = None,
    execution_timeout_seconds: int | None = None,
    sync_timeout: float | None = None,
) -> RequestSpec:
    """``POST .../execute`` naming its run ``run_id`` (``X-Run-Id`` / ``X-Execution-Id``)."""
    path = _workflow_path(api, workflow_id) + "/execute"
    check_run_id(run_id)
    check_execution_timeout(execution_timeout_seconds, is_async=mode == "async")
    outputs = _check_selected_outputs(selected_outputs)
    body: dict[str, Any] = {"input": workflow_input(input)}
    headers: dict[str, str] = {}
    if outputs:
        body["selectedOutputs"] = outputs
    if mode == "stream":
        body["stream"] = True
        headers["Accept"] = "text/event-stream"
    if api is ApiVersion.V2:
        headers["X-Run-Id"] = run_id
        if mode == "async":
            body["async"] = True
            if execution_timeout_seconds is not None:
                body["executionTimeoutSeconds"] = execution_timeout_seconds
    else:
        headers["X-Execution-Id"] = run_id
        if mode == "async":
            headers["X-Execution-Mode"] = "async"
            if execution_timeout_seconds is not None:
                headers["X-Execution-Timeout-Seconds"] = str(execution_timeout_seconds)
        if mode == "stream":
            headers["X-Stream-Response"] = "true"
    return RequestSpec(
        "POST",
        path,
        headers=headers,
        json_body=body,
        read_timeout=sync_timeout if mode != "async" else None,
        stream=mode == "stream",
        is_execute=True,
        run_id=run_id,
        api_version=api,
        operation=_metered(api, "workflows.execute"),
    )


def _check_selected_outputs(selected_outputs: Sequence[str] | None) -> list[str]:
    if selected_outputs is None:
        return []
    if isinstance(selected_outputs, str) or not all(
        isinstance(item, str) and item for item in selected_outputs
    ):
        raise SimConfigurationError(
            f"selected_outputs must be a list of 'blockName.path' strings, got {selected_outputs!r}."
        )
    return list(selected_outputs)


def build_get_run(
    api: ApiVersion,
    workflow_id: str,
    run_id: str,
    *,
    include_output: bool = True,
    selected_outputs: Sequence[str] | None = None,
) -> RequestSpec:
    """Read a run: v2 ``GET .../runs/{runId}``, v1 ``GET .../executions/{executionId}``."""
    collection = "executions" if api is ApiVersion.V1 else "runs"
    path = f"{_workflow_path(api, workflow_id)}/{collection}/{_segment(check_run_id(run_id))}"
    params = {"includeOutput": "true" if include_output else "false"}
    outputs = _check_selected_outputs(selected_outputs)
    if outputs:
        params["selectedOutputs"] = ",".join(outputs)
    return RequestSpec(
        "GET", path, params=params, api_version=api, operation=_metered(api, "workflows.runs.read")
    )


#: most runs one page of the list endpoint holds
LIST_PAGE_LIMIT = 100


def build_list_runs(
    workflow_id: str,
    *,
    start_date: datetime | None = None,
    cursor: str | None = None,
    limit: int = LIST_PAGE_LIMIT,
    order: str = "asc",
) -> RequestSpec:
    """``GET /api/v2/workflows/{id}/runs``: summaries of the runs started at or after ``start_date``
    (v2 only; its own metered operation, ``workflows.runs.list``)."""
    params = {"limit": str(limit), "order": order}
    if start_date is not None:
        params["startDate"] = format_utc(start_date)
    if cursor is not None:
        params["cursor"] = cursor
    return RequestSpec(
        "GET",
        _workflow_path(ApiVersion.V2, workflow_id) + "/runs",
        params=params,
        api_version=ApiVersion.V2,
        operation="workflows.runs.list",
    )


def format_utc(when: datetime) -> str:
    """An instant as Sim's list filters take it: UTC, milliseconds, ``Z``."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _metered(api: ApiVersion, operation: str) -> str | None:
    """v2 calls are metered per operation; v1's reads, cancel and resume are not (v1 execute is
    charged to the execution bucket, which its 429 reports without headers)."""
    return operation if api is ApiVersion.V2 else None


def build_get_job(job_id: str) -> RequestSpec:
    """Read a legacy (v1) async job: ``GET /api/jobs/{jobId}``."""
    return RequestSpec(
        "GET", f"/api/jobs/{_segment(check_run_id(job_id, name='job_id'))}", api_version=ApiVersion.V1
    )


def build_cancel(api: ApiVersion, workflow_id: str, run_id: str) -> RequestSpec:
    """Cancel a run: v2 ``POST .../runs/{runId}/cancel``, v1 ``POST .../executions/{id}/cancel``."""
    collection = "executions" if api is ApiVersion.V1 else "runs"
    path = f"{_workflow_path(api, workflow_id)}/{collection}/{_segment(check_run_id(run_id))}/cancel"
    return RequestSpec(
        "POST", path, json_body={}, api_version=api, operation=_metered(api, "workflows.runs.cancel")
    )


def build_resume(
    api: ApiVersion, workflow_id: str, run_id: str, context_id: str, input: Any = None
) -> RequestSpec:
    """Answer a paused run (human input): v2 ``POST .../runs/{runId}/resume``, v1 ``/api/resume/...``."""
    check_run_id(context_id, name="context_id")
    resume_input = workflow_input(input)
    if api is ApiVersion.V2:
        path = f"{_workflow_path(api, workflow_id)}/runs/{_segment(check_run_id(run_id))}/resume"
        body = {"contextId": context_id, "input": resume_input}
        return RequestSpec(
            "POST",
            path,
            json_body=body,
            api_version=api,
            safe_to_resend=False,
            operation="workflows.runs.resume",
        )
    workflow_segment = _segment(check_workflow_id(workflow_id))
    path = f"/api/resume/{workflow_segment}/{_segment(check_run_id(run_id))}/{_segment(context_id)}"
    return RequestSpec("POST", path, json_body={"input": resume_input}, api_version=api, safe_to_resend=False)


def build_deployment_status(workflow_id: str) -> RequestSpec:
    """``GET /api/workflows/{id}/status`` (the same endpoint serves both generations)."""
    return RequestSpec(
        "GET", f"{_workflow_path(ApiVersion.V1, workflow_id)}/status", api_version=ApiVersion.V1
    )


def build_get_workflow(workflow_id: str) -> RequestSpec:
    """``GET /api/v2/workflows/{id}``: name and workspace of a workflow (v2 servers only)."""
    return RequestSpec(
        "GET",
        _workflow_path(ApiVersion.V2, workflow_id),
        api_version=ApiVersion.V2,
        operation="workflows.read",
    )


def build_usage_limits() -> RequestSpec:
    """``GET /api/users/me/usage-limits``: cheap, authenticated, and a good connection test."""
    return RequestSpec("GET", "/api/users/me/usage-limits")


def run_logs_url(base_url: str, workspace_id: str, run_id: str) -> str:
    """The page in Sim's web app that shows a run's logs."""
    return f"{base_url}/workspace/{_segment(workspace_id)}/logs?executionId={quote(run_id, safe='')}"


def resume_page_url(base_url: str, workflow_id: str, run_id: str) -> str:
    """The page where a person answers a run paused for human input."""
    return f"{base_url}/resume/{_segment(workflow_id)}/{_segment(run_id)}"
