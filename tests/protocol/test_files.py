"""Files in a workflow input become Sim's file values (``lib/execution/files.ts``), and files over
Sim's limits fail before anything is sent, naming the limit and the fix."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.protocol.build import workflow_input
from airflow_provider_sim.protocol.files import MAX_FILE_BYTES, SimFile, file_values


def test_bytes_paths_open_files_and_simfiles_become_file_values(tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1")
    notes = io.StringIO("hello")
    notes.name = "/somewhere/notes.txt"
    value = file_values(
        {
            "raw": b"\x00\x01",
            "path": report,
            "open": notes,
            "named": SimFile.from_bytes(b"a,b", name="t.csv"),
            "many": [report, "not a file: a plain string"],
        }
    )
    assert value["raw"] == {
        "type": "file",
        "data": "data:application/octet-stream;base64,AAE=",
        "name": "file",
        "mime": "application/octet-stream",
    }
    assert value["path"]["data"] == "data:application/pdf;base64," + base64.b64encode(b"%PDF-1").decode()
    assert (value["path"]["name"], value["path"]["mime"]) == ("report.pdf", "application/pdf")
    assert (value["open"]["name"], value["open"]["mime"]) == ("notes.txt", "text/plain")
    assert notes.tell() == 0  # read, then put back where it was
    assert value["named"]["data"] == "data:text/csv;base64,YSxi"
    assert value["many"][1] == "not a file: a plain string"


def test_url_files_are_sent_for_sim_to_fetch() -> None:
    value = workflow_input({"doc": SimFile.from_url("https://files.example/q3.pdf?sig=1")})
    assert value == {
        "doc": {
            "type": "url",
            "data": "https://files.example/q3.pdf?sig=1",
            "name": "q3.pdf",
            "mime": "application/pdf",
        }
    }
    with pytest.raises(SimConfigurationError, match="http"):
        SimFile.from_url("file:///etc/passwd")


def test_a_file_over_20_mib_fails_naming_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        out.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(SimConfigurationError) as caught:
        workflow_input({"doc": big})
    assert "20,971,521 bytes" in str(caught.value) and "at most 20,971,520 bytes (20 MiB) per file" in str(
        caught.value
    )


def test_an_inline_file_over_the_10_mib_body_fails_naming_the_fix() -> None:
    at_most = 10 * 1024 * 1024 * 3 // 4 - 100  # its base64 and data URL prefix still fit in 10 MiB
    assert workflow_input({"doc": b"x" * at_most})["doc"]["type"] == "file"
    with pytest.raises(SimConfigurationError) as caught:
        workflow_input({"doc": b"x" * (8 * 1024 * 1024)})
    message = str(caught.value)
    assert "8,388,608 bytes" in message and "10 MiB" in message and "SimFile.from_url" in message


def test_a_simfile_has_content_or_a_url_and_a_name() -> None:
    with pytest.raises(SimConfigurationError, match="either content"):
        SimFile(name="a", content=b"", url="https://x/a")
    with pytest.raises(SimConfigurationError, match="needs a name"):
        SimFile(name="", content=b"x")


def test_a_simfile_round_trips_through_its_xcom_form_and_never_shows_its_content() -> None:
    file = SimFile.from_bytes(b"secret-ish bytes", name="a.txt")
    assert SimFile.deserialize(file.serialize(), SimFile.__version__) == file
    url = SimFile.from_url("https://x/b.pdf")
    assert SimFile.deserialize(url.serialize(), 1) == url
    assert "secret" not in repr(file) and "16 bytes" in repr(file)
    with pytest.raises(TypeError, match="newer"):
        SimFile.deserialize(file.serialize(), SimFile.__version__ + 1)
