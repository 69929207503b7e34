"""Before Airflow 3.0 there are no event triggers: importing SimRunEndedTrigger says so, naming 3.0."""

from __future__ import annotations

import importlib
import sys

import pytest

from airflow_provider_sim.version_compat import AIRFLOW_V_3_0_PLUS


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 3.0+ has event triggers: the module imports")
def test_the_import_fails_with_a_message_naming_airflow_3_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "airflow_provider_sim.triggers.run_events", raising=False)
    with pytest.raises(ImportError, match=r"needs Airflow 3\.0 or later .* this is Airflow 2\."):
        importlib.import_module("airflow_provider_sim.triggers.run_events")
