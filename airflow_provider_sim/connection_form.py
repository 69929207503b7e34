"""The ``sim`` connection form, defined once.

Airflow >= 3.2 reads the form declaratively from ``get_provider_info()`` (``conn-fields`` and
``ui-field-behaviour``); older versions call the hook's ``get_connection_form_widgets`` and
``get_ui_field_behaviour``. Both are derived from :data:`EXTRA_FIELDS` and :data:`FIELD_BEHAVIOUR`
below, so the form cannot differ between Airflow versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONN_TYPE = "sim"
HOOK_NAME = "Sim"
DEFAULT_CONN_ID = "sim_default"
DEFAULT_BASE_URL = "https://www.sim.ai"


@dataclass(frozen=True)
class ExtraField:
    """One field of the connection's ``extra`` JSON, as the connection form shows it."""

    name: str
    label: str
    kind: type
    default: Any
    description: str
    choices: tuple[str, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema Airflow >= 3.2 renders the field from."""
        json_type = {str: "string", int: "integer", float: "number", bool: "boolean"}[self.kind]
        schema: dict[str, Any] = {"type": [json_type, "null"], "default": self.default}
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "api_version",
        "API version",
        str,
        "v2",
        "v2 (default) for sim.ai and current self-hosted Sim; v1 for older self-hosted Sim without /api/v2.",
        choices=("v2", "v1"),
    ),
    ExtraField(
        "timeout",
        "Request timeout (seconds)",
        float,
        30.0,
        "How long one API call may take. Synchronous executions wait longer (see sync_timeout).",
    ),
    ExtraField(
        "sync_timeout",
        "Synchronous execution timeout (seconds)",
        float,
        3600.0,
        "How long a synchronous execute call may wait for its result (Sim's own cap is 300 s on "
        "free plans, 3,000 s on paid ones).",
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        int,
        3,
        "Retries on rate limits (429), capacity answers (503) and connection errors. "
        "Executions are retried under the same run id, so a workflow never runs twice.",
    ),
    ExtraField("retry_initial_delay", "Retry initial delay (seconds)", float, 1.0, "First backoff wait."),
    ExtraField("retry_max_delay", "Retry max delay (seconds)", float, 30.0, "Longest backoff wait."),
    ExtraField(
        "max_rate_limit_wait",
        "Max wait for a rate limit (seconds)",
        float,
        90.0,
        "How long one API call made outside a task's deadline waits for its turn when Sim answers "
        "429; tasks wait up to their own timeout instead.",
    ),
)

FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema", "login", "port"],
    "relabeling": {"host": "Base URL", "password": "API key"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "password": "sk-sim-...",
        **{field.name: str(field.default) for field in EXTRA_FIELDS},
    },
}


def declarative_connection_type(hook_class_name: str) -> dict[str, Any]:
    """The ``connection-types`` entry of ``get_provider_info()`` (read by Airflow >= 3.2)."""
    return {
        "connection-type": CONN_TYPE,
        "hook-class-name": hook_class_name,
        "hook-name": HOOK_NAME,
        "conn-fields": {
            field.name: {
                "label": field.label,
                "schema": field.json_schema(),
                "description": field.description,
            }
            for field in EXTRA_FIELDS
        },
        "ui-field-behaviour": {
            "hidden-fields": FIELD_BEHAVIOUR["hidden_fields"],
            "relabeling": FIELD_BEHAVIOUR["relabeling"],
            "placeholders": FIELD_BEHAVIOUR["placeholders"],
        },
    }


def connection_form_widgets() -> dict[str, Any]:
    """wtforms fields for Airflow < 3.2, which builds the form from the hook's classmethod.

    Airflow accepts only String, Integer, Password and Boolean fields there, so choices and
    decimals are strings with validators (``any_of``, the name Airflow 3.0 turns into a choice list).
    """
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional, Regexp, any_of

    try:  # the classic (FAB) web UI styles fields with this widget; the React UI ignores it
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget

        widget: dict[str, Any] = {"widget": BS3TextFieldWidget()}
    except ImportError:
        widget = {}

    widgets: dict[str, Any] = {}
    for field in EXTRA_FIELDS:
        default = str(field.default) if field.kind is float else field.default  # a string field's value
        common = {"description": field.description, "default": default, **widget}
        if field.kind is int:
            widgets[field.name] = IntegerField(field.label, [Optional(), NumberRange(min=0)], **common)
        elif field.choices:
            widgets[field.name] = StringField(field.label, [Optional(), any_of(field.choices)], **common)
        elif field.kind is float:
            widgets[field.name] = StringField(field.label, [Optional(), Regexp(r"^\d+(\.\d+)?$")], **common)
        else:
            widgets[field.name] = StringField(field.label, **common)
    return widgets
