"""Files in a workflow input, received as Sim receives them (``lib/execution/files.ts``).

Sim turns the value of each input field its start block declares ``file[]`` (one file value or a
list) into a list of stored files (``UserFile``: id, name, url, size, type, key, context) before
the workflow runs; a value that is not a valid base64 data URL is dropped, and a field left with
no file keeps its value as sent. The emulator's workflows declare no fields, so it treats every
top-level field holding ``{"type": "file", ...}`` values as ``file[]``. The content comes back as
``base64``, as Sim hydrates output files by default (``includeFileBase64``). URL files
(``"type": "url"``) are left as sent: the emulator fetches nothing.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any

from airflow_provider_sim.emulator.workflows import WORKSPACE_ID

_DATA_URL = "data:"
_BASE64 = ";base64,"


def received_files(workflow_input: Any, *, workflow_id: str, run_id: str, base_url: str) -> Any:
    """``workflow_input`` with each file field replaced by the files Sim would have stored."""
    if not isinstance(workflow_input, dict):
        return workflow_input
    received = dict(workflow_input)
    for field, value in workflow_input.items():
        candidates = value if isinstance(value, list) else [value]
        if not any(_is_inline_file(item) for item in candidates):
            continue
        stored = [
            user_file
            for item in candidates
            if (user_file := _store(item, workflow_id, run_id, base_url)) is not None
        ]
        if stored:
            received[field] = stored
    return received


def _is_inline_file(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "file"


def _store(value: Any, workflow_id: str, run_id: str, base_url: str) -> dict[str, Any] | None:
    if not _is_inline_file(value) or not value.get("data") or not value.get("name"):
        return None
    data, name = str(value["data"]), str(value["name"])
    marker = data.find(_BASE64)
    if not data.startswith(_DATA_URL) or marker == -1:
        return None
    try:
        content = base64.b64decode(data[marker + len(_BASE64) :])
    except (binascii.Error, ValueError):
        return None
    mime = data[len(_DATA_URL) : marker] or value.get("mime") or "application/octet-stream"
    key = f"execution/{WORKSPACE_ID}/{workflow_id}/{run_id}/{secrets.token_hex(8)}/{name}"
    return {
        "id": f"file_{int(time.time() * 1000)}_{secrets.token_hex(4)}",
        "name": name,
        "url": f"{base_url}/api/files/serve/{key}?context=execution",
        "size": len(content),
        "type": mime,
        "key": key,
        "context": "execution",
        "base64": base64.b64encode(content).decode("ascii"),
    }
