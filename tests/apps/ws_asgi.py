"""An ASGI application for the WebSocket tests (tests/test_websocket_asgi.py).

Each call is recorded to the file named by ``PYRE_TEST_CALLS`` ("connect /path",
"disconnect CODE REASON", "sent N"...), so a test can tell whether the application
ran and what it saw. Routes (by path):

    /echo           accept (subprotocol "chat" when offered, header x-accepted: yes),
                    echo text and bytes until the client closes
    /scope          accept, send the scope as JSON
    /deny           websocket.close before accept (403)
    /deny-http      websocket.http.response.start 401 + body (a denial response)
    /ignore         return without accepting (403)
    /close          accept, send "bye", close with 4001 "done", then receive
    /return         accept and return (close 1000)
    /raise-before   raise before accepting (500)
    /raise-after    accept, then raise (close 1011)
    /flood          accept, send 64 KiB binary messages (``?mib=N``, default 64 MiB),
                    recording the bytes sent after each send
    /idle           accept, then sleep without ever receiving (cancelled at shutdown)
    /misuse         accept, try a send with both bytes and text, a second accept and
                    a close with the reserved code 1006 (recording the errors), then echo
Plain HTTP requests get 200 "plain http".
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import parse_qs


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        record(f"http {scope['path']}")
        body = b"plain http"
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    path = scope["path"]
    record(f"connect {path} {scope['query_string'].decode()}".rstrip())
    first = await receive()
    assert first["type"] == "websocket.connect", first
    query = parse_qs(scope["query_string"].decode())
    if path == "/deny":
        await send({"type": "websocket.close"})
        return
    if path == "/deny-http":
        start = {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"7")],
        }
        await send(start)
        await send({"type": "websocket.http.response.body", "body": b"go away"})
        return
    if path == "/ignore":
        return
    if path == "/raise-before":
        raise RuntimeError("refusing by raising")
    subprotocol = "chat" if "chat" in scope["subprotocols"] else None
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": subprotocol,
            "headers": [(b"x-accepted", b"yes")],
        }
    )
    if path == "/scope":
        shown = {k: v for k, v in scope.items() if k not in ("state",)}
        await send({"type": "websocket.send", "text": json.dumps(shown, default=_latin1)})
    elif path == "/close":
        await send({"type": "websocket.send", "text": "bye"})
        await send({"type": "websocket.close", "code": 4001, "reason": "done"})
        message = await receive()
        record(f"after-close {message['type']} {message.get('code')}")
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as exc:
            record(f"send-after-close {type(exc).__name__}")
        return
    elif path == "/return":
        return
    elif path == "/raise-after":
        raise RuntimeError("failing an open WebSocket")
    elif path == "/flood":
        total = int(query.get("mib", ["64"])[0]) << 20
        piece = b"x" * 65536
        sent = 0
        try:
            while sent < total:
                await send({"type": "websocket.send", "bytes": piece})
                sent += len(piece)
                record(f"sent {sent}")
        except OSError:
            record("flood ended by the client")
        return
    elif path == "/idle":
        await asyncio.sleep(3600)
        return
    elif path == "/misuse":
        try:
            await send({"type": "websocket.send", "text": "a", "bytes": b"b"})
        except ValueError as exc:
            record(f"misuse {type(exc).__name__}")
        try:
            await send({"type": "websocket.accept"})
        except RuntimeError as exc:
            record(f"misuse {type(exc).__name__}")
        try:
            await send({"type": "websocket.close", "code": 1006})
        except ValueError as exc:
            record(f"misuse close code: {exc}")
        await send({"type": "websocket.send", "text": "checked"})
    await _echo(receive, send)


async def _echo(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            record(f"disconnect {message['code']} {message.get('reason', '')}".rstrip())
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def _latin1(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    raise TypeError(f"not JSON: {value!r}")
