"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_sim import __version__
from airflow_provider_sim.connection_form import declarative_connection_type

HOOK_CLASS_NAME = "airflow_provider_sim.hooks.sim.SimHook"


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow: its hook, connection type and operator links."""
    return {
        "package-name": "airflow-provider-sim",
        "name": "Sim",
        "description": "Run [Sim](https://www.sim.ai) AI-agent workflows from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Sim",
                "external-doc-url": "https://docs.sim.ai",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Sim",
                "python-modules": ["airflow_provider_sim.hooks.sim", "airflow_provider_sim.hooks.sim_async"],
            }
        ],
        "operators": [
            {
                "integration-name": "Sim",
                "python-modules": [
                    "airflow_provider_sim.operators.sim",
                    "airflow_provider_sim.operators.resume",
                ],
            }
        ],
        "sensors": [{"integration-name": "Sim", "python-modules": ["airflow_provider_sim.sensors.sim"]}],
        "triggers": [{"integration-name": "Sim", "python-modules": ["airflow_provider_sim.triggers.sim"]}],
        "connection-types": [declarative_connection_type(HOOK_CLASS_NAME)],
        "extra-links": ["airflow_provider_sim.links.SimRunLink"],
        "task-decorators": [{"name": "sim", "class-name": "airflow_provider_sim.decorators.sim.sim_task"}],
    }
