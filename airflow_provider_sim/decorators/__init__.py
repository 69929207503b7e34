"""TaskFlow decorators: ``@task.sim``, also importable as ``sim_task`` from here."""

from __future__ import annotations

from airflow_provider_sim.decorators.sim import sim_task

__all__ = ["sim_task"]
