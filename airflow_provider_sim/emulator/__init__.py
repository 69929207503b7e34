"""A local, Sim-compatible HTTP server (the "emulator") for tests, benchmarks and demos.

It speaks both generations of Sim's API as ``CONTRACT.md`` describes them — v1
(``/api/workflows/{id}/execute``, ``/api/jobs/{jobId}``, executions, resume, status, usage
limits) and v2 (``/api/v2/workflows/{id}/...``) — with API-key auth, client-chosen run ids,
sync/async/streamed runs, metering like sim.ai (per-IP, per-operation and execution token
buckets, the per-account in-flight cap, ``--plan`` presets) and preloaded workflows (``echo``,
``sleep``, ``fail``, ``stream``, ``approval``, ``hold``, ``undeployed``; see :mod:`.workflows`).
Runs execute concurrently as asyncio tasks inside the server.

Start it with ``python -m airflow_provider_sim.emulator --port 0 --api-key KEY`` (or
``sim-emulator``), from Python with :class:`EmulatorProcess`, or in-process with
``httpx.ASGITransport(app=create_app(config))`` (:func:`airflow_provider_sim.emulator.app.create_app`).

Plain HTML pages where Sim's web app has them, so run links open offline (see :mod:`.pages`):
``/workspace/emulator-workspace/logs?executionId=<run>`` and ``/resume/<workflow>/<run>`` (a run's
status, input, output and timings), ``/workspace/emulator-workspace/logs`` (the runs) and ``.../w``
(the workflows).

Control endpoints (no API key; never logged, never faulted; client: :class:`EmulatorControl`):

- ``GET  /_emulator/health``      — ``{"status": "ok"}``
- ``GET  /_emulator/executions``  — every run started since the last reset, in start order
- ``GET  /_emulator/requests``    — every API request received (API key redacted), with its status
- ``GET  /_emulator/faults``      — faults still queued
- ``POST /_emulator/faults``      — queue faults for the next matching requests (see :mod:`.faults`)
- ``POST /_emulator/reset``       — clear runs, logs, faults and buckets; restore startup settings
- ``GET|POST /_emulator/settings`` — read or change the plan, rate limits, bursts, in-flight cap,
  usage-limit flag, sync timeout, v2 switch, async queue delay
- ``POST /_emulator/release``     — end held runs of the ``hold`` workflow (``{"runIds"?, "workflowId"?,
  "fail"?}``)
"""

from airflow_provider_sim.emulator.config import EmulatorConfig, EmulatorSettings
from airflow_provider_sim.emulator.control import EmulatorControl
from airflow_provider_sim.emulator.process import EmulatorProcess, EmulatorStartError

__all__ = ["EmulatorConfig", "EmulatorControl", "EmulatorProcess", "EmulatorSettings", "EmulatorStartError"]
