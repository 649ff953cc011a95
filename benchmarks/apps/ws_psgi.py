"""The WebSocket benchmark's application on PSGI, Pyre's native interface: the same
``/echo`` and ``/broadcast`` as ws_asgi.py, and ``200 ok`` to any HTTP request."""

from __future__ import annotations

from typing import Any

HEADERS = [(b"content-type", b"text/plain")]

# The /broadcast connections, in order of arrival.
subscribers: list[Any] = []


class App:
    async def __psgi__(self, request: Any, responder: Any) -> None:
        if not getattr(request, "websocket", False):
            responder.respond(200, HEADERS, b"ok")
            return
        ws = await responder.accept_websocket()
        if request.path == "/broadcast":
            await broadcast(ws)
        else:
            async for message in ws:
                if isinstance(message, str):
                    await ws.send_text(message)
                else:
                    await ws.send_bytes(message)


async def broadcast(ws: Any) -> None:
    subscribers.append(ws)
    try:
        async for message in ws:
            text = isinstance(message, str)
            for other in list(subscribers):
                if other is not ws:
                    try:
                        await (other.send_text(message) if text else other.send_bytes(message))
                    except Exception:  # that subscriber is gone: its own task cleans up
                        pass
            await (ws.send_text(message) if text else ws.send_bytes(message))
    finally:
        subscribers.remove(ws)


app = App()
