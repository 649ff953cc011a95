"""The hello-world ASGI application every server runs in the HTTP benchmark.

The same object is served by Pyre, uvicorn and granian, so the measured difference is
the servers' own per-request cost. It answers lifespan startup/shutdown, and every
HTTP request with ``200``, ``content-type: text/plain`` and ``Hello, world!``.
"""

from __future__ import annotations

from typing import Any

BODY = b"Hello, world!"

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
_BODY = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "http":
        await send(_START)
        await send(_BODY)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
