"""Provider metadata and the connection form: one definition, the same fields on every Airflow."""

from __future__ import annotations

from importlib.metadata import entry_points

from airflow_provider_sim import __version__
from airflow_provider_sim.connection_form import EXTRA_FIELDS
from airflow_provider_sim.get_provider_info import get_provider_info
from airflow_provider_sim.hooks.sim import SimHook

FIELD_NAMES = [field.name for field in EXTRA_FIELDS]


def test_entry_point_points_at_get_provider_info() -> None:
    [entry] = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_sim")
    ]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-sim" and info["versions"] == [__version__]


def test_declarative_form_for_airflow_3_2_and_later() -> None:
    [conn_type] = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == "sim" and conn_type["hook-name"] == "Sim"
    assert conn_type["hook-class-name"] == f"{SimHook.__module__}.{SimHook.__name__}"
    assert list(conn_type["conn-fields"]) == FIELD_NAMES
    assert conn_type["conn-fields"]["api_version"]["schema"]["enum"] == ["v2", "v1"]
    behaviour = conn_type["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API key"}
    assert behaviour["placeholders"]["host"] == "https://www.sim.ai"


def test_hook_form_for_older_airflow_matches() -> None:
    widgets = SimHook.get_connection_form_widgets()
    assert list(widgets) == FIELD_NAMES
    assert all(type(w).__name__ == "UnboundField" for w in widgets.values())
    assert {w.field_class.__name__ for w in widgets.values()} <= {"StringField", "IntegerField"}
    assert SimHook.get_ui_field_behaviour()["hidden_fields"] == ["schema", "login", "port"]


def test_airflow_loads_the_hook_and_its_form() -> None:
    from airflow.providers_manager import ProvidersManager

    try:  # Airflow 3.3+ resolves hooks for tasks in the task SDK
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hooks = ProvidersManagerTaskRuntime().hooks
    except ImportError:
        hooks = ProvidersManager().hooks
    manager = ProvidersManager()
    assert hooks["sim"].hook_class_name == "airflow_provider_sim.hooks.sim.SimHook"  # type: ignore[union-attr]
    assert {f"extra__sim__{name}" for name in FIELD_NAMES} <= set(manager.connection_form_widgets)
    assert manager.field_behaviours["sim"]["relabeling"]["password"] == "API key"


def test_every_listed_module_imports_and_the_resume_operator_is_listed() -> None:
    import importlib

    info = get_provider_info()
    modules = [
        m
        for role in ("hooks", "operators", "sensors", "triggers")
        for e in info[role]
        for m in e["python-modules"]
    ]
    assert "airflow_provider_sim.operators.resume" in modules
    for module in modules:
        importlib.import_module(module)


def test_task_sim_is_registered_as_a_task_decorator() -> None:
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_sim.decorators.sim import sim_task

    [entry] = get_provider_info()["task-decorators"]
    assert entry == {"name": "sim", "class-name": "airflow_provider_sim.decorators.sim.sim_task"}
    try:  # Airflow 3.3+ resolves task decorators in the task SDK
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        decorators = ProvidersManagerTaskRuntime().taskflow_decorators
    except ImportError:
        decorators = ProvidersManager().taskflow_decorators
    assert decorators["sim"] is sim_task
