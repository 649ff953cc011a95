"""``Request``: what was sent, kept on its response (``response.request``) and on
``HTTPStatusError`` for error reports."""

from __future__ import annotations

from pyre.client._headers import Headers


class Request:
    """The method, URL and header fields of a request as sent (``Host`` first)."""

    __slots__ = ("_headers", "_raw", "method", "url")

    def __init__(self, method: str, url: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.url = url
        self._raw = headers
        self._headers: Headers | None = None

    @property
    def headers(self) -> Headers:
        # Made when first asked for: most requests are never looked at again.
        if self._headers is None:
            self._headers = Headers(self._raw)
        return self._headers

    def __repr__(self) -> str:
        return f"<Request [{self.method} {self.url}]>"
