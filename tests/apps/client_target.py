"""An ASGI application for the client tests (tests/test_client.py), served by Pyre
and by uvicorn. Routes:

    /hello              200 "hello" (Content-Length)
    /echo               the request: method, target, headers and body, as JSON
    /bytes?n=N          N bytes of b"x" with a Content-Length
    /chunked?n=N        N pieces b"piece i\\n" without Content-Length (chunked)
    /gzip, /deflate     a text body with that Content-Encoding
    /redirect?to=U&status=S   a redirect to U (default /hello, 302)
    /loop               a redirect to itself
    /status/N           status N, empty body
    /slow?t=S           answers after S seconds
    /connection         the client's address and port (one per connection)
anything else: 404.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import Any
from urllib.parse import parse_qs

TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 200


async def respond(send: Any, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if path == "/hello":
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"5")]
        await respond(send, 200, b"hello", headers)
    elif path == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        result = {
            "method": scope["method"],
            "target": target,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
            "body": body.decode("latin-1"),
            "length": len(body),
        }
        await respond(
            send, 200, json.dumps(result).encode(), [(b"content-type", b"application/json")]
        )
    elif path == "/bytes":
        n = int(query.get("n", "0"))
        await respond(send, 200, b"x" * n, [(b"content-length", str(n).encode())])
    elif path == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(int(query.get("n", "3"))):
            await send({"type": "http.response.body", "body": b"piece %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/gzip":
        await respond(send, 200, gzip.compress(TEXT), [(b"content-encoding", b"gzip")])
    elif path == "/deflate":
        await respond(send, 200, zlib.compress(TEXT), [(b"content-encoding", b"deflate")])
    elif path == "/redirect":
        status = int(query.get("status", "302"))
        location = query.get("to", "/hello").encode()
        await respond(send, status, b"", [(b"location", location)])
    elif path == "/loop":
        await respond(send, 302, b"", [(b"location", b"/loop")])
    elif path.startswith("/status/"):
        await respond(send, int(path.rsplit("/", 1)[1]), b"")
    elif path == "/slow":
        await asyncio.sleep(float(query.get("t", "1")))
        await respond(send, 200, b"slow")
    elif path == "/connection":
        host, port = scope["client"]
        await respond(send, 200, f"{host}:{port}".encode())
    else:
        await respond(send, 404, b"not found")
