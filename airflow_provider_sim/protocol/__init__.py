"""The Sim HTTP protocol, with no I/O: the one place that knows Sim's API.

Rules of this package:

* No ``requests``, ``httpx`` or socket import, no sleeping, no Airflow connection access. It builds
  :class:`RequestSpec` values, reads :class:`HttpResponse` values, and describes multi-step
  operations as flows (:mod:`.flows`) that drivers run.
* Endpoints, headers and bodies are built only in :mod:`.build`; answers are read only in :mod:`.parse`,
  error answers mapped to :mod:`airflow_provider_sim.exceptions` only in :mod:`.errors`; SSE frames in
  :mod:`.sse`.
* One status vocabulary: :class:`RunStatus`. A status word Sim adds later becomes ``UNKNOWN``.
* Every argument is checked before a request exists, and every error names its fix.
"""

from airflow_provider_sim.protocol.models import (
    ApiVersion,
    CancelResult,
    DeploymentStatus,
    HttpResponse,
    PauseInfo,
    RateLimitBucket,
    RateLimitInfo,
    RequestSpec,
    RunError,
    RunStatus,
    SimRun,
    Sleep,
    StreamFrame,
    UsageLimits,
    WorkflowInfo,
)

__all__ = [
    "ApiVersion",
    "CancelResult",
    "DeploymentStatus",
    "HttpResponse",
    "PauseInfo",
    "RateLimitBucket",
    "RateLimitInfo",
    "RequestSpec",
    "RunError",
    "RunStatus",
    "SimRun",
    "Sleep",
    "StreamFrame",
    "UsageLimits",
    "WorkflowInfo",
]
