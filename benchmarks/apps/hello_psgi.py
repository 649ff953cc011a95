"""The hello world as a PSGI application, for Pyre's native interface in the HTTP
benchmark: the same response as hello_asgi.py (``200``, ``content-type:
text/plain``, ``Hello, world!``)."""

from __future__ import annotations

from typing import Any

BODY = b"Hello, world!"
HEADERS = [(b"content-type", b"text/plain")]


class App:
    async def __psgi__(self, request: Any, responder: Any) -> None:
        responder.respond(200, HEADERS, BODY)


app = App()
