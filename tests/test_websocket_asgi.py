"""WebSocket over ASGI (tests/apps/ws_asgi.py): the opening handshake and its
refusals (raw sockets), messages, fragments, ping/pong, both closing directions,
protocol errors with their close codes, permessage-deflate, backpressure both ways,
disconnects, graceful shutdown, the ping timeout and descriptor hygiene.

The good paths use the ``websockets`` package's client, an independent
implementation; the raw helpers below speak frames byte by byte where a test needs to
misbehave or look at exact bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.support import ServerProcess, connect, send_until_blocked, serve, wait_for

APP = "tests.apps.ws_asgi:app"
KEY = base64.b64encode(b"0123456789abcdef").decode()
ACCEPT = base64.b64encode(
    hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
).decode()
MiB = 1 << 20

# Opcodes (RFC 6455 section 5.2).
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# /idle never returns by itself: the shutdown at the end of the module cancels it.
QUICK_STOP = ("--timeout-graceful-shutdown", "2")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve(APP, *QUICK_STOP, tmp=tmp_path_factory.mktemp("ws")) as process:
        yield process


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Small limits: 1 KiB messages, pings every second answered within a second,
    no compression, and one-second HTTP timeouts (which must not touch a WebSocket)."""
    args = ("--ws-max-size", "1024", "--ws-ping-interval", "1", "--ws-ping-timeout", "1")
    args += ("--no-ws-per-message-deflate", "--timeout-keep-alive", "1", "--timeout-header", "1")
    args += QUICK_STOP
    with serve(APP, *args, tmp=tmp_path_factory.mktemp("ws-tuned")) as process:
        yield process


# -- raw protocol helpers (also used by tests/test_websocket_psgi.py) ---------------


def upgrade_request(
    path: str = "/echo",
    *,
    method: str = "GET",
    version: str = "1.1",
    key: str | None = KEY,
    ws_version: str = "13",
    connection: str = "Upgrade",
    extra: tuple[str, ...] = (),
) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", "Upgrade: websocket"]
    if connection:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    lines.append(f"Sec-WebSocket-Version: {ws_version}")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Reads a response head; returns its status, fields (lowercase names) and the
    bytes read after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed before a response head: {data!r}"
        data += piece
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), fields, rest


def exchange_upgrade(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends an upgrade request; returns the response head and everything after it
    until the server closes."""
    with connect(port) as sock:
        sock.sendall(request)
        status, fields, rest = read_head(sock)
        while piece := sock.recv(65536):
            rest += piece
        return status, fields, rest


def open_raw(
    port: int, path: str = "/echo", extra: tuple[str, ...] = (), rcvbuf: int | None = None
) -> socket.socket:
    """A socket past a successful handshake (no extension negotiated); ``rcvbuf``
    shrinks its receive buffer (set before connecting, so the window stays small)."""
    if rcvbuf is None:
        sock = connect(port)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
    sock.sendall(upgrade_request(path, extra=extra))
    # Byte by byte, so that no frame sent right behind the head is read with it.
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"closed during the handshake: {head!r}"
        head += byte
    lines = head.decode("latin-1").split("\r\n")
    fields = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    assert lines[0].split()[1] == "101", head
    assert fields["sec-websocket-accept"] == ACCEPT
    return sock


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True) -> bytes:
    """One client frame (masked unless told otherwise)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        piece = sock.recv(n - len(data))
        if not piece:
            raise EOFError(f"closed after {len(data)} of {n} bytes")
        data += piece
    return data


def read_frame(sock: socket.socket) -> tuple[bool, int, bytes]:
    """One server frame: (fin, opcode, payload). Server frames are never masked."""
    b0, b1 = recv_exact(sock, 2)
    assert not b1 & 0x80, "a server frame was masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", recv_exact(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", recv_exact(sock, 8))
    return bool(b0 & 0x80), b0 & 0x0F, recv_exact(sock, n)


def close_frame_of(payload: bytes) -> tuple[int | None, str]:
    if not payload:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


def read_close(sock: socket.socket) -> tuple[int | None, str]:
    """Reads frames until the server's close frame (skipping pings); returns its
    code and reason."""
    while True:
        _, opcode, payload = read_frame(sock)
        if opcode == CLOSE:
            return close_frame_of(payload)


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server closes the connection (EOF) within the socket timeout."""
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, TimeoutError):
        return False
    return True


def calls_with(server: ServerProcess, prefix: str) -> list[str]:
    return [c for c in server.calls() if c.startswith(prefix)]


def url(server: ServerProcess, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


# -- handshake -----------------------------------------------------------------------


def test_echo_with_the_websockets_client(server: ServerProcess) -> None:
    with ws_connect(url(server, "/echo"), subprotocols=["other", "chat"], open_timeout=5) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["x-accepted"] == "yes"
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xffbytes")
        assert ws.recv(timeout=5) == b"\x00\xffbytes"
        big = os.urandom(300_000)
        ws.send(big)
        assert ws.recv(timeout=5) == big


def test_no_subprotocol_when_none_offered(server: ServerProcess) -> None:
    with ws_connect(url(server, "/echo"), open_timeout=5) as ws:
        assert ws.subprotocol is None
        assert "sec-websocket-protocol" not in ws.response.headers


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (upgrade_request("/echo?case=nokey", key=None), 400, b"Sec-WebSocket-Key"),
        (upgrade_request("/echo?case=badkey", key="short"), 400, b"Sec-WebSocket-Key"),
        (upgrade_request("/echo?case=v12", ws_version="12"), 426, b"Version"),
        (upgrade_request("/echo?case=post", method="POST"), 400, b"GET"),
    ],
    ids=["missing-key", "bad-key", "version-12", "post"],
)
def test_invalid_upgrades_are_refused_without_calling_the_app(
    server: ServerProcess, request_bytes: bytes, status: int, reason: bytes
) -> None:
    got, fields, body = exchange_upgrade(server.port, request_bytes)
    assert got == status
    assert reason.lower() in body.lower()
    if status == 426:
        assert fields["sec-websocket-version"] == "13"
    assert fields["connection"] == "close"
    case = request_bytes.split(b" ")[1].decode().split("?")[1]
    assert not [c for c in calls_with(server, "connect") if case in c]


@pytest.mark.parametrize(
    "request_bytes",
    [
        upgrade_request("/plain10", version="1.0"),
        upgrade_request("/plain-noconn", connection=""),
        upgrade_request("/plain-keepalive", connection="keep-alive"),
    ],
    ids=["http-1.0", "no-connection", "connection-without-upgrade"],
)
def test_upgrade_field_alone_is_plain_http(server: ServerProcess, request_bytes: bytes) -> None:
    """RFC 9110 section 7.8: Upgrade counts only when Connection lists it, and never on
    HTTP/1.0; such requests are ordinary HTTP requests."""
    with connect(server.port) as sock:
        sock.sendall(request_bytes)
        status, _, _rest = read_head(sock)
    assert status == 200
    path = request_bytes.split(b" ")[1].decode()
    wait_for(lambda: f"http {path}" in server.calls())


def test_ws_none_serves_upgrades_as_http(tmp_path) -> None:
    with serve(APP, "--ws", "none", tmp=tmp_path) as server, connect(server.port) as sock:
        sock.sendall(upgrade_request("/echo"))
        status, _, _ = read_head(sock)
        assert status == 200
        assert "http /echo" in wait_for(server.calls)


def test_scope(server: ServerProcess) -> None:
    with ws_connect(url(server, "/scope?a=1"), subprotocols=["chat", "x"], open_timeout=5) as ws:
        scope = json.loads(ws.recv(timeout=5))
    assert scope["type"] == "websocket"
    assert "method" not in scope
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "a=1"
    assert scope["root_path"] == ""
    assert scope["subprotocols"] == ["chat", "x"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ["127.0.0.1", server.port]
    names = [name for name, _ in scope["headers"]]
    assert "sec-websocket-key" in names and "upgrade" in names


# -- denial --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/deny", "/ignore"])
def test_close_before_accept_or_no_answer_is_403(server: ServerProcess, path: str) -> None:
    status, fields, _body = exchange_upgrade(server.port, upgrade_request(path))
    assert status == 403
    assert "sec-websocket-accept" not in fields


def test_denial_response(server: ServerProcess) -> None:
    status, _fields, body = exchange_upgrade(server.port, upgrade_request("/deny-http"))
    assert status == 401
    assert body == b"go away"


def test_raise_before_accept_is_500(server: ServerProcess) -> None:
    status, _, _ = exchange_upgrade(server.port, upgrade_request("/raise-before"))
    assert status == 500
    server.wait_for_log("refusing by raising")


# -- frames --------------------------------------------------------------------------


def test_fragmented_message_with_a_ping_between(server: ServerProcess) -> None:
    with open_raw(server.port) as sock:
        sock.sendall(frame(TEXT, b"hel", fin=False) + frame(CONT, "lo wé".encode(), fin=False))
        sock.sendall(frame(PING, b"mid") + frame(CONT, b"rld"))
        assert read_frame(sock) == (True, PONG, b"mid")
        assert read_frame(sock) == (True, TEXT, "hello wérld".encode())
        sock.sendall(frame(BINARY, b"\x01", fin=False) + frame(CONT, b"\x02"))
        assert read_frame(sock) == (True, BINARY, b"\x01\x02")


def test_ping_gets_pong(server: ServerProcess) -> None:
    with open_raw(server.port) as sock:
        sock.sendall(frame(PING, b"payload!"))
        assert read_frame(sock) == (True, PONG, b"payload!")


# -- closing -------------------------------------------------------------------------


def test_client_close_is_echoed_and_reported(server: ServerProcess) -> None:
    with open_raw(server.port, "/echo?close=4000") as sock:
        sock.sendall(frame(TEXT, b"last"))
        assert read_frame(sock) == (True, TEXT, b"last")
        sock.sendall(frame(CLOSE, struct.pack("!H", 4000) + b"bye"))
        assert read_close(sock) == (4000, "")
        assert closed_by_peer(sock)
    wait_for(lambda: "disconnect 4000 bye" in server.calls())


def test_client_close_without_code(server: ServerProcess) -> None:
    before = len(calls_with(server, "disconnect 1005"))
    with open_raw(server.port) as sock:
        sock.sendall(frame(CLOSE))
        assert read_close(sock) == (1000, "")
        assert closed_by_peer(sock)
    wait_for(lambda: len(calls_with(server, "disconnect 1005")) > before)


def test_app_close(server: ServerProcess) -> None:
    with ws_connect(url(server, "/close"), open_timeout=5) as ws:
        assert ws.recv(timeout=5) == "bye"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "done")
    wait_for(lambda: "after-close websocket.disconnect 4001" in server.calls())
    wait_for(lambda: "send-after-close WebSocketDisconnect" in server.calls())


@pytest.mark.parametrize(("path", "code"), [("/return", 1000), ("/raise-after", 1011)])
def test_app_end_closes(server: ServerProcess, path: str, code: int) -> None:
    with open_raw(server.port, path) as sock:
        assert read_close(sock)[0] == code
        sock.sendall(frame(CLOSE, struct.pack("!H", code)))
        assert closed_by_peer(sock)


def test_misuse_raises(server: ServerProcess) -> None:
    with ws_connect(url(server, "/misuse"), open_timeout=5) as ws:
        assert ws.recv(timeout=5) == "checked"
    assert "misuse ValueError" in server.calls()
    assert "misuse RuntimeError" in server.calls()
    assert "misuse close code: 1006 is not a WebSocket close code" in " ".join(server.calls())


def test_client_drop_reports_1006(server: ServerProcess) -> None:
    before = len(calls_with(server, "disconnect 1006"))
    sock = open_raw(server.port)
    sock.sendall(frame(TEXT, b"x"))
    assert read_frame(sock) == (True, TEXT, b"x")
    sock.close()
    wait_for(lambda: len(calls_with(server, "disconnect 1006")) > before)


# -- protocol errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(TEXT, b"unmasked", mask=False), 1002),
        (frame(TEXT, b"\xff\xfe"), 1007),
        (frame(TEXT, b"ok", fin=False) + frame(TEXT, b"new message"), 1002),
        (frame(PING, b"x" * 126), 1002),
    ],
    ids=["unmasked", "invalid-utf8", "interleaved-message", "long-control"],
)
def test_protocol_errors_close_with_their_code(
    server: ServerProcess, data: bytes, code: int
) -> None:
    before = len(calls_with(server, f"disconnect {code}"))
    with open_raw(server.port) as sock:
        sock.sendall(data)
        assert read_close(sock)[0] == code
        assert closed_by_peer(sock)
    wait_for(lambda: len(calls_with(server, f"disconnect {code}")) > before)


def test_too_big_is_1009(tuned: ServerProcess) -> None:
    with open_raw(tuned.port) as sock:
        sock.sendall(frame(BINARY, b"x" * 1000))
        assert read_frame(sock) == (True, BINARY, b"x" * 1000)
        sock.sendall(frame(BINARY, b"x" * 1025))
        assert read_close(sock)[0] == 1009
        assert closed_by_peer(sock)


# -- permessage-deflate --------------------------------------------------------------


def test_permessage_deflate_round_trip(server: ServerProcess) -> None:
    with ws_connect(url(server, "/echo"), compression="deflate", open_timeout=5) as ws:
        assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
        text = "compressible " * 20_000
        ws.send(text)
        assert ws.recv(timeout=5) == text
        data = os.urandom(50_000)
        ws.send(data)
        assert ws.recv(timeout=5) == data


def test_deflate_off(tuned: ServerProcess) -> None:
    with ws_connect(url(tuned, "/echo"), compression="deflate", open_timeout=5) as ws:
        assert "sec-websocket-extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv(timeout=5) == "plain"


# -- backpressure --------------------------------------------------------------------


def last_sent(server: ServerProcess) -> int:
    sent = calls_with(server, "sent ")
    return int(sent[-1].split()[1]) if sent else 0


def test_send_waits_for_a_client_that_does_not_read(server: ServerProcess) -> None:
    with open_raw(server.port, "/flood?mib=64") as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        wait_for(lambda: last_sent(server) > 0)
        # The app stops when the kernel buffers and the out-buffer are full...
        stalled = wait_for(lambda: _stable(server), timeout=15)
        assert stalled < 32 * MiB
        # ...and goes on once the client reads.
        received = 0
        sock.settimeout(10)
        while received < 40 * MiB:
            piece = sock.recv(1 << 20)
            assert piece
            received += len(piece)
        assert last_sent(server) > stalled


def _stable(server: ServerProcess) -> int:
    """The bytes sent, once they stopped growing for a while (0 while growing)."""
    first = last_sent(server)
    threading.Event().wait(1.0)
    return first if last_sent(server) == first else 0


def test_reading_pauses_while_the_app_does_not_receive(server: ServerProcess) -> None:
    with open_raw(server.port, "/idle") as sock:
        message = frame(BINARY, b"y" * 65536)
        written, stalled = send_until_blocked(sock, message, 256 * MiB, seconds=20)
        assert stalled, f"the server kept reading ({written} bytes)"
        assert written < 64 * MiB


def test_pings_from_a_client_that_does_not_read_do_not_pile_up(server: ServerProcess) -> None:
    """Pongs stop once the out-buffer is above the high-water mark (RFC 6455 allows
    answering only the latest ping), so unread pongs cannot grow the server's memory."""
    pings = 100_000
    with open_raw(server.port, rcvbuf=16384) as sock:
        ping = frame(PING, b"p" * 125)
        sock.sendall(ping * pings)
        # The connection still works: the echo comes after whatever pongs were sent.
        sock.sendall(frame(TEXT, b"after the pings"))
        pongs = 0
        sock.settimeout(10)
        while True:
            _, opcode, payload = read_frame(sock)
            if opcode == TEXT:
                assert payload == b"after the pings"
                break
            assert opcode == PONG
            pongs += 1
    assert 0 < pongs < pings


# -- lifecycle -----------------------------------------------------------------------


def test_ping_timeout_closes_a_silent_client(tuned: ServerProcess) -> None:
    with open_raw(tuned.port, "/idle") as sock:
        sock.settimeout(10)
        _fin, opcode, _ = read_frame(sock)
        assert opcode == PING
        assert read_close(sock)[0] == 1011
        assert closed_by_peer(sock)


def test_pings_answered_keep_the_connection(tuned: ServerProcess) -> None:
    with ws_connect(url(tuned, "/echo"), open_timeout=5) as ws:
        threading.Event().wait(3.5)
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_graceful_shutdown_sends_1001(tmp_path) -> None:
    with serve(APP, tmp=tmp_path) as server:
        with ws_connect(url(server, "/echo"), open_timeout=5) as ws:
            ws.send("hi")
            assert ws.recv(timeout=5) == "hi"
            server.process.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert server.stop() == 0
    assert "disconnect 1001 server shutting down" in server.calls()


def test_no_descriptor_leak(server: ServerProcess) -> None:
    fds = f"/proc/{server.process.pid}/fd"
    before = len(os.listdir(fds))
    with open_raw(server.port):
        # The count sees the server's sockets: an open WebSocket is one more.
        wait_for(lambda: len(os.listdir(fds)) > before)
    for i in range(40):
        if i % 2:
            with ws_connect(url(server, "/echo"), open_timeout=5) as ws:
                ws.send("x")
                assert ws.recv(timeout=5) == "x"
        else:
            sock = open_raw(server.port)
            sock.close()
    wait_for(lambda: len(os.listdir(fds)) <= before + 2)
