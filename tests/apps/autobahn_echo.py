"""Echo servers for the Autobahn|Testsuite cases (tests/test_autobahn.py, `make
autobahn`): every message goes back as it came, text as text, binary as binary.
``app`` is ASGI (any server), ``psgi_app`` is PSGI (Pyre's native interface)."""

from __future__ import annotations

from typing import Any

from pyre.psgi import Request, Responder


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        else:  # websocket.disconnect
            return


async def psgi_app(request: Request, responder: Responder) -> None:
    if not getattr(request, "websocket", False):
        responder.respond(426, [("upgrade", "websocket")], b"WebSocket only")
        return
    ws = await responder.accept_websocket()  # type: ignore[attr-defined]
    async for message in ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)
