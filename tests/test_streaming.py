"""Streaming with backpressure (tests/apps/streaming.py): the three transfer modes on
the wire, write backpressure (a slow reader makes the application's send wait), read
backpressure (an application that does not read makes the client's writes block),
files by pathsend, trailers, pipelining behind a stream, and disconnects that leak
nothing."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest

from tests.apps.streaming import pattern
from tests.support import ServerProcess, connect, send_rest, send_until_blocked, serve

APP = "tests.apps.streaming:app"
CLOSE = (b"Connection: close",)
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve(APP, tmp=tmp_path_factory.mktemp("streaming")) as process:
        yield process


def stats(server: ServerProcess) -> dict:
    return httpx.get(f"{server.url}/stats", timeout=5).json()


def request(path: str, method: str = "GET", headers: tuple[bytes, ...] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: test", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = bytearray()
    while True:
        piece = sock.recv(1 << 20)
        if not piece:
            return bytes(data)
        data += piece


def parse(data: bytes, method: str = "GET", te_trailers: bool = False) -> tuple:
    """Parses one response with h11 (strict framing): (response, body, trailers)."""
    conn = h11.Connection(our_role=h11.CLIENT)
    headers = [("host", "test")] + ([("te", "trailers")] if te_trailers else [])
    conn.send(h11.Request(method=method, target="/", headers=headers))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    response, body, trailers = None, bytearray(), None
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            trailers = dict(event.headers)
            break
        else:
            raise AssertionError(f"incomplete response: {event!r} after {bytes(body[:80])!r}")
    return response, bytes(body), trailers


def chunk_sizes(data: bytes) -> list[int]:
    """The sizes of the chunks in a raw chunked response (head included in `data`)."""
    rest = data[data.index(b"\r\n\r\n") + 4 :]
    sizes = []
    while True:
        line, rest = rest.split(b"\r\n", 1)
        size = int(line, 16)
        if size == 0:
            return sizes
        sizes.append(size)
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]


def exchange(server: ServerProcess, raw: bytes) -> bytes:
    with connect(server.port) as sock:
        sock.sendall(raw)
        return read_all(sock)


# ----------------------------------------------------------------- transfer modes


def test_one_shot_body_gets_content_length(server: ServerProcess) -> None:
    data = exchange(server, request("/oneshot?n=100000", headers=CLOSE))
    response, body, _ = parse(data)
    assert response.status_code == 200
    headers = dict(response.headers)
    assert headers[b"content-length"] == b"100000"
    assert b"transfer-encoding" not in headers
    assert body == pattern(0, 100000)


def test_known_length_stream_keeps_the_apps_content_length(server: ServerProcess) -> None:
    data = exchange(server, request("/known?total=300000&piece=7000", headers=CLOSE))
    response, body, _ = parse(data)
    headers = dict(response.headers)
    assert headers[b"content-length"] == b"300000"
    assert b"transfer-encoding" not in headers
    assert body == pattern(0, 300000)


def test_chunked_stream_sends_one_chunk_per_piece(server: ServerProcess) -> None:
    data = exchange(server, request("/produce?total=50000&piece=10000", headers=CLOSE))
    response, body, _ = parse(data)
    assert dict(response.headers)[b"transfer-encoding"] == b"chunked"
    assert body == pattern(0, 50000)
    assert chunk_sizes(data) == [10000] * 5


# ----------------------------------------------------------------------- trailers


def test_trailers_are_sent_to_a_client_that_accepts_them(server: ServerProcess) -> None:
    raw = request("/trailers?pieces=3", headers=(b"TE: trailers", b"Connection: close"))
    response, body, trailers = parse(exchange(server, raw), te_trailers=True)
    assert dict(response.headers)[b"transfer-encoding"] == b"chunked"
    assert body == b"piece 0\npiece 1\npiece 2\n"
    assert trailers == {
        b"x-checksum": hashlib.sha256(body).hexdigest().encode(),
        b"x-count": b"3",
    }


def test_trailers_are_dropped_without_te_trailers(server: ServerProcess) -> None:
    data = exchange(server, request("/trailers?pieces=2", headers=CLOSE))
    _, body, trailers = parse(data)
    assert body == b"piece 0\npiece 1\n"
    assert trailers == {}
    assert data.endswith(b"\r\n0\r\n\r\n")


# -------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "data.bin"
    path.write_bytes(os.urandom(3 * MiB + 123))
    return path


def test_pathsend_serves_a_file_with_its_length(server: ServerProcess, big_file: Path) -> None:
    response = httpx.get(f"{server.url}/file", params={"path": str(big_file)}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(big_file.stat().st_size)
    assert response.content == big_file.read_bytes()


def test_pathsend_head_has_length_and_no_body(server: ServerProcess, big_file: Path) -> None:
    with connect(server.port) as sock:
        sock.sendall(request(f"/file?path={big_file}", "HEAD") + request("/oneshot?n=5"))
        data = b""
        sock.settimeout(5)
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(pattern(0, 5)):
            data += sock.recv(65536)
    first, second = data.split(b"HTTP/1.1 200")[1:]
    assert f"content-length: {big_file.stat().st_size}".encode() in first
    assert first.endswith(b"\r\n\r\n"), "HEAD response carried a body"
    assert second.endswith(b"\r\n\r\n" + pattern(0, 5))


def test_pathsend_keeps_the_connection_for_the_next_request(
    server: ServerProcess, big_file: Path
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(3):
            response = client.get("/file", params={"path": str(big_file)})
            assert response.content == big_file.read_bytes()
            assert client.get("/oneshot?n=3").content == pattern(0, 3)


@pytest.mark.parametrize("case", ["missing", "directory", "wrong-length"])
def test_pathsend_errors_answer_500(server: ServerProcess, big_file: Path, case: str) -> None:
    params = {
        "missing": {"path": str(big_file) + ".nope"},
        "directory": {"path": str(big_file.parent)},
        "wrong-length": {"path": str(big_file), "length": "10"},
    }[case]
    response = httpx.get(f"{server.url}/file", params=params, timeout=10)
    assert response.status_code == 500
    assert len(response.content) < 200


# ------------------------------------------------------------ write backpressure


def wait_until_stalled(server: ServerProcess, timeout: float = 15.0) -> dict:
    """Polls /stats until the producer waits in send() and has stopped advancing."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        current = stats(server)
        if current["waiting"] and previous is not None and current["sent"] == previous["sent"]:
            return current
        previous = current
        time.sleep(0.3)
    raise AssertionError(f"the producer never stalled: {previous}")


def test_a_slow_reader_makes_send_wait(server: ServerProcess) -> None:
    total = 256 * MiB
    before = stats(server)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        sock.sendall(request(f"/produce?total={total}&piece=16384", headers=CLOSE))
        stalled = wait_until_stalled(server)
        ahead = stalled["sent"] - before["sent"]
        # The application is held back: what it produced is bounded by the socket
        # buffers and the high-water mark, not by the body.
        assert ahead < 16 * MiB, ahead
        assert stalled["pending_sends"] > before["pending_sends"]
        # Read it all: the producer resumes and the body arrives intact.
        digest, size = hashlib.sha256(), 0
        sock.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        head, rest = head.split(b"\r\n\r\n", 1)
        assert b"transfer-encoding: chunked" in head
        decoder = ChunkDecoder()
        for piece in decoder.feed(rest):
            digest.update(piece)
            size += len(piece)
        while not decoder.done:
            data = sock.recv(1 << 20)
            assert data, "connection closed before the body ended"
            for piece in decoder.feed(data):
                digest.update(piece)
                size += len(piece)
    assert size == total
    expected = hashlib.sha256()
    for offset in range(0, total, 16384):
        expected.update(pattern(offset, 16384))
    assert digest.hexdigest() == expected.hexdigest()


class ChunkDecoder:
    """An incremental chunked-body decoder, enough for the test's well-formed stream."""

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = 0
        self.crlf_due = False
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        pieces = []
        while not self.done:
            if self.remaining:
                piece = self.buffer[: self.remaining]
                if not piece:
                    break
                self.buffer = self.buffer[len(piece) :]
                self.remaining -= len(piece)
                self.crlf_due = self.remaining == 0
                pieces.append(piece)
            elif self.crlf_due:
                if len(self.buffer) < 2:
                    break
                assert self.buffer[:2] == b"\r\n", self.buffer[:20]
                self.buffer = self.buffer[2:]
                self.crlf_due = False
            elif b"\r\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\r\n", 1)
                self.remaining = int(line, 16)
                self.done = self.remaining == 0
            else:
                break
        return pieces


def test_a_client_gone_while_send_waits_raises_in_the_app(server: ServerProcess) -> None:
    before = stats(server)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(request(f"/produce?total={512 * MiB}&piece=65536"))
    wait_until_stalled(server)
    # Reset, not a graceful close: the server learns at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    deadline = time.monotonic() + 5
    while stats(server)["disconnected_sends"] == before["disconnected_sends"]:
        assert time.monotonic() < deadline, "send() never raised the disconnect"
        time.sleep(0.1)


# ------------------------------------------------------------- read backpressure


def test_an_app_that_does_not_read_stops_the_client(server: ServerProcess) -> None:
    total = 64 * MiB
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        head = request(
            "/slow-read?delay=3",
            "POST",
            headers=(f"Content-Length: {total}".encode(), b"Connection: close"),
        )
        sock.sendall(head)
        block = pattern(0, 1 << 20)
        # Write as fast as the socket takes it; the server stops reading once its
        # buffer is full, so the writes block long before the body is out.
        written, stalled = send_until_blocked(sock, block, total, seconds=2.5)
        assert stalled, f"the client was never blocked ({written} bytes written)"
        assert written < 24 * MiB, written
        # The application reads again after its delay: the rest goes through.
        send_rest(sock, block, written, total)
        answer = read_all(sock, timeout=60)
    _, body, _ = parse(answer)
    report = json.loads(body)
    assert report["size"] == total
    expected = hashlib.sha256()
    for offset in range(0, total, len(block)):
        expected.update(block[: min(len(block), total - offset)])
    assert report["sha256"] == expected.hexdigest()


def test_content_length_over_the_limit_is_refused_before_the_body(tmp_path: Path) -> None:
    with serve(APP, "--limit-request-body", "1000", tmp=tmp_path) as limited:
        with connect(limited.port) as sock:
            # Only the head: the 413 must come without the server waiting for the body.
            sock.sendall(request("/slow-read", "POST", headers=(b"Content-Length: 100000000",)))
            data = read_all(sock, timeout=5)
    response, _, _ = parse(data)
    assert response.status_code == 413
    assert dict(response.headers)[b"connection"] == b"close"


# --------------------------------------------------------------------- pipelining


def test_pipelined_request_waits_behind_a_streaming_response(server: ServerProcess) -> None:
    log_start = len(stats(server)["log"])
    with connect(server.port) as sock:
        sock.sendall(request("/drip?n=3&delay=0.2") + request("/oneshot?n=4", headers=CLOSE))
        data = read_all(sock)
    first_end = data.index(b"0\r\n\r\n") + 5
    _, body, _ = parse(data[:first_end])
    assert body == b"drip 0\ndrip 1\ndrip 2\n"
    _, body, _ = parse(data[first_end:])
    assert body == pattern(0, 4)
    log = stats(server)["log"][log_start:]
    assert log == ["start /drip", "end /drip", "start /oneshot", "end /oneshot"]


# -------------------------------------------------------------------- disconnects


def abort(sock: socket.socket) -> None:
    """Closes with a reset (SO_LINGER 0), as a client that crashed would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_thousand_aborted_streams_leak_nothing(server: ServerProcess) -> None:
    baseline = stats(server)
    downloads = uploads = 0
    upload_head = request(
        "/slow-read?delay=0", "POST", headers=(f"Content-Length: {4 * MiB}".encode(),)
    )
    for batch in range(20):
        socks = []
        for i in range(50):
            sock = connect(server.port)
            if (batch * 50 + i) % 2:
                sock.sendall(request(f"/produce?total={1024 * MiB}&piece=65536"))
                downloads += 1
            else:
                sock.sendall(upload_head + pattern(0, 100_000))
                uploads += 1
            socks.append(sock)
        # Let every stream get going (a download's first bytes arrive; an upload's
        # first bytes are read), then abort them all: mid-download and mid-upload.
        for sock in socks[1::2]:
            sock.settimeout(5)
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        time.sleep(0.05)
        for sock in socks:
            abort(sock)
    assert downloads == uploads == 500
    deadline = time.monotonic() + 15
    while True:
        current = stats(server)
        settled = (
            current["fds"] == baseline["fds"]
            and current["connections"] == baseline["connections"]
            and current["tasks"] == baseline["tasks"]
        )
        if settled:
            break
        assert time.monotonic() < deadline, f"did not return to {baseline}: {current}"
        time.sleep(0.2)
    # Every aborted download ended in the application as a raised send().
    assert current["disconnected_sends"] - baseline["disconnected_sends"] == downloads


def test_input_behind_a_streaming_response_is_held_back_in_tcp(server: ServerProcess) -> None:
    total = 32 * MiB
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        # A slow stream, then a pipelined upload: while the stream is in progress the
        # upload is not parsed, and the server reads no more than its buffer's cap.
        sock.sendall(
            request("/drip?n=5&delay=0.3")
            + request("/slow-read?delay=0", "POST", headers=(f"Content-Length: {total}".encode(),))
        )
        block = pattern(0, MiB)
        written, _ = send_until_blocked(sock, block, total, seconds=1.0, stall=1.0)
        assert written < 16 * MiB, written
        send_rest(sock, block, written, total)
        data = b""
        while not data.endswith(b"}"):
            piece = sock.recv(65536)
            assert piece, data[-200:]
            data += piece
    first_end = data.index(b"0\r\n\r\n") + 5
    assert parse(data[:first_end])[1] == b"".join(b"drip %d\n" % i for i in range(5))
    report = json.loads(parse(data[first_end:])[1])
    assert report["size"] == total
