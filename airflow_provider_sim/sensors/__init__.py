"""Sensors: :class:`~airflow_provider_sim.sensors.sim.SimJobSensor`."""
