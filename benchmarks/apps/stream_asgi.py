"""The ASGI application every server runs in the streaming benchmark
(benchmarks/stream.py). Routes:

    /                 ``Hello, world!`` (the idle keep-alive connections' one request)
    /file             the file named by ``BENCH_FILE``, by ``http.response.pathsend``
                      when the server offers it, else read and sent in 256 KiB pieces
    /upload           reads the whole request body and answers its size
    /generate?total=N streams N bytes in 64 KiB pieces, as fast as the server lets it
    /slow-upload      reads the body slowly (10 ms pause after each message)
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

PIECE = bytes(range(256)) * 256  # 64 KiB
HELLO = b"Hello, world!"


async def _respond(send: Any, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any, pause: float = 0.0) -> int:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return size
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            return size
        if pause:
            await asyncio.sleep(pause)


async def _send_file(scope: dict[str, Any], send: Any) -> None:
    path = os.environ["BENCH_FILE"]
    size = os.path.getsize(path)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(size).encode()),
            ],
        }
    )
    if "http.response.pathsend" in scope.get("extensions", {}):
        await send({"type": "http.response.pathsend", "path": path})
        return
    with open(path, "rb") as f:
        while piece := f.read(256 * 1024):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/file":
        await _send_file(scope, send)
    elif path == "/upload":
        size = await _read_body(receive)
        await _respond(send, str(size).encode())
    elif path == "/slow-upload":
        size = await _read_body(receive, pause=0.01)
        await _respond(send, str(size).encode())
    elif path == "/generate":
        total = int(scope["query_string"].decode().partition("=")[2] or 0)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        sent = 0
        while sent < total:
            piece = PIECE[: min(len(PIECE), total - sent)]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent += len(piece)
        await send({"type": "http.response.body", "body": b""})
    else:
        await _respond(send, HELLO)
