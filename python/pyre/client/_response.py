"""``Response``: status, headers, and the body read whole or as a stream.

How it works: a response made by ``Client.request`` already holds its whole body
(gathered in Rust), and its connection went back to the pool. A response from
``Client.stream`` holds its connection until the body ended or ``aclose()``: each
``iter_raw()`` step awaits the next piece read by Rust, which stops reading the
socket while the pieces are not taken (read backpressure), so a slow consumer keeps
memory bounded. Content-Encoding (gzip, deflate, br, zstd: see _decoders.py) is
decoded by ``read()`` and ``iter_bytes()`` in bounded pieces; ``iter_raw()`` gives
the bytes as received.

Text: the charset of Content-Type when Python knows it, else UTF-8 (a misspelt or
unknown charset falls back too); bytes that do not decode become U+FFFD, so
``.text`` never raises.
"""

from __future__ import annotations

import codecs
import json as jsonlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from pyre.client._decoders import decoder_for
from pyre.client._errors import HTTPStatusError
from pyre.client._headers import Headers
from pyre.client._lines import LineSplitter

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))


class Response:
    """An HTTP response: ``status``, ``reason``, ``http_version``, ``headers``,
    ``url``, ``method``; the body by ``await read()`` (then ``content``, ``text``,
    ``json()``) or by ``async for chunk in iter_bytes()``."""

    def __init__(
        self,
        status: int,
        reason: bytes,
        http_version: str,
        headers: list[tuple[bytes, bytes]],
        *,
        method: str,
        url: str,
        content: bytes | None = None,
        next_piece: Callable[[], Awaitable[bytes]] | None = None,
        close: Callable[[], None] | None = None,
        request: Any = None,
    ) -> None:
        self.status = status
        self.status_code = status
        self.reason_phrase = reason.decode("latin-1")
        self.http_version = (
            http_version if http_version.startswith("HTTP/") else f"HTTP/{http_version}"
        )
        self.headers = Headers(headers)
        self.method = method
        self.url = url
        self.history: list[Response] = []
        self.request = request
        self._encoding: str | None = None
        self._raw_content = content
        self._content: bytes | None = None
        self._next_piece = next_piece
        self._close = close
        self._stream_consumed = content is not None
        self.is_closed = close is None

    def __repr__(self) -> str:
        return f"<Response [{self.status} {self.reason_phrase}]>"

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECT_STATUSES and "location" in self.headers

    @property
    def content(self) -> bytes:
        """The decoded body; a streamed response must be ``read()`` first."""
        if self._content is None:
            if self._raw_content is None:
                raise RuntimeError("the body was not read: await response.read() first")
            self._content = self._decode_whole(self._raw_content)
        return self._content

    @property
    def charset_encoding(self) -> str | None:
        """The charset named by Content-Type, if Python knows it (else None)."""
        content_type = self.headers.get("content-type", "")
        for param in content_type.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "charset" and value:
                name = value.strip().strip("\"'")
                try:
                    return codecs.lookup(name).name
                except LookupError:
                    return None
        return None

    @property
    def encoding(self) -> str:
        """The text encoding: set by you, else the charset of Content-Type when Python
        knows it, else utf-8."""
        if self._encoding is None:
            self._encoding = self.charset_encoding or "utf-8"
        return self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        self._encoding = codecs.lookup(value).name

    @property
    def text(self) -> str:
        """The body as text (see ``encoding``); undecodable bytes become U+FFFD."""
        return self.content.decode(self.encoding, errors="replace")

    def iter_lines(self) -> Iterator[str]:
        """The lines of a body already read (``\\n``, ``\\r\\n`` or ``\\r`` ends a line;
        line ends are not included). For a stream, ``aiter_lines()``."""
        splitter = LineSplitter()
        yield from splitter.feed(self.text)
        yield from splitter.flush()

    def json(self, **kwargs: Any) -> Any:
        return jsonlib.loads(self.content, **kwargs)

    def raise_for_status(self) -> Response:
        """Raises ``HTTPStatusError`` for a 4xx or 5xx status; returns self."""
        if self.status >= 400:
            kind = "Client error" if self.status < 500 else "Server error"
            message = f"{kind} '{self.status} {self.reason_phrase}' for url '{self.url}'"
            raise HTTPStatusError(message, request=self.request, response=self)
        return self

    def _decode_whole(self, raw: bytes) -> bytes:
        decoder = decoder_for(self.headers.get("content-encoding"))
        if decoder is None:
            return raw
        return b"".join([*decoder.decode(raw), *decoder.flush()])

    async def read(self) -> bytes:
        """Reads the rest of the body (decoded) and returns it."""
        if self._raw_content is None:
            self._raw_content = b"".join([piece async for piece in self.iter_raw()])
        return self.content

    async def iter_raw(self) -> AsyncIterator[bytes]:
        """The body's pieces as received (Content-Encoding not decoded)."""
        if self._raw_content is not None:
            if self._raw_content:
                yield self._raw_content
            return
        if self._stream_consumed:
            raise RuntimeError("the response body was already read")
        self._stream_consumed = True
        next_piece = self._next_piece
        assert next_piece is not None
        try:
            while True:
                piece = await next_piece()
                if not piece:
                    break
                yield piece
        finally:
            await self.aclose()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body's pieces, Content-Encoding decoded."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        decoder = decoder_for(self.headers.get("content-encoding"))
        if decoder is None:
            async for piece in self.iter_raw():
                yield piece
            return
        async for piece in self.iter_raw():
            for out in decoder.decode(piece):
                yield out
        for out in decoder.flush():
            yield out

    async def iter_text(self) -> AsyncIterator[str]:
        """The body decoded to text (see ``encoding``), piece by piece."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        async for piece in self.iter_bytes():
            text = decoder.decode(piece)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines as they arrive; a line split across pieces is joined
        (``\\n``, ``\\r\\n`` or ``\\r`` ends a line; line ends are not included)."""
        splitter = LineSplitter()
        async for text in self.iter_text():
            for line in splitter.feed(text):
                yield line
        for line in splitter.flush():
            yield line

    async def aclose(self) -> None:
        """Gives the connection back: to the pool when the body was read to its end
        (or its rest is already received), otherwise it is closed."""
        if not self.is_closed:
            self.is_closed = True
            close = self._close
            self._close = None
            if close is not None:
                close()
