"""A ``SimFile`` through XCom: Airflow's serialiser writes and rebuilds it, once the deployment
allows the class (``[core] allowed_deserialization_classes``); without that, Airflow refuses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROUND_TRIP = """
import json
try:
    from airflow.sdk.serde import deserialize, serialize
except ImportError:  # Airflow 2.11
    from airflow.serialization.serde import deserialize, serialize
from airflow_provider_sim.files import SimFile

sent = SimFile.from_bytes(b"%PDF-1", name="report.pdf")
stored = json.dumps(serialize(sent))  # what the XCom table holds
assert "JVBERi0x" in stored, stored
try:
    received = deserialize(json.loads(stored))
except ImportError as err:
    print("refused:", err)
else:
    print("received:", received == sent, received.to_value()["data"])
"""


@pytest.mark.parametrize("allowed", ["airflow.* airflow_provider_sim.*", None], ids=["allowed", "default"])
def test_a_simfile_crosses_xcom_when_the_class_is_allowed(allowed: str | None, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    if allowed:
        env["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES"] = allowed
    done = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    if allowed:
        assert "received: True data:application/pdf;base64,JVBERi0x" in done.stdout, done.stdout
    else:
        assert "refused:" in done.stdout and "allowed_deserialization_classes" in done.stdout, done.stdout
