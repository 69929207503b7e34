"""Tests that run DAGs on real Airflow components (api-server, scheduler, dag-processor, triggerer)."""
