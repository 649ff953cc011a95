"""PSGI (docs/psgi.md) on a real Pyre process: the request's attributes and headers,
bodies read whole and in pieces, the three response modes, files, trailers, misuse,
errors, keep-alive and pipelining, backpressure and disconnects
(tests/apps/psgi_app.py)."""

from __future__ import annotations

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

from tests.support import ServerProcess, connect, send_rest, send_until_blocked, serve
from tests.test_streaming import ChunkDecoder, parse, read_all, request

APP = "tests.apps.psgi_app:app"
HANDLER = "tests.apps.psgi_app:handler"
MiB = 1024 * 1024
CLOSE = (b"Connection: close",)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # An object with __psgi__: --interface auto (the default) picks PSGI.
    with serve(APP, tmp=tmp_path_factory.mktemp("psgi")) as process:
        yield process


def exchange(server: ServerProcess, raw: bytes) -> bytes:
    with connect(server.port) as sock:
        sock.sendall(raw)
        return read_all(sock)


def wait_for_call(server: ServerProcess, line: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while line not in server.calls():
        assert time.monotonic() < deadline, f"{line!r} not in {server.calls()}"
        time.sleep(0.05)
    return server.calls()


# ----------------------------------------------------------------------- request


def test_request_attributes_and_headers(server: ServerProcess) -> None:
    response = httpx.get(
        f"{server.url}/request?a=1&b=%20",
        headers=[("X-Multi", "one"), ("x-multi", "two"), ("X-Other", "é".encode("latin-1"))],
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "GET"
    assert seen["path"] == "/request"
    assert seen["raw_path"] == "/request"
    assert seen["query_string"] == "a=1&b=%20"
    assert seen["http_version"] == "1.1"
    assert seen["scheme"] == "http"
    assert seen["client"][0] == "127.0.0.1"
    assert seen["server"] == ["127.0.0.1", server.port]
    assert seen["x_multi"] == ["one", "two"]
    assert seen["x_first"] == "one"
    assert seen["missing"] == "default"
    assert seen["has_host"] is True
    assert seen["has_missing"] is False
    assert ["x-other", "é"] in seen["items"]
    assert seen["names"].count("x-multi") == 2
    assert seen["len"] == len(seen["items"])
    assert seen["raw_first"][0] == "host"


def test_path_is_percent_decoded(server: ServerProcess) -> None:
    seen = httpx.get(f"{server.url}/caf%C3%A9").status_code
    assert seen == 404
    data = exchange(server, request("/request%2Fx?q", headers=CLOSE))
    assert parse(data)[0].status_code == 404
    assert wait_for_call(server, "GET /request/x")


def test_startup_hook_ran(server: ServerProcess) -> None:
    assert "startup" in server.calls()


def test_shutdown_hook_runs(tmp_path: Path) -> None:
    with serve(APP, tmp=tmp_path) as process:
        assert httpx.get(f"{process.url}/str").text == "héllo"
        assert process.stop() == 0
        assert process.calls()[-1] == "shutdown"


def test_a_plain_function_with_interface_psgi(tmp_path: Path) -> None:
    with serve(HANDLER, "--interface", "psgi", tmp=tmp_path) as process:
        response = httpx.get(f"{process.url}/str")
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len("héllo".encode()))
        assert response.text == "héllo"


# ------------------------------------------------------------------------ bodies


def test_body_reads_the_whole_body(server: ServerProcess) -> None:
    body = os.urandom(3 * MiB)
    response = httpx.post(f"{server.url}/echo", content=body, timeout=30)
    assert response.content == body


def test_body_reads_a_chunked_body(server: ServerProcess) -> None:
    pieces = [os.urandom(10_000) for _ in range(20)]
    response = httpx.post(f"{server.url}/echo", content=iter(pieces), timeout=30)
    assert response.content == b"".join(pieces)


def test_stream_gives_pieces_as_they_arrive(server: ServerProcess) -> None:
    body = bytes(8 * MiB)
    report = httpx.post(f"{server.url}/pieces", content=body, timeout=30).json()
    assert report["total"] == len(body)
    assert len(report["sizes"]) > 8
    assert max(report["sizes"]) <= 2 * 64 * 1024


def test_empty_body(server: ServerProcess) -> None:
    assert httpx.post(f"{server.url}/echo").content == b""
    assert httpx.get(f"{server.url}/pieces").json() == {"sizes": [], "total": 0}


# -------------------------------------------------------------------- responses


def test_one_shot_has_content_length(server: ServerProcess) -> None:
    response, body, _ = parse(exchange(server, request("/str", headers=CLOSE)))
    headers = dict(response.headers)
    assert headers[b"content-length"] == str(len("héllo".encode())).encode()
    assert body == "héllo".encode()


def test_chunked_stream(server: ServerProcess) -> None:
    response, body, _ = parse(exchange(server, request("/stream?n=4", headers=CLOSE)))
    assert dict(response.headers)[b"transfer-encoding"] == b"chunked"
    assert body == b"".join(b"piece %d\n" % i for i in range(4))


def test_known_length_stream(server: ServerProcess) -> None:
    response, body, _ = parse(exchange(server, request("/known?total=25500", headers=CLOSE)))
    headers = dict(response.headers)
    assert headers[b"content-length"] == b"25500"
    assert b"transfer-encoding" not in headers
    assert body == b"k" * 25500


@pytest.mark.parametrize("path", ["/long", "/short"])
def test_length_mismatch_raises_protocol_error_and_closes(server: ServerProcess, path: str) -> None:
    data = exchange(server, request(path))
    # Never a misframed response: nothing (the head was not out yet), or the head
    # and fewer bytes than it announced, then the connection closes.
    if data:
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"content-length: 10" in head
        assert len(body) < 10
    calls = wait_for_call(server, f"GET {path}")
    deadline = time.monotonic() + 5
    while not any(
        c.startswith("ProtocolError") for c in server.calls()[calls.index(f"GET {path}") :]
    ):
        assert time.monotonic() < deadline, server.calls()
        time.sleep(0.05)


def test_trailers_with_te_trailers(server: ServerProcess) -> None:
    raw = request("/trailers", headers=(b"TE: trailers", *CLOSE))
    _, body, trailers = parse(exchange(server, raw), te_trailers=True)
    assert body == b"abcdef"
    assert trailers == {b"x-sum": b"6"}


def test_trailers_dropped_without_te(server: ServerProcess) -> None:
    data = exchange(server, request("/trailers", headers=CLOSE))
    _, body, trailers = parse(data)
    assert body == b"abcdef"
    assert trailers == {}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("psgi-files") / "data.bin"
    path.write_bytes(os.urandom(2 * MiB + 17))
    return path


def test_respond_file(server: ServerProcess, data_file: Path) -> None:
    response = httpx.get(f"{server.url}/file", params={"path": str(data_file)}, timeout=10)
    assert response.headers["content-length"] == str(data_file.stat().st_size)
    assert response.content == data_file.read_bytes()


def test_respond_file_range(server: ServerProcess, data_file: Path) -> None:
    params = {"path": str(data_file), "offset": "1000", "count": "5000"}
    response = httpx.get(f"{server.url}/file", params=params, timeout=10)
    assert response.headers["content-length"] == "5000"
    assert response.content == data_file.read_bytes()[1000:6000]


def test_respond_file_head(server: ServerProcess, data_file: Path) -> None:
    response = httpx.head(f"{server.url}/file", params={"path": str(data_file)}, timeout=10)
    assert response.headers["content-length"] == str(data_file.stat().st_size)
    assert response.content == b""


@pytest.mark.parametrize(
    "params",
    [{"path": "/nonexistent/file"}, {"offset": "999999999"}, {"count": "999999999"}],
    ids=["missing", "offset-past-end", "count-past-end"],
)
def test_respond_file_errors_answer_500(
    server: ServerProcess, data_file: Path, params: dict[str, str]
) -> None:
    response = httpx.get(f"{server.url}/file", params={"path": str(data_file), **params})
    assert response.status_code == 500


# ------------------------------------------------------------------------ misuse


def test_responding_twice_raises_protocol_error(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/twice").content == b"first"
    calls = wait_for_call(server, "GET /twice")
    deadline = time.monotonic() + 5
    while "ProtocolError the response is already complete" not in server.calls():
        assert time.monotonic() < deadline, calls
        time.sleep(0.05)


def test_write_after_finish_raises_protocol_error(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/after-finish").content == b"done"
    deadline = time.monotonic() + 5
    while "ProtocolError write() after the response was finished" not in server.calls():
        assert time.monotonic() < deadline, server.calls()
        time.sleep(0.05)


def test_error_before_responding_is_500_and_the_connection_lives(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/error/before").status_code == 500
        assert client.get("/str").text == "héllo"
    server.wait_for_log("Exception in PSGI application")


def test_error_after_start_closes_the_connection(server: ServerProcess) -> None:
    data = exchange(server, request("/error/after"))
    assert b"partial" in data
    assert not data.endswith(b"0\r\n\r\n")


def test_returning_without_a_response_is_500(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/noresponse")
    assert response.status_code == 500


# --------------------------------------------------------- keep-alive, pipelining


def test_keep_alive_and_pipelining_in_order(server: ServerProcess) -> None:
    raw = request("/stream?n=2") + request("/str") + request("/known?total=3000", headers=CLOSE)
    data = exchange(server, raw)
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.receive_data(data)
    bodies = []
    for _ in range(3):
        conn.send(h11.Request(method="GET", target="/", headers=[("host", "t")]))
        conn.send(h11.EndOfMessage())
        body = b""
        while True:
            event = conn.next_event()
            assert event is not h11.NEED_DATA, f"incomplete: {bodies}"
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        bodies.append(body)
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
    assert bodies == [b"piece 0\npiece 1\n", "héllo".encode(), b"k" * 3000]


# ------------------------------------------------------ backpressure, disconnects


def test_a_slow_reader_makes_write_wait(server: ServerProcess) -> None:
    total = 256 * MiB
    before = httpx.get(f"{server.url}/stats").json()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        sock.sendall(request(f"/produce?total={total}", headers=CLOSE))
        previous = None
        deadline = time.monotonic() + 15
        while True:
            stats = httpx.get(f"{server.url}/stats").json()
            if stats["waiting"] and previous is not None and stats["sent"] == previous["sent"]:
                break
            assert time.monotonic() < deadline, f"never stalled: {stats}"
            previous = stats
            time.sleep(0.3)
        assert stats["sent"] - before["sent"] < 16 * MiB
        assert stats["pending_writes"] > before["pending_writes"]
        sock.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        decoder = ChunkDecoder()
        size = sum(map(len, decoder.feed(head.partition(b"\r\n\r\n")[2])))
        while not decoder.done:
            data = sock.recv(1 << 20)
            assert data
            size += sum(map(len, decoder.feed(data)))
    assert size == total


def test_a_client_gone_while_write_waits_raises_in_the_app(server: ServerProcess) -> None:
    before = httpx.get(f"{server.url}/stats").json()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(request(f"/produce?total={1024 * MiB}"))
    deadline = time.monotonic() + 15
    while not httpx.get(f"{server.url}/stats").json()["waiting"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{server.url}/stats").json()["disconnected"] == before["disconnected"]:
        assert time.monotonic() < deadline, "write() never raised the disconnect"
        time.sleep(0.1)


def test_disconnected_resolves_when_the_client_leaves(server: ServerProcess) -> None:
    sock = connect(server.port)
    sock.sendall(request("/disconnect"))
    wait_for_call(server, "GET /disconnect")
    sock.close()
    wait_for_call(server, "disconnected")


def test_a_client_gone_mid_upload_raises_in_body(server: ServerProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(request("/echo", "POST", headers=(b"Content-Length: 1000000",)) + b"x" * 1000)
        wait_for_call(server, "POST /echo")
    wait_for_call(server, "body: ClientDisconnected")
    assert httpx.get(f"{server.url}/str").text == "héllo"


def test_access_log_names_psgi_requests(server: ServerProcess) -> None:
    httpx.get(f"{server.url}/str?x=1")
    deadline = time.monotonic() + 5
    while '"GET /str HTTP/1.1" 200' not in server.log:
        assert time.monotonic() < deadline, server.log[-2000:]
        time.sleep(0.05)


def test_stats_route_is_json(server: ServerProcess) -> None:
    assert json.loads(httpx.get(f"{server.url}/stats").content)["sent"] >= 0


def test_the_psgi_example_serves(tmp_path: Path) -> None:
    with serve("examples.psgi_hello:app", tmp=tmp_path) as process:
        with httpx.Client(base_url=process.url, timeout=10) as client:
            assert client.get("/").text == "Hello, world!"
            assert client.get("/hello/you").text == "Hello, you!"
            body = os.urandom(300_000)
            echoed = client.post("/echo", content=body)
            assert echoed.headers["transfer-encoding"] == "chunked"
            assert echoed.content == body
            assert client.get("/count?n=3").text == "line 0\nline 1\nline 2\n"
            assert client.get("/nope").status_code == 404


def test_a_handler_that_does_not_read_stops_the_client(server: ServerProcess) -> None:
    total = 64 * MiB
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        head = request(
            "/slow-stream?delay=3", "POST", headers=(f"Content-Length: {total}".encode(), *CLOSE)
        )
        sock.sendall(head)
        block = bytes(MiB)
        written, stalled = send_until_blocked(sock, block, total, seconds=2.5)
        assert stalled, f"never blocked ({written} bytes written)"
        assert written < 24 * MiB, written
        send_rest(sock, block, written, total)
        answer = read_all(sock, timeout=60)
    assert json.loads(parse(answer)[1]) == {"size": total}
