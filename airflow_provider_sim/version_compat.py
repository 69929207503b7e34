"""Everything that differs between Airflow 2.11, 3.0 and 3.3, behind one import.

Base classes come from ``apache-airflow-providers-common-compat``; this module only adds what the
bridge does not carry, so no other module of the provider branches on the Airflow version.
"""

from __future__ import annotations

from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.providers.common.compat.sdk import (
    AirflowSkipException,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    XCom,
    conf,
)
from packaging.version import Version

_AIRFLOW = Version(Version(AIRFLOW_VERSION).base_version)
AIRFLOW_V_3_0_PLUS = Version("3.0.0") <= _AIRFLOW
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= _AIRFLOW


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, as every Airflow version reads it."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def task_state_store(context: Context) -> Any | None:
    """Airflow 3.3's per-task-instance store that survives retries, or ``None`` before 3.3."""
    return context.get("task_state_store")  # type: ignore[call-overload, no-any-return]


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowSkipException",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "Context",
    "PokeReturnValue",
    "XCom",
    "default_deferrable",
    "task_state_store",
]
