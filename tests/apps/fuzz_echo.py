"""The application behind tests/test_socket_fuzz.py, in ASGI (``app``) and PSGI
(``handler``): it reads the whole body and answers 200 with an empty body and what it
saw (method, raw path, query string, body) as JSON in an ``x-seen`` header.

The record travels in a header so that every answer, HEAD included, has the same
shape on the wire (``Content-Length: 0``), and JSON's ASCII escapes keep any byte of
the request out of the response's framing.
"""

from __future__ import annotations

import json
from typing import Any


def seen(method: str, raw_path: bytes, query: bytes, body: bytes) -> bytes:
    record = {
        "method": method,
        "path": raw_path.decode("latin-1"),
        "query": query.decode("latin-1"),
        "body": body.decode("latin-1"),
    }
    return json.dumps(record).encode()  # ensure_ascii: control bytes become \u00XX


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].replace("lifespan.", "")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    record = seen(scope["method"], scope["raw_path"], scope["query_string"], body)
    headers = [(b"x-seen", record), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def handler(request: Any, responder: Any) -> None:
    body = await request.body()
    record = seen(request.method, request.raw_path, request.query_string, body)
    responder.respond(200, [("x-seen", record)], b"")
