"""Operators: :class:`~airflow_provider_sim.operators.sim.SimExecuteWorkflowOperator`."""
