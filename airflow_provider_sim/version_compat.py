"""Everything that differs between Airflow 2.11, 3.0, 3.1, 3.2 and 3.3, behind one import.

Base classes come from ``apache-airflow-providers-common-compat``; this module only adds what the
bridge does not carry, so no other module of the provider branches on the Airflow version.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from airflow import __version__ as AIRFLOW_VERSION
from airflow.providers.common.compat.sdk import (
    AirflowSkipException,
    Asset,
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
#: Airflow's human-in-the-loop (Required Actions): 3.1+; 3.1/3.2 wait in HITLTrigger, 3.3+ in awaiting_input
AIRFLOW_V_3_1_PLUS = Version("3.1.0") <= _AIRFLOW
#: HITL params serialised one by one (``Param.serialize``) from 3.1.3, as a ``ParamsDict.dump`` before
AIRFLOW_V_3_1_3_PLUS = Version("3.1.3") <= _AIRFLOW
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= _AIRFLOW


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, as every Airflow version reads it."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def task_state_store(context: Context) -> Any | None:
    """Airflow 3.3's per-task-instance store that survives retries, or ``None`` before 3.3."""
    return context.get("task_state_store")  # type: ignore[call-overload, no-any-return]


def wait_for_human(
    operator: Any,
    context: Context,
    *,
    subject: str,
    body: str,
    options: list[str],
    params: dict[str, Any],
    defaults: list[str] | None,
    assigned_users: list[dict[str, str]] | None,
    response_timeout: timedelta | None,
    poke_interval: float,
    method_name: str,
    kwargs: dict[str, Any],
) -> NoReturn:
    """Ask a person through Airflow's own human-in-the-loop machinery (3.1+), as ``HITLOperator``
    does: write the task's Required Action, then wait for the answer without holding a worker slot
    (3.1/3.2: defer to the standard provider's ``HITLTrigger``; 3.3+: park the task in
    ``awaiting_input``). The task resumes in ``method_name(context, event, **kwargs)`` with the
    answer (``chosen_options``, ``params_input``, ``responded_by_user``, ``responded_at``) or an
    ``error``/``error_type`` event.

    :param params: ``airflow.sdk.Param`` objects by name (the form).
    """
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.execution_time.hitl import upsert_hitl_detail

    form = ParamsDict(params)
    serialized = {k: form.get_param(k).serialize() for k in form} if AIRFLOW_V_3_1_3_PLUS else form.dump()
    ti_id = context["task_instance"].id
    upsert_hitl_detail(
        ti_id=ti_id,
        options=options,
        subject=subject,
        body=body,
        defaults=defaults,
        multiple=False,
        params=serialized,
        assigned_users=assigned_users,  # type: ignore[arg-type]
    )
    if AIRFLOW_V_3_3_PLUS:
        from airflow.sdk.exceptions import TaskAwaitingInput

        raise TaskAwaitingInput(method_name=method_name, kwargs=kwargs, timeout=response_timeout)
    from airflow.providers.standard.triggers.hitl import HITLTrigger
    from airflow.sdk.timezone import utcnow

    operator.defer(
        trigger=HITLTrigger(
            ti_id=ti_id,
            options=options,
            params=serialized,
            defaults=defaults,
            multiple=False,
            timeout_datetime=utcnow() + response_timeout if response_timeout else None,
            poke_interval=poke_interval,
        ),
        method_name=method_name,
        kwargs=kwargs,
    )
    raise AssertionError("defer() returned")  # pragma: no cover - defer always raises


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_3_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowSkipException",
    "Asset",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "Context",
    "PokeReturnValue",
    "XCom",
    "default_deferrable",
    "task_state_store",
    "wait_for_human",
]
