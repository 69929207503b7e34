"""Hooks: :class:`~airflow_provider_sim.hooks.sim.SimHook` (sync) and its async twin for triggers."""
