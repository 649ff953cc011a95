"""The TLS tests' application (ASGI): what the scope says about the connection, an
echo that streams the body back, a streamed download of ``?n=`` bytes, a file sent
with ``http.response.pathsend`` (``?path=``), an upload counter, and a WebSocket echo.
A PSGI twin, ``psgi_app``, answers ``/scope`` from ``request.scheme`` and
``request.tls``."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs

CHUNK = 64 * 1024


def _query(scope: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}


async def _send_json(send: Any, value: Any) -> None:
    body = json.dumps(value).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["scheme"]})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text") or ""})
    path = scope["path"]
    query = _query(scope)
    if path == "/scope":
        tls = scope["extensions"].get("tls")
        await _send_json(send, {"scheme": scope["scheme"], "tls": tls})
    elif path == "/echo":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            await send(
                {"type": "http.response.body", "body": message.get("body", b""), "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})
    elif path == "/upload":
        digest = hashlib.sha256()
        count = 0
        more = True
        while more:
            message = await receive()
            body = message.get("body", b"")
            count += len(body)
            digest.update(body)
            more = message.get("more_body", False)
        await _send_json(send, {"bytes": count, "sha256": digest.hexdigest()})
    elif path == "/download":
        total = int(query["n"])
        headers = [(b"content-length", str(total).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        piece = b"x" * CHUNK
        sent = 0
        while sent < total:
            part = piece[: min(CHUNK, total - sent)]
            sent += len(part)
            await send({"type": "http.response.body", "body": part, "more_body": sent < total})
    elif path == "/file":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": query["path"]})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def psgi_app(request: Any, responder: Any) -> None:
    body = json.dumps({"scheme": request.scheme, "tls": request.tls}).encode()
    responder.respond(200, [("content-type", "application/json")], body)
