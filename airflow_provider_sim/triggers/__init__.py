"""Triggers: :class:`~airflow_provider_sim.triggers.sim.SimRunTrigger` waits for a run in the triggerer."""
