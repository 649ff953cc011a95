"""A PSGI application for the WebSocket tests (tests/test_websocket_psgi.py).

Calls are recorded to the file named by ``PYRE_TEST_CALLS``. Routes (by path):

    /echo           accept (subprotocol "chat" when offered, header x-accepted: yes),
                    echo messages with ``async for`` until the client closes
    /info           accept, send request.websocket and its subprotocols as JSON
    /deny           answer the upgrade with responder.respond(401)
    /receive        accept, receive until WebSocketDisconnect, record its code
    /close          accept, send "bye", close 4001 "done", then try to send
    /return         accept and return (close 1000)
    /raise          accept, then raise (close 1011)
    /flood          accept, send 64 KiB messages, recording the bytes sent
Plain HTTP requests: accept_websocket() must raise RuntimeError; answered 200.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pyre.psgi import WebSocketDisconnect


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


async def app(request: Any, responder: Any) -> None:
    path = request.path
    if not request.websocket:
        try:
            await responder.accept_websocket()
        except RuntimeError as exc:
            record(f"http {path} accept_websocket raised {type(exc).__name__}")
        responder.respond(200, [("content-type", "text/plain")], b"plain http")
        return
    record(f"connect {path}")
    if path == "/deny":
        responder.respond(401, [("content-type", "text/plain")], b"go away")
        return
    subprotocol = "chat" if "chat" in request.websocket_subprotocols else None
    ws = await responder.accept_websocket(subprotocol, [("x-accepted", "yes")])
    assert ws.close_code is None
    if path == "/info":
        info = {
            "websocket": request.websocket,
            "subprotocols": request.websocket_subprotocols,
            "subprotocol": ws.subprotocol,
        }
        await ws.send_text(json.dumps(info))
        await ws.close()
        return
    if path == "/receive":
        try:
            while True:
                message = await ws.receive()
                await (
                    ws.send_text(message) if isinstance(message, str) else ws.send_bytes(message)
                )
        except WebSocketDisconnect as exc:
            record(f"disconnect {exc.code} {exc.reason}".rstrip())
            record(f"close_code {ws.close_code}")
        return
    if path == "/close":
        await ws.send_text("bye")
        await ws.close(4001, "done")
        record(f"close_code {ws.close_code}")
        try:
            await ws.send_text("too late")
        except WebSocketDisconnect as exc:
            record(f"send-after-close {type(exc).__name__} {isinstance(exc, OSError)}")
        return
    if path == "/return":
        return
    if path == "/raise":
        raise RuntimeError("failing an open PSGI WebSocket")
    if path == "/flood":
        piece = memoryview(b"x" * 65536)
        sent = 0
        try:
            while sent < 64 << 20:
                await ws.send_bytes(piece)
                sent += len(piece)
                record(f"sent {sent}")
        except OSError:
            record("flood ended by the client")
        return
    async for message in ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(bytearray(message))
    record(f"iteration ended {ws.close_code}")
