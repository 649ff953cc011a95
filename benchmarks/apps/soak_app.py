"""The ASGI application benchmarks/soak.py serves. Routes:

/small            ``ok`` with a Content-Length
/download?total=N N bytes streamed in 16 KiB pieces (chunked: no Content-Length)
/upload           reads the request body as it arrives and answers its size
/slow?ms=M        answers ``ok`` after M milliseconds (requests stay in flight)
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

PIECE = bytes(range(256)) * 64  # 16 KiB


async def _text(send: Any, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].replace("lifespan.", "")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    path = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if path == "/download":
        total = int(query.get("total", "65536"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        sent = 0
        while sent < total:
            piece = PIECE[: min(len(PIECE), total - sent)]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent += len(piece)
        await send({"type": "http.response.body", "body": b""})
    elif path == "/upload":
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await _text(send, str(size).encode())
    elif path == "/slow":
        await asyncio.sleep(int(query.get("ms", "10")) / 1000)
        await _text(send, b"ok")
    else:
        await _text(send, b"ok")
