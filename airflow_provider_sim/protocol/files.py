"""Files in a workflow input, as Sim takes them (``lib/execution/files.ts``). No network I/O.

Sim reads a file from the input as ``{"type": "file", "data": "data:<mime>;base64,<...>",
"name": ..., "mime": ...}`` (inline) or ``{"type": "url", "data": "https://...", "name": ...}``
(Sim downloads it), at most 20 MiB each. An inline file also travels inside the execute body, which
Sim caps at 10 MiB, so inline files stop at about 7.5 MiB. Both limits are checked here, before
anything is sent, with the fix in the message.

:class:`SimFile` is the value a DAG passes around; :func:`file_values` turns every file in an input
into Sim's value: a ``SimFile``, ``bytes``, a ``pathlib.Path`` or an open file (the only reads here
are of the paths and open files the caller put in the input, in the worker).
"""

from __future__ import annotations

import base64
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.protocol.errors import MAX_BODY_BYTES

#: Sim's limit for one file of an input (``MAX_FILE_SIZE`` in ``lib/execution/files.ts``)
MAX_FILE_BYTES = 20 * 1024 * 1024
#: the fix for a file too large to send inline
URL_FIX = "upload it where Sim can fetch it and pass SimFile.from_url(url, name=...) instead"


@dataclass(frozen=True)
class SimFile:
    """A file for a Sim workflow input: its bytes (sent inline, base64) or a URL Sim downloads.

    Put one anywhere in the input (``{"report": SimFile.from_path("report.pdf")}``); it reaches
    the workflow's ``file[]`` input field as Sim's file value. Airflow's XCom serialiser writes a
    ``SimFile`` and rebuilds it where ``[core] allowed_deserialization_classes`` allows the class
    (``airflow_provider_sim.*``); :meth:`to_value` is plain JSON that crosses XCom anywhere.

    :param name: the file name the workflow sees.
    :param content: the file's bytes (inline); ``None`` for a URL file.
    :param url: where Sim downloads the file from; ``None`` for an inline file.
    :param mime: the MIME type; guessed from ``name`` when not given.
    """

    name: str
    content: bytes | None = None
    url: str | None = None
    mime: str | None = None

    #: XCom serialisation format version (Airflow's ``serde``)
    __version__: ClassVar[int] = 1

    def __post_init__(self) -> None:
        if (self.content is None) == (self.url is None):
            raise SimConfigurationError("A SimFile has either content (bytes) or a url, not both or neither.")
        if not self.name:
            raise SimConfigurationError("A SimFile needs a name: Sim ignores files without one.")

    @classmethod
    def from_bytes(
        cls, content: bytes | bytearray | memoryview, name: str = "file", mime: str | None = None
    ) -> SimFile:
        """An inline file of ``content``."""
        return cls(name=name, content=bytes(content), mime=mime)

    @classmethod
    def from_url(cls, url: str, name: str | None = None, mime: str | None = None) -> SimFile:
        """A file Sim downloads from ``url`` (no size limit here; Sim's 20 MiB applies when it fetches)."""
        if not url.startswith(("https://", "http://")):
            raise SimConfigurationError(f"SimFile.from_url needs an http(s) URL, got {url!r}.")
        return cls(name=name or os.path.basename(url.split("?", 1)[0]) or "file", url=url, mime=mime)

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str], name: str | None = None, mime: str | None = None
    ) -> SimFile:
        """An inline file read from ``path`` (in the worker); named after it unless ``name`` is given.

        :raises SimConfigurationError: over Sim's 20 MiB per file (checked before reading it).
        """
        path = Path(path)
        _check_size(path.stat().st_size, name or path.name)
        return cls(name=name or path.name, content=path.read_bytes(), mime=mime)

    @classmethod
    def from_file(cls, file: Any, name: str | None = None, mime: str | None = None) -> SimFile:
        """An inline file read from an open file object (binary or text); its position is kept."""
        position = file.tell() if hasattr(file, "tell") else None
        data = file.read()
        if position is not None and hasattr(file, "seek"):
            file.seek(position)
        content = data.encode() if isinstance(data, str) else bytes(data)
        return cls(
            name=name or os.path.basename(str(getattr(file, "name", "") or "file")),
            content=content,
            mime=mime or getattr(file, "content_type", None),
        )

    @property
    def mime_type(self) -> str:
        """``mime``, or the type ``name`` suggests, or ``application/octet-stream``."""
        return self.mime or mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    def to_value(self) -> dict[str, str]:
        """Sim's file value for this file.

        :raises SimConfigurationError: over 20 MiB, or (inline) over Sim's 10 MiB request body as base64.
        """
        mime = self.mime_type
        if self.content is None:
            return {"type": "url", "data": str(self.url), "name": self.name, "mime": mime}
        _check_size(len(self.content), self.name)
        data = f"data:{mime};base64,{base64.b64encode(self.content).decode('ascii')}"
        if len(data) > MAX_BODY_BYTES:
            raise SimConfigurationError(
                f"File {self.name!r} is {len(self.content):,} bytes, {len(data):,} bytes as base64: over "
                f"the {MAX_BODY_BYTES:,} bytes (10 MiB) Sim takes in one request, so it cannot go inline "
                f"(inline files stop at about 7.5 MiB): {URL_FIX}."
            )
        return {"type": "file", "data": data, "name": self.name, "mime": mime}

    # Airflow's XCom serialisation (``airflow.serialization.serde``) calls these two
    def serialize(self) -> dict[str, Any]:
        """This file as JSON for XCom (inline content as base64)."""
        content = None if self.content is None else base64.b64encode(self.content).decode("ascii")
        return {"name": self.name, "content": content, "url": self.url, "mime": self.mime}

    @staticmethod
    def deserialize(data: dict[str, Any], version: int) -> SimFile:
        """The file :meth:`serialize` wrote."""
        if version > SimFile.__version__:
            raise TypeError(f"SimFile serialised in version {version}, newer than {SimFile.__version__}")
        content = None if data["content"] is None else base64.b64decode(data["content"])
        return SimFile(name=data["name"], content=content, url=data["url"], mime=data["mime"])

    def __repr__(self) -> str:  # never the content: it can be megabytes, and land in logs
        where = f"url={self.url!r}" if self.url else f"{len(self.content or b''):,} bytes"
        return f"SimFile({self.name!r}, {where}, mime={self.mime_type!r})"


def _check_size(size: int, name: str) -> None:
    if size > MAX_FILE_BYTES:
        raise SimConfigurationError(
            f"File {name!r} is {size:,} bytes ({size / 1024 / 1024:.1f} MiB): Sim takes at most "
            f"{MAX_FILE_BYTES:,} bytes (20 MiB) per file. Split or compress it; a file Sim downloads "
            "(SimFile.from_url) has the same limit."
        )


def as_sim_file(value: Any) -> SimFile | None:
    """``value`` as a :class:`SimFile` if it is a file (``SimFile``, bytes, ``os.PathLike``, open
    file), else ``None``. A ``str`` is never a file: pass ``Path(...)`` or ``SimFile.from_path``."""
    if isinstance(value, SimFile):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return SimFile.from_bytes(value)
    if isinstance(value, os.PathLike):
        return SimFile.from_path(value)
    if callable(getattr(value, "read", None)):
        return SimFile.from_file(value)
    return None


def file_values(value: Any) -> Any:
    """``value`` with every file in it (see :func:`as_sim_file`) replaced by Sim's file value."""
    if isinstance(value, dict):
        return {key: file_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [file_values(item) for item in value]
    file = as_sim_file(value)
    return value if file is None else file.to_value()
