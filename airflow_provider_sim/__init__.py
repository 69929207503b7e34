"""Apache Airflow provider for Sim (sim.ai): run AI-agent workflows as Airflow tasks."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
