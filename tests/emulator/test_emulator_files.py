"""The emulator receives files in an input as Sim does: each inline file value of a field becomes
the stored file's record (``UserFile``), a malformed one is dropped, URL files pass as sent."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_sim.emulator.control import EmulatorHandle

PDF = b"%PDF-1.7 tiny"
DATA_URL = "data:application/pdf;base64," + base64.b64encode(PDF).decode()


@pytest.fixture
def client(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers=emulator.headers, timeout=5) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "wrap"),
    [
        ("/api/v2/workflows/echo/execute", lambda i: {"input": i}),
        ("/api/workflows/echo/execute", lambda i: i),
    ],
    ids=["v2", "v1"],
)
def test_a_file_field_becomes_the_stored_files_record(client: httpx.Client, path: str, wrap: object) -> None:
    sent = {"type": "file", "data": DATA_URL, "name": "q3.pdf", "mime": "application/x-ignored"}
    url_file = {"type": "url", "data": "https://files.example/a.png", "name": "a.png"}
    body = {
        "report": sent,
        "pages": [sent, sent],
        "link": url_file,
        "bad": {"type": "file", "data": "abc", "name": "x"},
    }
    answer = client.post(path, json=wrap(body))  # type: ignore[operator]
    assert answer.status_code == 200, answer.text
    output = answer.json()["data" if "/v2/" in path else "output"]
    output = output["output"] if "/v2/" in path else output
    [report] = output["report"]
    assert (report["name"], report["type"], report["size"], report["context"]) == (
        "q3.pdf",
        "application/pdf",  # the data URL's type wins over "mime", as in Sim
        len(PDF),
        "execution",
    )
    assert base64.b64decode(report["base64"]) == PDF
    assert report["key"].startswith("execution/emulator-workspace/echo/") and report["key"].endswith(
        "/q3.pdf"
    )
    assert report["id"].startswith("file_") and report["url"].startswith("http")
    assert len(output["pages"]) == 2 and output["pages"][0]["id"] != output["pages"][1]["id"]
    assert output["link"] == url_file  # the emulator downloads nothing
    assert output["bad"] == body["bad"]  # no valid file: the field keeps what was sent
