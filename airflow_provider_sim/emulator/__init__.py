"""A local, Sim-compatible HTTP server (the "emulator") for tests, benchmarks and demos.

Both generations of Sim's API as ``CONTRACT.md`` and the real-Sim recordings describe them (v1
``/api/workflows/{id}/execute``, jobs, executions, resume, status, usage limits; v2
``/api/v2/workflows/{id}/...``), metered like sim.ai (:mod:`.ratelimit`, ``--plan``), with the
preloaded workflows of :mod:`.workflows`, the HTML pages run links point to (:mod:`.pages`) and
control endpoints under ``/_emulator/`` (:mod:`.routes_control`; client :class:`EmulatorControl`).

Start it with ``sim-emulator --port 0 --api-key KEY`` (``python -m airflow_provider_sim.emulator``),
from Python with :class:`EmulatorProcess`, or in-process with
``httpx.ASGITransport(app=create_app(config))`` (:func:`.app.create_app`).
"""

from airflow_provider_sim.emulator.config import EmulatorConfig, EmulatorSettings
from airflow_provider_sim.emulator.control import EmulatorControl
from airflow_provider_sim.emulator.process import EmulatorProcess, EmulatorStartError

__all__ = ["EmulatorConfig", "EmulatorControl", "EmulatorProcess", "EmulatorSettings", "EmulatorStartError"]
