"""``multipart/form-data`` request bodies (RFC 7578) for ``files=`` and ``data=``.

How it works: ``MultipartBody`` is an iterator of byte pieces: for each field its
part head, then its content, then the closing boundary. A file's content is read in
``FILE_PIECE`` chunks only when the client pulls the next piece, which it does only
while the connection's out-buffer is below its high-water mark, so a large upload
is never held in memory. The total length is computed up front from the part heads
and the file sizes, so the request has a ``Content-Length`` (servers and proxies
that refuse chunked uploads accept it); when a file's size cannot be known (a pipe),
the body is sent chunked instead.

Files are read with ordinary blocking reads of local files (as httpx does): a read
of ``FILE_PIECE`` bytes from a page cache or disk is short next to a network write.

The body can be sent again (a 307/308 redirect, a retry on a fresh connection) when
every file can be read again: paths are reopened, seekable file objects are seeked
back to where they were; a pipe cannot.

Field names and filenames are UTF-8 in quoted strings, with ``"``, CR and LF
percent-encoded, as the HTML standard's form submission does (RFC 7578 section 4.2
notes that ``filename*`` is not understood by form-data receivers). A file's
Content-Type is the one given, else guessed from its filename, else
``application/octet-stream``.
"""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

# Bytes read from a file for one piece of the body.
FILE_PIECE = 64 * 1024

FileContent = IO[bytes] | bytes | str | os.PathLike[str]
FileTypes = (
    FileContent
    | tuple[str | None, FileContent]
    | tuple[str | None, FileContent, str | None]
    | tuple[str | None, FileContent, str | None, Mapping[str, str]]
)
RequestFiles = Mapping[str, FileTypes] | Sequence[tuple[str, FileTypes]]
RequestData = Mapping[str, Any]


def _quote(value: str) -> bytes:
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode()


def form_value(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if value is True or value is False:
        return b"true" if value else b"false"
    if value is None:
        return b""
    if isinstance(value, (str, int, float)):
        return str(value).encode()
    raise TypeError(f"a form value must be str, bytes, int, float or bool, not {value!r}")


class _DataField:
    def __init__(self, name: str, value: Any) -> None:
        self.data = form_value(value)
        self.head = b'Content-Disposition: form-data; name="%s"\r\n\r\n' % _quote(name)

    def size(self) -> int | None:
        return len(self.data)

    def rewindable(self) -> bool:
        return True

    def pieces(self) -> Iterator[bytes]:
        if self.data:
            yield self.data


class _FileField:
    def __init__(self, name: str, value: FileTypes) -> None:
        filename: str | None
        content_type: str | None = None
        extra: Mapping[str, str] = {}
        if isinstance(value, tuple):
            filename, content = value[0], value[1]
            if len(value) > 2:
                content_type = value[2]  # type: ignore[misc]
            if len(value) > 3:
                extra = value[3]  # type: ignore[misc]
        else:
            content = value
            filename = None
            if isinstance(content, os.PathLike):
                filename = os.path.basename(os.fspath(content))
            else:
                raw_name = getattr(content, "name", None)
                if isinstance(raw_name, str):
                    filename = os.path.basename(raw_name)
        if isinstance(content, str):
            content = content.encode()
        if isinstance(content, io.TextIOBase):
            raise TypeError(f"file {name!r} is open in text mode: open it with 'rb'")
        self.content = content
        if content_type is None:
            guessed = mimetypes.guess_type(filename)[0] if filename else None
            content_type = guessed or "application/octet-stream"
        head = b'Content-Disposition: form-data; name="%s"' % _quote(name)
        if filename is not None:
            head += b'; filename="%s"' % _quote(filename)
        head += b"\r\n"
        has_type = any(k.lower() == "content-type" for k in extra)
        for key, field_value in extra.items():
            head += f"{key}: {field_value}\r\n".encode()
        if not has_type:
            head += f"Content-Type: {content_type}\r\n".encode()
        self.head = head + b"\r\n"
        # Where a file object's content starts (to send it again).
        self._start: int | None = None
        if not isinstance(content, (bytes, os.PathLike)):
            try:
                self._start = content.tell()
            except (OSError, AttributeError, ValueError):
                self._start = None

    def size(self) -> int | None:
        content = self.content
        if isinstance(content, bytes):
            return len(content)
        if isinstance(content, os.PathLike):
            return os.stat(content).st_size
        if self._start is None:
            return None
        try:
            end = os.fstat(content.fileno()).st_size
        except (OSError, AttributeError, io.UnsupportedOperation):
            try:
                end = content.seek(0, os.SEEK_END)
                content.seek(self._start)
            except (OSError, AttributeError, ValueError):
                return None
        return max(end - self._start, 0)

    def rewindable(self) -> bool:
        return isinstance(self.content, (bytes, os.PathLike)) or self._start is not None

    def pieces(self) -> Iterator[bytes]:
        content = self.content
        if isinstance(content, bytes):
            if content:
                yield content
            return
        if isinstance(content, os.PathLike):
            with open(content, "rb") as file:
                yield from _read_pieces(file)
            return
        if self._start is not None:
            content.seek(self._start)
        yield from _read_pieces(content)


def _read_pieces(file: IO[bytes]) -> Iterator[bytes]:
    while True:
        piece = file.read(FILE_PIECE)
        if not piece:
            return
        yield piece


class MultipartBody:
    """An iterable ``multipart/form-data`` body; each iteration sends it from the
    start."""

    def __init__(
        self, data: RequestData | None, files: RequestFiles, boundary: bytes | None = None
    ) -> None:
        self.boundary = boundary or os.urandom(16).hex().encode()
        self.fields: list[_DataField | _FileField] = []
        for name, value in (data or {}).items():
            values = value if isinstance(value, (list, tuple)) else [value]
            self.fields.extend(_DataField(name, v) for v in values)
        items = files.items() if isinstance(files, Mapping) else files
        self.fields.extend(_FileField(name, value) for name, value in items)
        self.content_type = f"multipart/form-data; boundary={self.boundary.decode()}"

    def _delimiter(self) -> bytes:
        return b"--%s\r\n" % self.boundary

    @property
    def length(self) -> int | None:
        """The body's size in bytes, or None when a file's size is unknown."""
        total = len(b"--%s--\r\n" % self.boundary)
        delimiter = len(self._delimiter())
        for field in self.fields:
            size = field.size()
            if size is None:
                return None
            total += delimiter + len(field.head) + size + 2
        return total

    @property
    def rewindable(self) -> bool:
        return all(field.rewindable() for field in self.fields)

    def __iter__(self) -> Iterator[bytes]:
        delimiter = self._delimiter()
        for field in self.fields:
            yield delimiter + field.head
            yield from field.pieces()
            yield b"\r\n"
        yield b"--%s--\r\n" % self.boundary
