"""The WebSocket benchmark's application (benchmarks/websocket.py), ASGI, served the
same by Pyre, uvicorn and granian.

``/echo`` sends every message back as it came. ``/broadcast`` keeps every open
connection in a list; a message any of them sends goes to all of them, the sender
last (so when the sender has its copy, every other copy was handed to the server).
Any HTTP request gets ``200 ok``, which is how the runner knows the server is up.
"""

from __future__ import annotations

from typing import Any

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
_BODY = {"type": "http.response.body", "body": b"ok"}
_ACCEPT = {"type": "websocket.accept"}

# The /broadcast connections' send callables, in order of arrival (one process).
subscribers: list[Any] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "websocket":
        await receive()  # websocket.connect
        await send(_ACCEPT)
        if scope["path"] == "/broadcast":
            await broadcast(receive, send)
        else:
            await echo(receive, send)
    elif kind == "http":
        await send(_START)
        await send(_BODY)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def echo(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def broadcast(receive: Any, send: Any) -> None:
    subscribers.append(send)
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            if message.get("text") is not None:
                out = {"type": "websocket.send", "text": message["text"]}
            else:
                out = {"type": "websocket.send", "bytes": message["bytes"]}
            for other in list(subscribers):
                if other is not send:
                    try:
                        await other(out)
                    except Exception:  # that subscriber is gone: its own task cleans up
                        pass
            await send(out)
    finally:
        subscribers.remove(send)
