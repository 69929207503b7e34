"""The ``sim`` connection type as a person meets it, on the Airflow line this suite runs under.

One real web server per module (2.x ``airflow webserver``, 3.x ``airflow api-server``) with a
throwaway ``AIRFLOW_HOME``, asked through its own HTTP endpoints:

* 3.x: ``GET /ui/connections/hook_meta`` is what the React connection form is built from;
* 2.x: ``GET /connection/add`` is the FAB form page itself (fields, labels, the JSON the page's
  script relabels and pre-fills the standard fields with);

then the Test button's endpoint against the local Sim emulator, and the ``airflow`` CLI.
Expected values come from :mod:`airflow_provider_sim.connection_form`, the one definition.
"""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser
from typing import Any

import pytest

from airflow_provider_sim.connection_form import (
    CONN_TYPE,
    DEFAULT_BASE_URL,
    EXTRA_FIELDS,
    FIELD_BEHAVIOUR,
    HOOK_NAME,
    ExtraField,
)
from tests.ui.airflow_server import AirflowServer
from tests.ui.conftest import Emulator

pytestmark = [pytest.mark.server, pytest.mark.timeout(300)]

HIDDEN = ("schema", "login", "port")


def same_value(shown: Any, default: Any) -> bool:
    """A form's default equals ours, whether the form keeps it typed or as text."""
    if isinstance(default, int | float) and not isinstance(default, bool):
        try:
            return float(shown) == float(default)
        except (TypeError, ValueError):
            return False
    return str(shown) == str(default)


# -- Airflow 2.x: the FAB form page --------------------------------------------------------------------
class FormPage(HTMLParser):
    """The parts of ``/connection/add`` we check: elements by id, label texts, help texts, scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: dict[str, tuple[str, dict[str, str]]] = {}
        self.labels: dict[str, str] = {}
        self.options: dict[str, list[tuple[str, str, bool]]] = {}
        self.scripts: dict[str, str] = {}
        self.help_texts: list[str] = []
        self._label_for: str | None = None
        self._select: str | None = None
        self._option: tuple[str, bool] | None = None
        self._script: str | None = None
        self._help = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if "id" in attr and tag in ("input", "select", "textarea"):
            self.elements[attr["id"]] = (tag, attr)
        if tag == "label" and "for" in attr:
            self._label_for, self._text = attr["for"], []
        elif tag == "select":
            self._select = attr.get("id")
            self.options.setdefault(self._select or "", [])
        elif tag == "option" and self._select is not None:
            self._option, self._text = (attr.get("value", ""), "selected" in attr), []
        elif tag == "script" and "id" in attr:
            self._script, self._text = attr["id"], []
        elif tag == "span" and "help-block" in attr.get("class", ""):
            self._help, self._text = True, []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text).split())
        if tag == "label" and self._label_for is not None:
            self.labels[self._label_for] = text
            self._label_for = None
        elif tag == "option" and self._option is not None and self._select is not None:
            self.options[self._select].append((self._option[0], text, self._option[1]))
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "script" and self._script is not None:
            self.scripts[self._script] = "".join(self._text)
            self._script = None
        elif tag == "span" and self._help:
            self.help_texts.append(text)
            self._help = False


@pytest.fixture(scope="module")
def form_page(airflow_server: AirflowServer) -> FormPage:
    if airflow_server.major >= 3:
        pytest.skip("Airflow 3 has no server-rendered connection form; see the hook_meta tests")
    answer = airflow_server.request("GET", "/connection/add")
    assert answer.status == 200, answer.text[:2000]
    assert 'id="conn_type"' in answer.text, "not the connection form (a login page?)"
    page = FormPage()
    page.feed(answer.text)
    return page


@pytest.fixture(scope="module")
def field_behaviours_2x(form_page: FormPage) -> dict[str, Any]:
    """The JSON the 2.x page's script hides, relabels and pre-fills the standard fields from."""
    raw = form_page.scripts.get("field_behaviours")
    assert raw is not None, "the form page has no field_behaviours script"
    return dict(json.loads(html.unescape(raw)))


# -- Airflow 3.x: the hook metadata the React form is built from ------------------------------------
@pytest.fixture(scope="module")
def hook_meta(airflow_server: AirflowServer) -> dict[str, Any]:
    if airflow_server.major < 3:
        pytest.skip("Airflow 2 renders the form on the server; see the /connection/add tests")
    answer = airflow_server.request("GET", "/ui/connections/hook_meta")
    assert answer.status == 200, answer.text[:2000]
    by_type = {entry["connection_type"]: entry for entry in answer.json()}
    assert CONN_TYPE in by_type, f"{CONN_TYPE!r} missing from hook_meta; types: {sorted(by_type)}"
    return dict(by_type[CONN_TYPE])


# -- the form ------------------------------------------------------------------------------------------
def test_sim_is_a_connection_type_named_sim(
    airflow_server: AirflowServer, request: pytest.FixtureRequest
) -> None:
    if airflow_server.major >= 3:
        meta = request.getfixturevalue("hook_meta")
        assert meta["hook_name"] == HOOK_NAME == "Sim"
        assert meta["hook_class_name"] == "airflow_provider_sim.hooks.sim.SimHook"
    else:
        page = request.getfixturevalue("form_page")
        choices = {value: text for value, text, _ in page.options["conn_type"]}
        assert choices.get(CONN_TYPE) == HOOK_NAME == "Sim", (
            f"the connection type list offers no 'Sim' (sim): {choices}"
        )


def test_host_and_password_are_relabelled_and_unused_fields_hidden(
    airflow_server: AirflowServer, request: pytest.FixtureRequest
) -> None:
    assert FIELD_BEHAVIOUR["relabeling"] == {"host": "Base URL", "password": "API key"}
    if airflow_server.major >= 3:
        fields = request.getfixturevalue("hook_meta")["standard_fields"]
        assert fields, (
            "hook_meta has no standard_fields for sim: host/password are neither relabelled nor hidden"
        )
        assert fields["host"] == {"hidden": False, "title": "Base URL", "placeholder": DEFAULT_BASE_URL}
        assert fields["password"] == {"hidden": False, "title": "API key", "placeholder": "sk-sim-..."}
        for name in HIDDEN:
            assert fields["url_schema" if name == "schema" else name]["hidden"] is True, name
    else:
        behaviour = request.getfixturevalue("field_behaviours_2x").get(CONN_TYPE)
        assert behaviour, "the form page's field_behaviours have no entry for sim"
        assert behaviour["relabeling"] == {"host": "Base URL", "password": "API key"}
        assert behaviour["placeholders"]["host"] == DEFAULT_BASE_URL
        assert behaviour["placeholders"]["password"] == "sk-sim-..."
        assert sorted(behaviour["hidden_fields"]) == sorted(HIDDEN)


def test_api_key_is_a_masked_field(airflow_server: AirflowServer, request: pytest.FixtureRequest) -> None:
    if airflow_server.major >= 3:
        # The React form always renders the standard password field as <input type="password">;
        # what the server decides is that it is shown (not hidden) and called "API key".
        password = request.getfixturevalue("hook_meta")["standard_fields"]["password"]
        assert password["hidden"] is False and password["title"] == "API key"
    else:
        tag, attrs = request.getfixturevalue("form_page").elements["password"]
        assert (tag, attrs.get("type")) == ("input", "password")
    # no extra field of ours carries a secret, so none needs masking
    assert not any("key" in field.name or "secret" in field.name for field in EXTRA_FIELDS)


@pytest.mark.parametrize("field", EXTRA_FIELDS, ids=lambda field: field.name)
def test_extra_field_has_its_label_default_and_help(
    field: ExtraField, airflow_server: AirflowServer, request: pytest.FixtureRequest
) -> None:
    if airflow_server.major >= 3:
        extras = request.getfixturevalue("hook_meta")["extra_fields"]
        assert extras, "hook_meta has no extra_fields for sim: the form shows none of our extras"
        shown = extras.get(field.name)
        assert shown, f"extra field {field.name!r} missing; got {sorted(extras)}"
        assert shown["schema"]["title"] == field.label
        assert same_value(shown["value"], field.default), shown
        if "default" in shown["schema"]:  # 3.0 and 3.1 keep the default in "value" only
            assert same_value(shown["schema"]["default"], field.default), shown
        assert shown["description"] == field.description
        if field.choices:
            assert shown["schema"].get("enum") == list(field.choices), shown["schema"]
    else:
        page = request.getfixturevalue("form_page")
        element_id = f"extra__{CONN_TYPE}__{field.name}"
        assert element_id in page.elements, f"no form field {element_id}"
        assert page.labels.get(element_id) == field.label
        tag, attrs = page.elements[element_id]
        if tag == "select":
            options = page.options[element_id]
            assert [value for value, _, _ in options] == list(field.choices)
            assert [value for value, _, selected in options if selected] == [str(field.default)]
        else:
            assert same_value(attrs.get("value"), field.default), attrs
        assert field.description in page.help_texts
        placeholders = request.getfixturevalue("field_behaviours_2x")[CONN_TYPE]["placeholders"]
        assert placeholders.get(element_id) == str(field.default)


# -- the Test button -----------------------------------------------------------------------------------
def _test_connection(server: AirflowServer, emulator: Emulator, api_key: str) -> dict[str, Any]:
    body = {
        "connection_id": "sim_ui_test",
        "conn_type": CONN_TYPE,
        "host": emulator.base_url,
        "password": api_key,
    }
    answer = server.request("POST", f"{server.api_prefix}/connections/test", body=body)
    assert answer.status == 200, answer.text[:2000]
    return dict(answer.json())


def test_test_button_accepts_the_right_key(airflow_server: AirflowServer, sim_emulator: Emulator) -> None:
    result = _test_connection(airflow_server, sim_emulator, sim_emulator.api_key)
    assert result["status"] is True, result
    assert sim_emulator.base_url in result["message"]


def test_test_button_names_a_wrong_key(airflow_server: AirflowServer, sim_emulator: Emulator) -> None:
    result = _test_connection(airflow_server, sim_emulator, "sk-sim-wrong")
    assert result["status"] is False, result
    assert "API key" in result["message"], result
    assert "sk-sim-wrong" not in result["message"]


# -- the CLI -------------------------------------------------------------------------------------------
def cli_json(stdout: str) -> Any:
    """The JSON document in a CLI's stdout (Airflow 3.0 logs to stdout before it)."""
    decoder = json.JSONDecoder()
    for line_start in [0] + [i + 1 for i, char in enumerate(stdout) if char == "\n"]:
        if stdout[line_start : line_start + 1] in ("[", "{"):
            try:
                return decoder.raw_decode(stdout, line_start)[0]
            except json.JSONDecodeError:
                continue
    raise AssertionError(f"no JSON document in the CLI's output:\n{stdout[-3000:]}")


def test_cli_lists_the_provider(airflow_server: AirflowServer) -> None:
    result = airflow_server.cli("providers", "list", "-o", "json")
    packages = {entry["package_name"] for entry in cli_json(result.stdout)}
    assert "airflow-provider-sim" in packages, sorted(packages)


def test_cli_added_connection_is_stored_read_back_and_masked_by_the_server(
    airflow_server: AirflowServer,
) -> None:
    conn_id, host, key = "sim_test", "http://127.0.0.1:9", "sk-sim-cli-secret"
    extra = {"api_version": "v1", "timeout": 12}
    airflow_server.cli(
        "connections", "add", conn_id, "--conn-type", CONN_TYPE, "--conn-host", host,
        "--conn-password", key, "--conn-extra", json.dumps(extra),
    )  # fmt: skip
    got = cli_json(airflow_server.cli("connections", "get", conn_id, "-o", "json").stdout)
    got = got[0] if isinstance(got, list) else got
    assert (got["conn_id"], got["conn_type"], got["host"]) == (conn_id, CONN_TYPE, host), got
    stored_extra = got.get("extra_dejson") or json.loads(got.get("extra") or "{}")
    # the CLI prints extra values as text (3.x), the database keeps them typed
    assert {k: str(v) for k, v in stored_extra.items()} == {k: str(v) for k, v in extra.items()}, got

    # the server lists it as a Sim connection and never hands the key back
    answer = airflow_server.request("GET", f"{airflow_server.api_prefix}/connections/{conn_id}")
    assert answer.status == 200, answer.text[:2000]
    stored = answer.json()
    assert (stored["conn_type"], stored["host"]) == (CONN_TYPE, host), stored
    assert key not in answer.text
    if airflow_server.major >= 3:
        assert stored["password"] == "***"


def test_cli_connection_test_reaches_sim(airflow_server: AirflowServer, sim_emulator: Emulator) -> None:
    conn_id = "sim_cli_emulator"
    airflow_server.cli(
        "connections", "add", conn_id, "--conn-type", CONN_TYPE, "--conn-host", sim_emulator.base_url,
        "--conn-password", sim_emulator.api_key,
    )  # fmt: skip
    tested = airflow_server.cli("connections", "test", conn_id, check=False)
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0 and "Connection success!" in output, output[-3000:]
