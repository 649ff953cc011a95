"""Response compression with gzip, honouring ``Accept-Encoding``.

How it works: a response is compressed when the client accepts gzip (``gzip`` or
``*`` with a non-zero q-value), it has no ``Content-Encoding`` yet, its status has a
body (not 1xx, 204, 304, 206) and its media type is not excluded
(``text/event-stream`` by default: events must not wait in a compressor). A whole
body is compressed when it has at least ``minimum_size`` bytes; a streamed body
always, each piece flushed (``Z_SYNC_FLUSH``) so the client gets it when the
application sends it, and it is then sent chunked. ``FileResponse`` and mounted
ASGI apps are left alone (sendfile and byte ranges need the file's own bytes).
Every response that could be compressed carries ``Vary: Accept-Encoding``.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

from pyre.framework.responses import Response, StreamingResponse, to_response

#: Whole bodies smaller than this (bytes) are not worth compressing (the default).
DEFAULT_MINIMUM_SIZE = 500


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (RFC 9110 section 12.5.3)."""
    star = None
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q > 0
    return bool(star)


class GZipMiddleware:
    """``minimum_size``: the smallest whole body compressed; ``compresslevel`` 1-9;
    ``exclude_media_types``: media types never compressed."""

    def __init__(
        self,
        minimum_size: int = DEFAULT_MINIMUM_SIZE,
        compresslevel: int = 9,
        exclude_media_types: Sequence[str] = ("text/event-stream",),
    ) -> None:
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.exclude_media_types = frozenset(exclude_media_types)

    async def __call__(self, request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Response:
        response = to_response(await call_next(request))
        streaming = isinstance(response, StreamingResponse) and (
            type(response)._pieces is StreamingResponse._pieces
        )
        whole = type(response).send_psgi is Response.send_psgi
        if not (streaming or whole) or not self._compressible(response):
            return response
        if whole and len(response.body) < self.minimum_size:
            return response
        response.headers.add_vary("Accept-Encoding")
        if not accepts_gzip(request.headers.get("accept-encoding") or ""):
            return response
        response.headers["content-encoding"] = "gzip"
        if "content-length" in response.headers:
            del response.headers["content-length"]
        if whole:
            response.body = gzip.compress(response.body, self.compresslevel, mtime=0)
        else:
            assert isinstance(response, StreamingResponse)
            response.content = self._compress(response.content, response.charset)
        return response

    def _compressible(self, response: Response) -> bool:
        if response.status < 200 or response.status in (204, 206, 304):
            return False
        if "content-encoding" in response.headers:
            return False
        media = (response.headers.get("content-type") or "").partition(";")[0].strip().lower()
        return media not in self.exclude_media_types

    async def _compress(self, content: Any, charset: str) -> AsyncIterator[bytes]:
        compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 31)  # 31: gzip framing
        async for piece in _pieces(content, charset):
            out = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if out:
                yield out
        yield compressor.flush()


async def _pieces(content: Any, charset: str) -> AsyncIterator[bytes]:
    """A streaming response's content as bytes (a sync iterator in a worker thread)."""
    if isinstance(content, AsyncIterable):
        async for piece in content:
            yield piece if isinstance(piece, bytes) else str(piece).encode(charset)
        return
    iterator: Iterator[Any] = iter(content)
    done = object()
    while (piece := await asyncio.to_thread(next, iterator, done)) is not done:
        yield piece if isinstance(piece, bytes) else str(piece).encode(charset)
