"""Form bodies: ``await request.body.form()`` for ``application/x-www-form-urlencoded``
and ``multipart/form-data`` (parsed with python-multipart), with limits.

How it works: the body is fed to the parser piece by piece as it arrives; the
parser's callbacks only record events, which are then applied: fields gather in
memory (each at most ``max_part_size`` bytes), files go to a ``SpooledTemporaryFile``
that moves to disk past 1 MiB (disk writes run in a worker thread). Too many fields
or files is a 400, a field over its limit a 413, a malformed body a 400.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header

from pyre.framework.datastructures import MultiDict
from pyre.framework.exceptions import HTTPException

SPOOL_MAX = 1024 * 1024


class UploadFile:
    """An uploaded file: ``filename``, ``content_type``, ``headers``, ``size``, and
    ``await read()``, ``await seek()``, ``await close()`` on its spooled ``file``."""

    def __init__(self, filename: str, content_type: str, headers: dict[str, str]) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = headers
        self.size = 0
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)

    @property
    def _on_disk(self) -> bool:
        return bool(getattr(self.file, "_rolled", True))

    async def _write(self, data: bytes) -> None:
        self.size += len(data)
        if self._on_disk:
            await asyncio.to_thread(self.file.write, data)
        else:
            self.file.write(data)

    async def read(self, size: int = -1) -> bytes:
        if self._on_disk:
            return await asyncio.to_thread(self.file.read, size)
        return self.file.read(size)

    async def seek(self, offset: int) -> None:
        self.file.seek(offset)

    async def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        return f"UploadFile({self.filename!r}, {self.content_type!r}, size={self.size})"


class FormData(MultiDict):
    """Form fields (``str``) and files (:class:`UploadFile`): ``form["a"]`` is the
    first value, ``form.getlist("a")`` all of them in order."""

    async def close(self) -> None:
        """Closes the uploaded files (their temporary files are deleted)."""
        for _, value in self._items:
            if isinstance(value, UploadFile):
                await value.close()


async def parse_form(
    content_type: str,
    pieces: AsyncIterator[bytes],
    *,
    max_fields: int,
    max_files: int,
    max_part_size: int,
) -> FormData:
    media, options = parse_options_header(content_type)
    if media == b"application/x-www-form-urlencoded":
        body = bytearray()
        async for piece in pieces:
            body += piece
            if len(body) > max_part_size * max(max_fields, 1):
                raise HTTPException(413, "form too large")
        items = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        if len(items) > max_fields:
            raise HTTPException(400, f"too many form fields (more than {max_fields})")
        for name, value in items:
            if len(value) > max_part_size:
                raise HTTPException(413, f"form field {_utf8(name)!r} is too large")
        return FormData([(_utf8(k), _utf8(v)) for k, v in items])
    if media != b"multipart/form-data":
        raise HTTPException(415, "the body is not a form")
    boundary = options.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "multipart/form-data without a boundary")
    return await _multipart(boundary, pieces, max_fields, max_files, max_part_size)


async def _multipart(
    boundary: bytes,
    pieces: AsyncIterator[bytes],
    max_fields: int,
    max_files: int,
    max_part_size: int,
) -> FormData:
    events: list[tuple[str, bytes]] = []

    def record(kind: str) -> Any:
        def callback(data: bytes | None = None, start: int = 0, end: int = 0) -> None:
            events.append((kind, b"" if data is None else bytes(data[start:end])))

        return callback

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": record("part_begin"),
            "on_part_data": record("data"),
            "on_part_end": record("part_end"),
            "on_header_field": record("header_field"),
            "on_header_value": record("header_value"),
            "on_header_end": record("header_end"),
        },
    )
    items: list[tuple[str, Any]] = []
    fields = files = 0
    header_field = header_value = b""
    headers: dict[str, str] = {}
    current: UploadFile | bytearray | None = None
    name = ""
    try:
        async for piece in pieces:
            parser.write(piece)
            for kind, data in events:
                if kind == "part_begin":
                    headers, header_field, header_value = {}, b"", b""
                elif kind == "header_field":
                    header_field += data
                elif kind == "header_value":
                    header_value += data
                elif kind == "header_end":
                    headers[header_field.decode("latin-1").lower()] = header_value.decode("latin-1")
                    header_field = header_value = b""
                elif kind == "data":
                    if current is None:
                        name, current = _start_part(headers)
                        if isinstance(current, UploadFile):
                            files += 1
                            if files > max_files:
                                raise HTTPException(400, f"too many files (more than {max_files})")
                        else:
                            fields += 1
                            if fields > max_fields:
                                raise HTTPException(
                                    400, f"too many fields (more than {max_fields})"
                                )
                    if isinstance(current, UploadFile):
                        await current._write(data)
                    else:
                        current += data
                        if len(current) > max_part_size:
                            raise HTTPException(413, f"form field {name!r} is too large")
                elif kind == "part_end":
                    if current is None:  # an empty part
                        name, current = _start_part(headers)
                    if isinstance(current, UploadFile):
                        await current.seek(0)
                        items.append((name, current))
                    else:
                        items.append((name, current.decode("utf-8", errors="replace")))
                    current = None
            events.clear()
        parser.finalize()
    except HTTPException:
        await FormData(items).close()
        raise
    except Exception as exc:
        await FormData(items).close()
        raise HTTPException(400, f"malformed multipart body: {exc}") from exc
    return FormData(items)


def _utf8(text: str) -> str:
    """parse_qsl decoded the percent-escapes as latin-1; forms send UTF-8."""
    return text.encode("latin-1").decode("utf-8", errors="replace")


def _start_part(headers: dict[str, str]) -> tuple[str, UploadFile | bytearray]:
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise HTTPException(400, "a multipart part without Content-Disposition")
    _, options = parse_options_header(disposition)
    name = options.get(b"name", b"").decode("utf-8", errors="replace")
    filename = options.get(b"filename")
    if filename is None:
        return name, bytearray()
    content_type = headers.get("content-type", "application/octet-stream")
    return name, UploadFile(filename.decode("utf-8", errors="replace"), content_type, headers)
