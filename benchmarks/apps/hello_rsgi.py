"""The hello world as an RSGI application (granian's native interface), for the
HTTP benchmark's comparison of native interfaces: the same response as
hello_asgi.py."""

from __future__ import annotations

from typing import Any

BODY = b"Hello, world!"
HEADERS = [("content-type", "text/plain")]


class App:
    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        protocol.response_bytes(200, HEADERS, BODY)

    def __rsgi_init__(self, loop: Any) -> None:
        pass

    def __rsgi_del__(self, loop: Any) -> None:
        pass


app = App()
