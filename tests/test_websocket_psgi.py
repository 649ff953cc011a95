"""WebSocket over PSGI (tests/apps/ws_psgi.py, docs/psgi.md "WebSocket"):
``request.websocket``, ``responder.accept_websocket()``, the ``WebSocket`` object
(receive, send_text/send_bytes, close, ``async for``, ``close_code``), denial with an
ordinary response, the ends of a handler, backpressure and shutdown."""

from __future__ import annotations

import json
import signal
import struct
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.support import ServerProcess, connect, serve, wait_for
from tests.test_websocket_asgi import (
    CLOSE,
    TEXT,
    MiB,
    calls_with,
    closed_by_peer,
    exchange_upgrade,
    frame,
    open_raw,
    read_close,
    read_frame,
    read_head,
    upgrade_request,
    url,
)

APP = "tests.apps.ws_psgi:app"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve(APP, "--interface", "psgi", tmp=tmp_path_factory.mktemp("ws-psgi")) as process:
        yield process


def test_echo(server: ServerProcess) -> None:
    with ws_connect(url(server, "/echo"), subprotocols=["chat"], open_timeout=5) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["x-accepted"] == "yes"
        ws.send("text ✓")
        assert ws.recv(timeout=5) == "text ✓"
        ws.send(b"\x00bytes")
        assert ws.recv(timeout=5) == b"\x00bytes"
        ws.close(4005, "leaving")
    wait_for(lambda: "iteration ended 4005" in server.calls())


def test_request_attributes(server: ServerProcess) -> None:
    with ws_connect(url(server, "/info"), subprotocols=["x", "chat"], open_timeout=5) as ws:
        info = json.loads(ws.recv(timeout=5))
    assert info == {"websocket": True, "subprotocols": ["x", "chat"], "subprotocol": "chat"}


def test_plain_request(server: ServerProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /plain HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _, _ = read_head(sock)
    assert status == 200
    wait_for(lambda: "http /plain accept_websocket raised RuntimeError" in server.calls())


def test_denial_with_respond(server: ServerProcess) -> None:
    status, fields, body = exchange_upgrade(server.port, upgrade_request("/deny"))
    assert status == 401
    assert body == b"go away"
    assert fields["connection"] == "close"


def test_invalid_upgrade_is_refused_without_calling_the_app(server: ServerProcess) -> None:
    status, fields, _ = exchange_upgrade(server.port, upgrade_request("/never", ws_version="8"))
    assert (status, fields["sec-websocket-version"]) == (426, "13")
    assert not calls_with(server, "connect /never")


def test_receive_raises_disconnect_with_the_close_code(server: ServerProcess) -> None:
    with open_raw(server.port, "/receive") as sock:
        sock.sendall(frame(TEXT, b"one"))
        assert read_frame(sock) == (True, TEXT, b"one")
        sock.sendall(frame(CLOSE, struct.pack("!H", 4002) + b"why"))
        assert read_close(sock) == (4002, "")
        assert closed_by_peer(sock)
    wait_for(lambda: "disconnect 4002 why" in server.calls())
    assert "close_code 4002" in server.calls()


def test_dropped_connection_is_1006(server: ServerProcess) -> None:
    before = len(calls_with(server, "disconnect 1006"))
    sock = open_raw(server.port, "/receive")
    sock.close()
    wait_for(lambda: len(calls_with(server, "disconnect 1006")) > before)


def test_close_from_the_handler(server: ServerProcess) -> None:
    with ws_connect(url(server, "/close"), open_timeout=5) as ws:
        assert ws.recv(timeout=5) == "bye"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "done")
    wait_for(lambda: "send-after-close WebSocketDisconnect True" in server.calls())
    assert "close_code 4001" in server.calls()


@pytest.mark.parametrize(("path", "code"), [("/return", 1000), ("/raise", 1011)])
def test_handler_end_closes(server: ServerProcess, path: str, code: int) -> None:
    with open_raw(server.port, path) as sock:
        assert read_close(sock)[0] == code
        sock.sendall(frame(CLOSE, struct.pack("!H", code)))
        assert closed_by_peer(sock)
    if code == 1011:
        server.wait_for_log("failing an open PSGI WebSocket")


def test_send_waits_under_backpressure(server: ServerProcess) -> None:
    def last_sent() -> int:
        sent = calls_with(server, "sent ")
        return int(sent[-1].split()[1]) if sent else 0

    def stable() -> int:
        """The bytes sent, once they stopped growing for a second (else 0)."""
        first = last_sent()
        time.sleep(1.0)
        return first if first and last_sent() == first else 0

    with open_raw(server.port, "/flood") as sock:
        stalled = wait_for(stable, timeout=15)
        assert stalled < 32 * MiB
        received = 0
        sock.settimeout(10)
        while received < 40 * MiB:
            piece = sock.recv(1 << 20)
            assert piece
            received += len(piece)
        assert last_sent() > stalled


def test_shutdown_closes_with_1001(tmp_path) -> None:
    with serve(APP, "--interface", "psgi", tmp=tmp_path) as server:
        with ws_connect(url(server, "/echo"), open_timeout=5) as ws:
            ws.send("hi")
            assert ws.recv(timeout=5) == "hi"
            server.process.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert server.stop() == 0
    assert "iteration ended 1001" in server.calls()
