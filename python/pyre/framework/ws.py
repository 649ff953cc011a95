"""``WebSocket``: one WebSocket connection as a ``@websocket`` endpoint sees it, on PSGI
(Pyre) or ASGI (uvicorn, granian...).

How it works: like a ``Request``, the connection reads its path, headers, query and
cookies from a *source*; a WebSocket source adds the moves of the protocol on its
interface (``PsgiWebSocketSource``: ``responder.accept_websocket()`` and the native
WebSocket object; ``AsgiWebSocketSource``: the ``websocket.*`` messages). The
connection is a small state machine that makes misuse an error instead of a protocol
violation::

    CONNECTING --accept()--> CONNECTED --close() / peer closes--> CLOSED
    CONNECTING --deny() / close()--> CLOSED   (an HTTP response, no WebSocket)

A message that is not of the kind the endpoint asked for (``receive_text()`` getting
binary data) closes the connection with 1003 (unsupported data), as RFC 6455 7.4.1
says, and raises ``WebSocketDisconnect``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from pyre.framework.request import Headers, HTTPConnection

if TYPE_CHECKING:
    from pyre.framework.app import App

HeaderList = Sequence[tuple[str, str]] | Mapping[str, str]


class WebSocketDisconnect(Exception):
    """The connection is closed: raised by ``receive*()`` when the peer closed (or
    left), and by ``send*()`` when the peer is gone. ``code`` is the close code (1005
    when the close frame carried none, 1006 when the connection dropped without
    one), ``reason`` the close reason."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class WebSocketState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class WebSocket(HTTPConnection):
    """A WebSocket connection: the upgrade request's data (``path``, ``headers``,
    ``query``, ``cookies``, ``path_params``, ``client``, ``state``, ``session``), and
    the conversation (``accept``, ``receive*``, ``send*``, ``close``, ``async
    for``)."""

    scheme = "ws"

    def __init__(self, source: Any, app: App, path_params: dict[str, Any]) -> None:
        super().__init__(source, app, path_params)
        self.connection_state = WebSocketState.CONNECTING
        #: The subprotocol accepted, once ``accept(subprotocol=...)`` chose one.
        self.subprotocol: str | None = None
        #: The close code and reason, once the connection is closed (by either side).
        self.close_code: int | None = None
        self.close_reason: str = ""

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered (``Sec-WebSocket-Protocol``), in its
        order of preference."""
        return self._source.subprotocols

    # -- opening ----------------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None, headers: HeaderList = ()) -> None:
        """Completes the opening handshake (101), with ``subprotocol`` (one the client
        offered) and extra response ``headers``."""
        if self.connection_state is not WebSocketState.CONNECTING:
            raise RuntimeError(f"accept() on a {self.connection_state.value} WebSocket")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered: {self.subprotocols}")
        fields = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        await self._source.accept(subprotocol, fields)
        self.subprotocol = subprotocol
        self.connection_state = WebSocketState.CONNECTED

    async def deny(
        self, status: int = 403, body: str | bytes = b"", headers: HeaderList = ()
    ) -> None:
        """Refuses the connection with an ordinary HTTP response instead of the 101.
        On an ASGI server without the ``websocket.http.response`` extension the
        client gets the server's own 403."""
        if self.connection_state is not WebSocketState.CONNECTING:
            raise RuntimeError(f"deny() on a {self.connection_state.value} WebSocket")
        fields = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        payload = body.encode() if isinstance(body, str) else body
        if isinstance(body, str) and not any(k.lower() == "content-type" for k, _ in fields):
            fields.append(("content-type", "text/plain; charset=utf-8"))
        self.connection_state = WebSocketState.CLOSED
        await self._source.deny(status, fields, payload)

    # -- receiving --------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for a text message, ``bytes`` for a binary one.
        Raises ``WebSocketDisconnect`` once the peer closed."""
        if self.connection_state is WebSocketState.CONNECTING:
            raise RuntimeError("receive() before accept()")
        if self.connection_state is WebSocketState.CLOSED:
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        try:
            return await self._source.receive()
        except WebSocketDisconnect as exc:
            self._closed(exc.code, exc.reason)
            raise

    async def receive_text(self) -> str:
        message = await self.receive()
        if not isinstance(message, str):
            await self._unsupported("a binary message where text was expected")
        return message  # type: ignore[return-value]

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        if not isinstance(message, bytes):
            await self._unsupported("a text message where binary was expected")
        return message  # type: ignore[return-value]

    async def receive_json(self) -> Any:
        """The next message (text or binary) parsed as JSON; invalid JSON raises
        ``ValueError`` (an endpoint that lets it escape closes with 1011)."""
        return orjson.loads(await self.receive())

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """``async for message in ws``: every message until the peer closes."""
        return self._iterate(self.receive)

    def iter_text(self) -> AsyncIterator[str]:
        return self._iterate(self.receive_text)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        return self._iterate(self.receive_bytes)

    def iter_json(self) -> AsyncIterator[Any]:
        return self._iterate(self.receive_json)

    async def _iterate(self, receive: Any) -> AsyncIterator[Any]:
        try:
            while True:
                yield await receive()
        except WebSocketDisconnect:
            return

    # -- sending ----------------------------------------------------------------------

    async def send_text(self, data: str) -> None:
        await self._send(str(data))

    async def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        await self._send(bytes(data))

    async def send_json(self, data: Any, *, binary: bool = False) -> None:
        """``data`` as JSON (orjson), in a text message (a binary one with
        ``binary=True``)."""
        encoded = orjson.dumps(data)
        await self._send(encoded if binary else encoded.decode())

    async def send(self, data: str | bytes) -> None:
        """A text message for ``str``, a binary one for ``bytes``."""
        await self._send(data)

    async def _send(self, data: str | bytes) -> None:
        if self.connection_state is WebSocketState.CONNECTING:
            raise RuntimeError("send before accept()")
        if self.connection_state is WebSocketState.CLOSED:
            if self.close_code is not None:
                raise WebSocketDisconnect(self.close_code, self.close_reason)
            raise RuntimeError("send after close()")
        try:
            await self._source.send(data)
        except WebSocketDisconnect as exc:
            self._closed(exc.code, exc.reason)
            raise

    # -- closing ----------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closes the connection with ``code`` and ``reason``; before ``accept()`` it
        refuses the connection with a 403 instead. Closing twice does nothing."""
        if self.connection_state is WebSocketState.CONNECTING:
            await self.deny(403)
            return
        if self.connection_state is WebSocketState.CLOSED:
            return
        self._closed(code, reason)
        await self._source.close(code, reason)

    def _closed(self, code: int, reason: str) -> None:
        self.connection_state = WebSocketState.CLOSED
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason

    async def _unsupported(self, what: str) -> None:
        await self.close(1003, f"unsupported data: {what}")
        raise WebSocketDisconnect(1003, what)

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self.connection_state.value}>"


def _latin1(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in fields]


class PsgiWebSocketSource:
    """A WebSocket arriving over PSGI (Pyre): ``request.websocket`` is true, the
    handshake is completed by ``responder.accept_websocket()``, and the native
    WebSocket object it returns sends and receives (see docs/psgi.md)."""

    method = "GET"

    def __init__(self, request: Any, responder: Any) -> None:
        from pyre import psgi

        self.native = request
        self.responder = responder
        self.path = request.path
        self.socket: Any = None
        self._disconnect = getattr(psgi, "WebSocketDisconnect", WebSocketDisconnect)

    query_string = property(lambda self: self.native.query_string)
    headers = property(lambda self: self.native.headers)
    client = property(lambda self: self.native.client)
    server = property(lambda self: self.native.server)

    @property
    def subprotocols(self) -> list[str]:
        return list(getattr(self.native, "websocket_subprotocols", ()))

    async def accept(self, subprotocol: str | None, headers: list[tuple[str, str]]) -> None:
        self.socket = await self.responder.accept_websocket(
            subprotocol=subprotocol, headers=headers
        )

    async def deny(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.responder.respond(status, headers, body)

    async def receive(self) -> str | bytes:
        try:
            return await self.socket.receive()
        except self._disconnect as exc:
            raise WebSocketDisconnect(exc.code, exc.reason or "") from None

    async def send(self, data: str | bytes) -> None:
        try:
            if isinstance(data, str):
                await self.socket.send_text(data)
            else:
                await self.socket.send_bytes(data)
        except self._disconnect as exc:
            raise WebSocketDisconnect(exc.code, exc.reason or "") from None
        except OSError:
            raise WebSocketDisconnect(1006) from None

    async def close(self, code: int, reason: str) -> None:
        await self.socket.close(code, reason)


class AsgiWebSocketSource:
    """A WebSocket arriving over ASGI (scope type ``"websocket"``): the handshake and
    the conversation are the ``websocket.*`` messages of the ASGI WebSocket spec; a
    denial uses the ``websocket.http.response`` extension when the server has it."""

    method = "GET"

    def __init__(self, scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.path = scope["path"]
        self._headers: Headers | None = None

    query_string = property(lambda self: self.scope.get("query_string", b""))
    client = property(lambda self: self.scope.get("client"))
    server = property(lambda self: self.scope.get("server"))

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def subprotocols(self) -> list[str]:
        return list(self.scope.get("subprotocols", ()))

    async def connect(self) -> None:
        """Takes the ``websocket.connect`` message every connection starts with."""
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1006), message.get("reason") or "")

    async def accept(self, subprotocol: str | None, headers: list[tuple[str, str]]) -> None:
        await self._send(
            {"type": "websocket.accept", "subprotocol": subprotocol, "headers": _latin1(headers)}
        )

    async def deny(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if "websocket.http.response" not in self.scope.get("extensions", {}):
            await self._send({"type": "websocket.close", "code": 1000})
            return
        await self._send(
            {"type": "websocket.http.response.start", "status": status, "headers": _latin1(headers)}
        )
        await self._send({"type": "websocket.http.response.body", "body": body})

    async def receive(self) -> str | bytes:
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1005), message.get("reason") or "")
        if kind != "websocket.receive":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def send(self, data: str | bytes) -> None:
        key = "text" if isinstance(data, str) else "bytes"
        try:
            await self._send({"type": "websocket.send", key: data})
        except OSError:  # uvicorn's ClientDisconnected: the peer is gone
            raise WebSocketDisconnect(1006) from None

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            pass
