"""The example application `make serve` runs: a small ASGI app.

    GET  /       plain text
    POST /echo   the JSON body sent, echoed back as JSON

Run it with ``pyre-http examples.hello:app`` (or ``make serve``) and try::

    curl http://127.0.0.1:8000/
    curl -d '{"name": "pyre"}' http://127.0.0.1:8000/echo
"""

from __future__ import annotations

import json
from typing import Any


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/" and scope["method"] in ("GET", "HEAD"):
        await respond(send, 200, b"text/plain; charset=utf-8", b"Hello from Pyre!\n")
    elif scope["path"] == "/echo" and scope["method"] == "POST":
        body = await read_body(receive)
        try:
            data = json.loads(body or b"null")
        except ValueError:
            await respond(send, 400, b"text/plain; charset=utf-8", b"body is not JSON\n")
            return
        await respond(send, 200, b"application/json", json.dumps({"echo": data}).encode())
    else:
        await respond(send, 404, b"text/plain; charset=utf-8", b"Not Found\n")
