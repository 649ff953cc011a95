"""Responses a handler returns. Each knows how to send itself over PSGI (Pyre's native
interface, used when the app runs on Pyre) and over ASGI (any other server).

    return responses.JSONResponse({"ok": True}, status=201)

Handlers may also return plain values; :func:`to_response` turns them into responses:
``str`` is text, ``dict``/``list`` JSON, a msgspec Struct, dataclass or pydantic
model JSON too (serialization.py), ``bytes`` an octet stream, ``None`` 204, an
async (or sync) iterator a stream, and ``(body, status)`` or ``(body, status,
headers)`` tuples set the status and headers.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import stat as stat_module
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from email.utils import format_datetime, formatdate
from http.cookies import Morsel
from typing import Any

import orjson

from pyre.framework import files, serialization
from pyre.framework.datastructures import MutableHeaders
from pyre.framework.exceptions import HTTPException

HeaderItems = list[tuple[str, str]]


class Response:
    """A whole body sent at once, with ``Content-Length``.

    ``headers`` is a :class:`~pyre.framework.datastructures.MutableHeaders`
    (``response.headers["x-a"] = "1"``, ``del``, ``append``; case-insensitive, repeated
    fields kept). ``background`` (a callable, or a ``BackgroundTasks``) runs after the
    response was sent (:mod:`pyre.framework.background`)."""

    media_type: str | None = None
    charset = "utf-8"

    def __init__(
        self,
        content: bytes | str | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Any = None,
    ) -> None:
        self.status = status
        if media_type is not None:
            self.media_type = media_type
        self.body = self.render(content)
        self.background = background
        self.headers = MutableHeaders(headers)
        if self.media_type is not None and not self.has_header("content-type"):
            content_type = self.media_type
            if content_type.startswith("text/") and "charset=" not in content_type:
                content_type += f"; charset={self.charset}"
            self.headers.append(("content-type", content_type))

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        return str(content).encode(self.charset)

    def has_header(self, name: str) -> bool:
        return name in self.headers

    def header(self, name: str) -> str | None:
        """The first value of a header the response carries."""
        return self.headers.get(name)

    def prepare(self) -> None:
        """Called by the app once the handler returned, where an exception still
        reaches the exception handlers: a response that can fail before sending
        (a missing file) fails here."""

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | int | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Adds a ``Set-Cookie`` header. The value is quoted as RFC 6265 and Python's
        ``http.cookies`` expect when it holds characters a cookie value cannot carry
        bare; ``expires`` is a datetime, seconds from now, or a ready HTTP date."""
        self.headers.append(
            (
                "set-cookie",
                cookie_header(
                    key,
                    value,
                    max_age,
                    expires,
                    path,
                    domain,
                    secure,
                    httponly,
                    samesite,
                    partitioned,
                ),
            )
        )

    def delete_cookie(
        self,
        key: str,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Tells the browser to drop a cookie (same path and domain as when set)."""
        self.set_cookie(
            key,
            "",
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def send_psgi(self, responder: Any, request: Any = None) -> None:
        responder.respond(self.status, self.headers.raw, self.body)

    async def send_asgi(self, send: Any, scope: Mapping[str, Any], request: Any = None) -> None:
        headers = self.headers.raw
        if not self.has_header("content-length") and self.status not in (204, 304):
            # Some ASGI servers would otherwise chunk a whole body, or send HEAD
            # responses without the length.
            headers = [*headers, ("content-length", str(len(self.body)))]
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": _asgi_headers(headers),
            }
        )
        await send({"type": "http.response.body", "body": self.body})


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"


class JSONResponse(Response):
    """JSON by orjson: dataclasses, datetimes, UUIDs and enums serialise as well, and
    msgspec Structs and pydantic models through orjson's ``default`` hook."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=serialization.default, option=orjson.OPT_NON_STR_KEYS)


class RedirectResponse(Response):
    """A redirect to ``url`` (307 by default, which keeps the method and body)."""

    def __init__(
        self, url: str, status: int = 307, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(b"", status=status, headers=headers)
        self.headers.append(("location", url))


class StreamingResponse(Response):
    """A body produced piece by piece (chunked unless a Content-Length header is given).
    Each piece is sent as it comes and the producer is made to wait while the client
    lags (backpressure). A sync iterator is advanced in a worker thread."""

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Any = None,
    ) -> None:
        super().__init__(
            None, status=status, headers=headers, media_type=media_type, background=background
        )
        self.content = content

    async def _pieces(self) -> AsyncIterator[bytes]:
        content = self.content
        if isinstance(content, AsyncIterable):
            async for piece in content:
                yield piece if isinstance(piece, bytes) else str(piece).encode(self.charset)
            return
        iterator: Iterator[bytes | str] = iter(content)
        done = object()
        while (piece := await asyncio.to_thread(next, iterator, done)) is not done:
            yield piece if isinstance(piece, bytes) else str(piece).encode(self.charset)

    def _length(self) -> int | None:
        value = self.header("content-length")
        return int(value) if value is not None else None

    async def send_psgi(self, responder: Any, request: Any = None) -> None:
        length = self._length()
        headers = [(k, v) for k, v in self.headers.raw if k.lower() != "content-length"]
        stream = responder.start(self.status, headers, length=length)
        async for piece in self._pieces():
            await stream.write(piece)
        await stream.finish()

    async def send_asgi(self, send: Any, scope: Mapping[str, Any], request: Any = None) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": _asgi_headers(self.headers.raw),
            }
        )
        async for piece in self._pieces():
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class FileResponse(Response):
    """A file's content, sent by sendfile on Pyre (and by ASGI ``pathsend`` where a
    server offers it); its media type is guessed from the name unless given.
    ``filename`` adds a ``Content-Disposition`` (``attachment``, or
    ``content_disposition_type="inline"``) naming it as RFC 6266 says, any Unicode
    name included. It carries an ETag and Last-Modified, answers conditional requests
    with 304, and byte ranges with 206 (one range, or several as
    multipart/byteranges) or 416 (see :mod:`pyre.framework.files`).

    A path that is not a regular file (missing, a directory) is a 404 raised when
    the handler returns, through the app's exception handlers. To serve a file a
    request names, use :meth:`from_directory`, never ``os.path.join``."""

    chunk_size = 256 * 1024

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        filename: str | None = None,
        background: Any = None,
        content_disposition_type: str = "attachment",
    ) -> None:
        self.path = os.fspath(path)
        self._stat: os.stat_result | None = None
        if media_type is None:
            media_type = (
                mimetypes.guess_type(filename or self.path)[0] or "application/octet-stream"
            )
        super().__init__(
            None, status=status, headers=headers, media_type=media_type, background=background
        )
        if filename is not None:
            disposition = files.content_disposition(filename, content_disposition_type)
            self.headers.append(("content-disposition", disposition))

    @classmethod
    def from_directory(
        cls,
        root: str | os.PathLike[str],
        path: str,
        *,
        follow_symlinks: bool = False,
        **options: Any,
    ) -> FileResponse:
        """The file ``path`` (from the request) names under ``root``; a path that
        leaves ``root`` (``..``, a backslash, NUL, a symlink out of it) or names no
        regular file is ``HTTPException(404)`` (see :func:`files.safe_join`)."""
        response = cls(files.safe_join(root, path, follow_symlinks=follow_symlinks), **options)
        response.prepare()
        return response

    def prepare(self) -> None:
        if self._stat is not None:
            return
        try:
            stat = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise HTTPException(404) from exc
        except PermissionError as exc:
            raise HTTPException(403) from exc
        except (OSError, ValueError) as exc:  # a name too long, an embedded NUL
            raise HTTPException(404) from exc
        if not stat_module.S_ISREG(stat.st_mode):
            raise HTTPException(404)
        self._stat = stat

    def _plan(self, request: Any) -> tuple[os.stat_result, files.Plan]:
        stat = self._stat or os.stat(self.path)
        if request is None or self.status != 200:
            return stat, files.Plan(self.status)
        media_type = self.header("content-type") or "application/octet-stream"
        return stat, files.plan(request.headers, request.method, stat, media_type)

    def _headers_for(self, plan: files.Plan) -> HeaderItems:
        replaced = {name for name, _ in plan.headers}
        kept = [(k, v) for k, v in self.headers.raw if k.lower() not in replaced]
        return [*kept, *plan.headers]

    async def _parts(self, plan: files.Plan, stat: os.stat_result) -> AsyncIterator[bytes]:
        """The multipart/byteranges body, a part at a time (read in a worker thread)."""
        assert plan.ranges and plan.boundary
        media_type = self.header("content-type") or "application/octet-stream"
        with open(self.path, "rb") as f:
            for start, end in plan.ranges:
                yield files.part_headers(plan.boundary, media_type, start, end, stat.st_size)
                position = start
                while position <= end:
                    size = min(self.chunk_size, end - position + 1)
                    yield await asyncio.to_thread(os.pread, f.fileno(), size, position)
                    position += size
                yield b"\r\n"
        yield files.closing(plan.boundary)

    def _multipart_length(self, plan: files.Plan, stat: os.stat_result) -> int:
        media_type = self.header("content-type") or "application/octet-stream"
        return files.multipart_length(plan, media_type, stat.st_size)

    async def send_psgi(self, responder: Any, request: Any = None) -> None:
        stat, plan = self._plan(request)
        headers = self._headers_for(plan)
        if plan.ranges == []:  # 304, 416: no body
            responder.respond(plan.status, headers, b"")
        elif plan.ranges is None:
            await responder.respond_file(plan.status, headers, self.path)
        elif plan.boundary is None:
            start, end = plan.ranges[0]
            await responder.respond_file(
                plan.status, headers, self.path, offset=start, count=end - start + 1
            )
        else:
            stream = responder.start(
                plan.status, headers, length=self._multipart_length(plan, stat)
            )
            async for piece in self._parts(plan, stat):
                await stream.write(piece)
            await stream.finish()

    async def send_asgi(self, send: Any, scope: Mapping[str, Any], request: Any = None) -> None:
        stat, plan = self._plan(request)
        headers = self._headers_for(plan)
        if plan.ranges == []:
            length, ranges = 0, []
        elif plan.ranges is None:
            length, ranges = stat.st_size, [(0, stat.st_size - 1)]
        elif plan.boundary is None:
            length, ranges = plan.ranges[0][1] - plan.ranges[0][0] + 1, plan.ranges
        else:
            length, ranges = self._multipart_length(plan, stat), plan.ranges
        if plan.status not in (304,):
            headers = [*headers, ("content-length", str(length))]
        await send(
            {
                "type": "http.response.start",
                "status": plan.status,
                "headers": _asgi_headers(headers),
            }
        )
        if plan.ranges is None and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": os.path.abspath(self.path)})
            return
        if plan.boundary is not None:
            async for piece in self._parts(plan, stat):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        elif ranges and stat.st_size:
            start, end = ranges[0]
            with open(self.path, "rb") as f:
                position = start
                while position <= end:
                    size = min(self.chunk_size, end - position + 1)
                    piece = await asyncio.to_thread(os.pread, f.fileno(), size, position)
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                    position += size
        await send({"type": "http.response.body", "body": b""})


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


def cookie_header(
    key: str,
    value: str,
    max_age: int | None,
    expires: datetime | int | str | None,
    path: str | None,
    domain: str | None,
    secure: bool,
    httponly: bool,
    samesite: str | None,
    partitioned: bool,
) -> str:
    """The value of one ``Set-Cookie`` header."""
    if not _TOKEN.match(key):
        raise ValueError(f"cookie name {key!r} is not a token")
    morsel: Morsel[str] = Morsel()
    morsel.set(key, value, _cookie_quote(value))
    parts = [morsel.OutputString()]
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        if isinstance(expires, datetime):
            when = expires if expires.tzinfo else expires.replace(tzinfo=timezone.utc)
            parts.append(f"Expires={format_datetime(when.astimezone(timezone.utc), usegmt=True)}")
        elif isinstance(expires, int):
            moment = datetime.now(timezone.utc).timestamp() + expires
            parts.append(f"Expires={formatdate(moment, usegmt=True)}")
        else:
            parts.append(f"Expires={expires}")
    if path is not None:
        parts.append(f"Path={path}")
    if domain is not None:
        parts.append(f"Domain={domain}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        if samesite.lower() not in _SAMESITE:
            raise ValueError(f"samesite must be lax, strict or none, got {samesite!r}")
        parts.append(f"SameSite={_SAMESITE[samesite.lower()]}")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


def _cookie_quote(value: str) -> str:
    """A cookie value as sent: bare when every character is a cookie-octet (RFC
    6265), else in double quotes with ``"`` and ``\\`` escaped and other characters
    outside printable ASCII as octal escapes, which ``http.cookies`` reads back."""
    if all(0x21 <= ord(c) <= 0x7E and c not in '",;\\' for c in value):
        return value
    out = []
    for c in value:
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= ord(c) <= 0x7E and c not in ",;":
            out.append(c)
        else:
            out.extend(f"\\{b:03o}" for b in c.encode("utf-8"))
    return '"' + "".join(out) + '"'


def _asgi_headers(headers: HeaderItems | MutableHeaders) -> list[tuple[bytes, bytes]]:
    if isinstance(headers, MutableHeaders):
        headers = headers.raw
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def to_response(value: Any) -> Response:
    """Turns a handler's return value into a response (see the module docstring)."""
    if isinstance(value, Response):
        return value
    if isinstance(value, tuple) and 2 <= len(value) <= 3:
        body, status, *rest = value
        response = to_response(body)
        response.status = status
        if rest:
            response.headers.extend((rest[0] or {}).items())
        return response
    if isinstance(value, str):
        return PlainTextResponse(value)
    if isinstance(value, (dict, list)):
        return JSONResponse(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Response(bytes(value), media_type="application/octet-stream")
    if value is None:
        return Response(status=204)
    if isinstance(value, (AsyncIterable, Iterator)):
        return StreamingResponse(value, media_type="application/octet-stream")
    encoded = serialization.encode(value)
    if encoded is not None:
        return Response(encoded, media_type=serialization.JSON)
    raise TypeError(
        f"a handler returned {type(value).__name__}: return a Response, str, bytes, dict,"
        " list, a Struct, dataclass or pydantic model, None, an iterator or a (body,"
        " status[, headers]) tuple"
    )
