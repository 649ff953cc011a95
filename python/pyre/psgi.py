"""PSGI, Pyre's native interface: an application is ``async def app(request,
responder)`` (or an object with such a ``__psgi__`` method), and the objects it gets
speak HTTP directly, backed by Rust. The specification is docs/psgi.md.

    async def app(request: Request, responder: Responder) -> None:
        name = request.headers.get("x-name", "world")
        responder.respond(200, [("content-type", "text/plain")], f"Hello, {name}!")

Serve it with ``pyre-http module:app --interface psgi`` (``--interface auto``, the
default, picks PSGI for objects with ``__psgi__``).
"""

from __future__ import annotations

from pyre._core import (
    BodyStream,
    ClientDisconnected,
    Headers,
    ProtocolError,
    Request,
    Responder,
    ResponseStream,
    WebSocket,
    WebSocketDisconnect,
)

__all__ = [
    "PSGI_VERSION",
    "BodyStream",
    "ClientDisconnected",
    "Headers",
    "ProtocolError",
    "Request",
    "Responder",
    "ResponseStream",
    "WebSocket",
    "WebSocketDisconnect",
]

#: The version of the specification (docs/psgi.md) this server implements.
PSGI_VERSION = "1.1"
