"""Request bodies: what ``content=`` and ``json=`` may be, and how each is sent.

- bytes (or bytearray, memoryview) and str (UTF-8): Content-Length, sent with the
  head in one write when small;
- a file path (``os.PathLike``, e.g. ``pathlib.Path``): Content-Length from its size,
  sent by ``sendfile(2)`` from Rust, never read into Python;
- a sync or async iterator of bytes/str: chunked, or Content-Length when the headers
  declare one. A piece is pulled only when the connection's out-buffer is below its
  high-water mark, so a slow server stops the iterator (write backpressure).

``data=`` alone is an HTML form (``application/x-www-form-urlencoded``); with
``files=`` it is ``multipart/form-data``, streamed from the files (_multipart.py).
"""

from __future__ import annotations

import json as jsonlib
import os
from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import urlencode

from pyre.client._multipart import MultipartBody, RequestData, RequestFiles, form_value

Content = Union[
    bytes, bytearray, memoryview, str, "os.PathLike[str]", Iterable[Any], AsyncIterable[Any]
]


@dataclass
class Body:
    """A request body: exactly one of ``data``, ``path`` or ``stream``."""

    data: bytes | None = None
    path: str | None = None
    size: int | None = None
    stream: Iterable[Any] | AsyncIterable[Any] | None = None
    content_type: str | None = None
    # The length of a ``stream`` when known in advance (sent as Content-Length).
    length: int | None = None
    # A ``stream`` that starts over each time it is iterated (a multipart body).
    rewindable: bool = False

    @property
    def replayable(self) -> bool:
        """Can be sent again (a retry on a fresh connection, a 307/308 redirect)."""
        return self.stream is None or self.rewindable


EMPTY = Body()


def make_body(
    content: Content | None,
    json: Any,
    data: RequestData | None = None,
    files: RequestFiles | None = None,
) -> Body:
    given = (content is not None) + (json is not None) + (data is not None or files is not None)
    if given > 1:
        raise TypeError("give one of content, json, data or files")
    if files is not None:
        multipart = MultipartBody(data, files)
        return Body(
            stream=multipart,
            content_type=multipart.content_type,
            length=multipart.length,
            rewindable=multipart.rewindable,
        )
    if data is not None:
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping of form fields, not {type(data).__name__}")
        # Values as in a multipart form: numbers as text, booleans as true/false.
        pairs = [
            (name, value if isinstance(value, bytes) else form_value(value).decode())
            for name, values in data.items()
            for value in (values if isinstance(values, (list, tuple)) else [values])
        ]
        form = urlencode(pairs).encode("ascii")
        return Body(data=form, content_type="application/x-www-form-urlencoded")
    if json is not None:
        data = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
        return Body(data=data, content_type="application/json")
    if content is None:
        return EMPTY
    if isinstance(content, bytes):
        return Body(data=content)
    if isinstance(content, (bytearray, memoryview)):
        return Body(data=bytes(content))
    if isinstance(content, str):
        return Body(data=content.encode())
    if isinstance(content, os.PathLike):
        path = os.fspath(content)
        return Body(path=path, size=os.stat(path).st_size)
    if isinstance(content, (Iterable, AsyncIterable)):
        return Body(stream=content)
    raise TypeError(
        f"content must be bytes, str, a path or an iterator, not {type(content).__name__}"
    )


def to_bytes(piece: Any) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, str):
        return piece.encode()
    if isinstance(piece, (bytearray, memoryview)):
        return bytes(piece)
    raise TypeError(f"a body iterator must give bytes or str, not {type(piece).__name__}")
