"""HTTP/1.1 and ASGI 3 (HTTP spec 2.4, lifespan) behaviour of the server, black-box.

Every test talks to a real ``python -m pyre`` process over loopback. Raw requests are
built by hand and their responses parsed by h11, used as a strict, independent response
parser: h11 is told which request was sent (so it knows HEAD has no body) and then fed
the bytes the server wrote, so framing errors, stray bytes or truncation raise.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest

from tests.support import ROOT, ServerProcess, connect, is_closed, read_until_closed, serve

PROBE = "tests.apps.probe:app"
WAIT = 5.0


# --------------------------------------------------------------------------- helpers


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Polls ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def wait_for_call(server: ServerProcess, line: str, timeout: float = WAIT) -> bool:
    return wait_for(lambda: line in server.calls(), timeout)


@dataclass
class Reply:
    response: h11.Response
    body: bytes
    informational: list[h11.InformationalResponse] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.response.status_code

    def header(self, name: str) -> list[bytes]:
        wanted = name.lower().encode()
        return [v for n, v in self.response.headers if n == wanted]

    def json(self) -> Any:
        return json.loads(self.body)


class Raw:
    """A raw socket to the server plus an h11 client that tracks what was sent.

    ``send`` writes bytes built by hand; ``expect`` tells h11 which request those bytes
    were and parses the next response strictly.
    """

    def __init__(self, port: int, timeout: float = WAIT) -> None:
        self.sock = connect(port, timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h11.Connection(h11.CLIENT)

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def track(
        self,
        method: str = "GET",
        target: str = "/",
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """Tells h11 a request was sent (the bytes h11 would write are discarded)."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        all_headers = [("host", "test"), *(headers or [])]
        if body and not any(n.lower() == "content-length" for n, _ in all_headers):
            all_headers.append(("content-length", str(len(body))))
        self.conn.send(h11.Request(method=method, target=target, headers=all_headers))
        if body:
            self.conn.send(h11.Data(data=body))
        self.conn.send(h11.EndOfMessage())

    def _feed(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self.conn.receive_data(data)

    def read(self, stop_at_informational: bool = False) -> Reply:
        """The next response (or the next 1xx when ``stop_at_informational``)."""
        informational: list[h11.InformationalResponse] = []
        response: h11.Response | None = None
        body = b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self._feed()
            elif isinstance(event, h11.InformationalResponse):
                informational.append(event)
                if stop_at_informational:
                    return Reply(event, b"", informational)  # type: ignore[arg-type]
            elif isinstance(event, h11.Response):
                assert not stop_at_informational, f"final response before any 1xx: {event}"
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return Reply(response, body, informational)
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError("connection closed before a complete response")

    def expect(
        self,
        method: str = "GET",
        target: str = "/",
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> Reply:
        self.track(method, target, body, headers)
        return self.read()

    def request(self, method: str = "GET", target: str = "/", body: bytes = b"") -> Reply:
        """Builds, sends and reads one ordinary HTTP/1.1 request."""
        self.send(http11(method, target, body))
        return self.expect(method, target, body)


def http11(method: str, target: str, body: bytes = b"", extra: bytes = b"") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: test\r\n".encode() + extra
    if body:
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + b"\r\n" + body


def split_response(data: bytes) -> tuple[bytes, dict[bytes, list[bytes]], bytes]:
    """Status line, headers (lowercased names) and body of one close-delimited response."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete response head in {data!r}"
    status, *lines = head.split(b"\r\n")
    headers: dict[bytes, list[bytes]] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, body


def parse_all_strictly(method: str, data: bytes) -> list[Any]:
    """Every h11 event for one response in ``data`` followed by EOF; raises
    h11.RemoteProtocolError when the response is invalid or cut short."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("host", "test")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    conn.receive_data(b"")
    events = []
    while True:
        event = conn.next_event()
        events.append(event)
        if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)) or event is h11.NEED_DATA:
            return events


def inspect(port: int, raw_request: bytes) -> dict[str, Any]:
    """Sends ``raw_request`` (whose target must end in /inspect) and returns the report."""
    with Raw(port) as raw:
        raw.send(raw_request)
        reply = raw.expect("GET", "/inspect")
        assert reply.status == 200, reply
        return reply.json()


# --------------------------------------------------------------------------- scope


def test_scope_has_every_key_with_the_right_types(probe: ServerProcess) -> None:
    report = inspect(probe.port, http11("GET", "/inspect"))
    scope, types = report["scope"], report["types"]
    required = {
        "type": "str",
        "asgi": "dict",
        "http_version": "str",
        "method": "str",
        "scheme": "str",
        "path": "str",
        "raw_path": "bytes",
        "query_string": "bytes",
        "root_path": "str",
        "headers": None,  # any iterable of pairs
        "client": None,  # a (host, port) pair
        "server": None,
        "state": "dict",
        "extensions": "dict",
    }
    missing = set(required) - set(types)
    assert not missing, f"scope lacks {missing}"
    for key, type_name in required.items():
        if type_name:
            assert types[key] == type_name, (key, types[key])
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert report["asgi_types"] == {"version": "str", "spec_version": "str"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == ""
    assert report["header_types"] == ["bytes,bytes"]
    assert report["client_types"] == ["str", "int"]
    assert report["server_types"] == ["str", "int"]
    assert isinstance(report["extensions"], dict)


def test_scope_http_version_11(probe: ServerProcess) -> None:
    assert inspect(probe.port, http11("GET", "/inspect"))["scope"]["http_version"] == "1.1"


def test_scope_http_version_10(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(b"GET /inspect HTTP/1.0\r\n\r\n")
        data = read_until_closed(sock)
    _, _, body = split_response(data)
    assert json.loads(body)["scope"]["http_version"] == "1.0"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_scope_method(probe: ServerProcess, method: str) -> None:
    with httpx.Client(base_url=probe.url) as client:
        response = client.request(method, "/inspect")
    assert response.status_code == 200
    assert response.json()["scope"]["method"] == method


def test_scope_path_is_percent_decoded_and_raw_path_is_not(probe: ServerProcess) -> None:
    target = "/caf%C3%A9/a%20b%2Fc/%E2%9C%93/inspect?x=%20y&z=caf%C3%A9&x=2"
    report = inspect(probe.port, http11("GET", target))
    scope = report["scope"]
    assert scope["path"] == "/café/a b/c/\u2713/inspect"
    assert scope["raw_path"] == "/caf%C3%A9/a%20b%2Fc/%E2%9C%93/inspect"
    assert scope["query_string"] == "x=%20y&z=caf%C3%A9&x=2"
    assert report["types"]["raw_path"] == "bytes"
    assert report["types"]["query_string"] == "bytes"


def test_scope_without_query_string(probe: ServerProcess) -> None:
    scope = inspect(probe.port, http11("GET", "/inspect"))["scope"]
    assert scope["path"] == "/inspect"
    assert scope["raw_path"] == "/inspect"
    assert scope["query_string"] == ""


def test_scope_headers_keep_order_and_duplicates_with_lowercase_names(
    probe: ServerProcess,
) -> None:
    request = (
        b"GET /inspect HTTP/1.1\r\n"
        b"Host: test\r\n"
        b"X-Dup: one\r\n"
        b"X-Mixed-CASE: Value With Case\r\n"
        b"x-dup: two\r\n"
        b"X-Padded:    spaced value   \r\n"
        b"Accept: */*\r\n"
        b"X-Dup: three\r\n"
        b"\r\n"
    )
    report = inspect(probe.port, request)
    assert report["scope"]["headers"] == [
        ["host", "test"],
        ["x-dup", "one"],
        ["x-mixed-case", "Value With Case"],
        ["x-dup", "two"],
        ["x-padded", "spaced value"],
        ["accept", "*/*"],
        ["x-dup", "three"],
    ]
    assert report["header_types"] == ["bytes,bytes"]


def test_scope_client_and_server_match_the_socket(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        local = raw.sock.getsockname()
        reply = raw.request("GET", "/inspect")
    scope = reply.json()["scope"]
    assert scope["client"] == [local[0], local[1]]
    assert scope["server"] == ["127.0.0.1", probe.port]


def test_scope_root_path_prefixes_path_and_raw_path(tmp_path: Path) -> None:
    with serve(PROBE, "--root-path", "/api", tmp=tmp_path) as server:
        scope = inspect(server.port, http11("GET", "/inspect?a=1"))["scope"]
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/inspect"
    assert scope["raw_path"] == "/api/inspect"
    assert scope["query_string"] == "a=1"


def test_scope_state_is_a_copy_of_the_lifespan_state(probe: ServerProcess) -> None:
    with httpx.Client(base_url=probe.url) as client:
        assert client.get("/state").json() == {"greeting": "hello from lifespan"}
        assert client.get("/state-mutate").text == "mutated"
        # a shallow copy per request: the previous request's change is not seen
        assert client.get("/state").json() == {"greeting": "hello from lifespan"}
        assert client.get("/inspect").json()["state"] == ["greeting"]


# --------------------------------------------------------------------------- request bodies


def test_content_length_body_in_many_small_writes(probe: ServerProcess) -> None:
    body = bytes(range(65, 65 + 40))
    with Raw(probe.port) as raw:
        raw.send(b"POST /chunks HTTP/1.1\r\nHost: test\r\nContent-Length: 40\r\n\r\n")
        for i in range(0, 40, 5):
            time.sleep(0.03)
            raw.send(body[i : i + 5])
        reply = raw.expect("POST", "/chunks", body)
    assert reply.status == 200
    report = reply.json()
    assert report["total"] == 40
    assert len(report["sizes"]) > 1, report
    assert sum(report["sizes"]) == 40


def test_content_length_body_echoed_exactly(probe: ServerProcess) -> None:
    body = bytes(range(256)) * 50
    with Raw(probe.port) as raw:
        raw.send(
            http11("POST", "/echo", b"")[:-2] + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        for i in range(0, len(body), 4000):
            raw.send(body[i : i + 4000])
        reply = raw.expect("POST", "/echo", body)
    assert reply.body == body
    assert reply.header("content-length") == [str(len(body)).encode()]


def test_chunked_body_in_many_small_writes(probe: ServerProcess) -> None:
    pieces = [
        b"POST /chunks HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5\r\nhel",
        b"lo\r\n",
        b"6;ext=1\r\n wor",
        b"ld\r\n1",
        b"0\r\n0123456789abcdef\r\n",
        b"3\r\n!!!",
        b"\r\n",
        b"0\r\n\r\n",
    ]
    with Raw(probe.port) as raw:
        for piece in pieces:
            raw.send(piece)
            time.sleep(0.03)
        reply = raw.expect("POST", "/chunks", b"x" * 30)
    report = reply.json()
    assert report["total"] == 5 + 6 + 16 + 3
    assert len(report["sizes"]) > 1, report
    assert sum(report["sizes"]) == report["total"]


def test_chunked_body_is_dechunked(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        raw.send(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
            b"A\r\n, chunked \r\n"
            b"5;name=value\r\nworld\r\n"
            b"0\r\n\r\n"
        )
        reply = raw.expect("POST", "/echo", b"x" * 20)
    assert reply.body == b"hello, chunked world"


def test_chunked_trailers_are_consumed_and_the_connection_stays_in_sync(
    probe: ServerProcess,
) -> None:
    with Raw(probe.port) as raw:
        raw.send(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n"
            b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
            b"GET /after-trailers HTTP/1.1\r\nHost: test\r\n\r\n"
        )
        first = raw.expect("POST", "/echo", b"x" * 11)
        second = raw.expect("GET", "/after-trailers")
    assert first.body == b"hello world"
    assert b"X-Checksum" not in first.body
    assert second.body == b"ok"
    assert probe.calls() == ["POST /echo", "GET /after-trailers"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /chunks HTTP/1.1\r\nHost: test\r\n\r\n",
        b"POST /chunks HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n",
        b"POST /chunks HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ids=["no-body", "content-length-0", "chunked-empty"],
)
def test_empty_body_is_one_message_without_more_body(
    probe: ServerProcess, request_bytes: bytes
) -> None:
    with Raw(probe.port) as raw:
        raw.send(request_bytes)
        reply = raw.expect("GET", "/chunks")
    assert reply.json() == {"sizes": [0], "total": 0}


# --------------------------------------------------------------------------- connections


def test_three_pipelined_requests_answered_in_order(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        raw.send(
            http11("GET", "/first")
            + http11("POST", "/echo", b"the middle one")
            + http11("GET", "/scope?q=third")
        )
        first = raw.expect("GET", "/first")
        second = raw.expect("POST", "/echo", b"the middle one")
        third = raw.expect("GET", "/scope?q=third")
    assert (first.status, first.body) == (200, b"ok")
    assert (second.status, second.body) == (200, b"the middle one")
    assert third.status == 200
    assert third.json()["query_string"] == "q=third"
    assert probe.calls() == ["GET /first", "POST /echo", "GET /scope"]


def test_keep_alive_reuses_the_socket(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        local_port = raw.sock.getsockname()[1]
        for i in range(4):
            reply = raw.request("GET", f"/inspect?i={i}")
            assert reply.status == 200
            scope = reply.json()["scope"]
            assert scope["client"][1] == local_port
            assert scope["query_string"] == f"i={i}"
            assert b"close" not in [v.lower() for v in reply.header("connection")]
        reply = raw.request("POST", "/echo", b"still here")
        assert reply.body == b"still here"


def test_keep_alive_with_httpx_single_connection(probe: ServerProcess) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=probe.url, limits=limits) as client:
        ports = {client.get("/inspect").json()["scope"]["client"][1] for _ in range(5)}
        assert client.post("/echo", content=b"abc").content == b"abc"
        ports.add(client.get("/inspect").json()["scope"]["client"][1])
    assert len(ports) == 1


def test_http10_closes_by_default(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = read_until_closed(sock)  # a timeout here means the server kept it open
    status, headers, body = split_response(data)
    assert status.startswith(b"HTTP/1.")
    assert b" 200 " in status + b" "
    assert body == b"ok"
    assert b"transfer-encoding" not in headers


def test_http10_stream_is_close_delimited_not_chunked(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(b"GET /stream?n=4 HTTP/1.0\r\n\r\n")
        data = read_until_closed(sock)
    status, headers, body = split_response(data)
    assert b" 200" in status
    assert b"transfer-encoding" not in headers, headers
    assert b"content-length" not in headers, headers
    assert body == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"


def test_http10_keep_alive_stays_open(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        for i in range(2):
            sock.sendall(f"GET /r{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                assert chunk, f"closed after {data!r}"
                data += chunk
            _, headers, body = split_response(data)
            assert headers.get(b"content-length") == [b"2"], headers
            while len(body) < 2:
                chunk = sock.recv(65536)
                assert chunk, "closed mid-body"
                body += chunk
            assert body == b"ok"
            # an HTTP/1.0 client learns that the connection persists only from this
            assert [v.lower() for v in headers.get(b"connection", [])] == [b"keep-alive"]
        assert not is_closed(sock, 0.2)
    assert probe.calls() == ["GET /r0", "GET /r1"]


def test_connection_close_stops_after_the_response(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        raw.send(http11("GET", "/first", extra=b"Connection: close\r\n") + http11("GET", "/second"))
        reply = raw.expect("GET", "/first", headers=[("connection", "close")])
        assert reply.body == b"ok"
        assert [v.lower() for v in reply.header("connection")] == [b"close"]
        assert is_closed(raw.sock)
    assert probe.calls() == ["GET /first"]


def test_connection_close_with_body(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        raw.send(
            http11("POST", "/echo", b"bye", extra=b"Connection: close\r\n")
            + http11("GET", "/never")
        )
        reply = raw.expect("POST", "/echo", b"bye", headers=[("connection", "close")])
        assert reply.body == b"bye"
        assert is_closed(raw.sock)
    assert probe.calls() == ["POST /echo"]


# --------------------------------------------------------------------------- HEAD


def test_head_has_get_headers_and_no_body(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        # HEAD then GET on one connection: any body bytes after the HEAD response would
        # be read by h11 as the start of the next response and fail the parse.
        raw.send(http11("HEAD", "/") + http11("GET", "/"))
        head = raw.expect("HEAD", "/")
        get = raw.expect("GET", "/")
    assert head.status == 200
    assert head.body == b""
    assert get.body == b"ok"
    assert head.header("content-length") == get.header("content-length") == [b"2"]
    assert head.header("content-type") == get.header("content-type")


@pytest.mark.parametrize("target", ["/length?n=50", "/stream?n=3", "/echo"])
def test_head_sends_no_body_bytes(probe: ServerProcess, target: str) -> None:
    with connect(probe.port) as sock:
        sock.sendall(http11("HEAD", target, extra=b"Connection: close\r\n"))
        data = read_until_closed(sock)
    status, headers, body = split_response(data)
    assert b" 200" in status
    assert body == b"", f"HEAD {target} sent body bytes {body!r}"
    if target.startswith("/length"):
        assert headers.get(b"content-length") == [b"50"]


# --------------------------------------------------------------------------- responses


def test_one_shot_response_gets_content_length(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        reply = raw.request("GET", "/")
    assert reply.header("content-length") == [b"2"]
    assert reply.header("transfer-encoding") == []
    assert reply.header("content-type") == [b"text/plain"]
    assert reply.body == b"ok"


def test_streamed_response_without_length_is_chunked(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(http11("GET", "/stream?n=5", extra=b"Connection: close\r\n"))
        data = read_until_closed(sock)
    _, headers, body = split_response(data)
    assert headers.get(b"transfer-encoding") == [b"chunked"], headers
    assert b"content-length" not in headers
    assert body.endswith(b"\r\n0\r\n\r\n")
    events = parse_all_strictly("GET", data)
    assert isinstance(events[-1], h11.EndOfMessage)
    received = b"".join(e.data for e in events if isinstance(e, h11.Data))
    assert received == b"".join(f"chunk {i}\n".encode() for i in range(5))


def test_streamed_response_with_declared_length(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        reply = raw.request("GET", "/length?n=50")
        again = raw.request("GET", "/")  # framing held: the connection is still usable
    assert reply.header("content-length") == [b"50"]
    assert reply.header("transfer-encoding") == []
    assert reply.body == b"x" * 50
    assert again.body == b"ok"


def assert_cut_short(data: bytes, allow_500: bool = False) -> None:
    """The client must not see a complete, valid response (except, when the head had
    not been written yet and ``allow_500``, a complete 500)."""
    try:
        events = parse_all_strictly("GET", data)
    except h11.RemoteProtocolError:
        return
    if not any(isinstance(e, h11.EndOfMessage) for e in events):
        return
    status = next(e.status_code for e in events if isinstance(e, h11.Response))
    assert allow_500 and status == 500, f"client got a complete response: {data!r}"


@pytest.mark.parametrize("path", ["/long", "/short", "/long-streamed", "/short-streamed"])
def test_body_not_matching_content_length_is_an_error_and_closes(
    probe: ServerProcess, path: str
) -> None:
    with connect(probe.port) as sock:
        sock.sendall(http11("GET", path) + http11("GET", "/not-served"))
        data = read_until_closed(sock)  # must close, not wait for more
    assert b"toolong" not in data
    assert b"olong" not in data
    status, _, body = split_response(data)
    if path.startswith("/long") and b" 500 " not in status:
        assert len(body) <= 3, body
    # one-shot bodies: the head may still be unsent, so a clean 500 is acceptable
    assert_cut_short(data, allow_500="streamed" not in path)
    assert wait_for(lambda: any(c.startswith("RuntimeError") for c in probe.calls())), (
        probe.calls(),
        probe.log,
    )
    assert "GET /not-served" not in probe.calls()


def test_second_start_raises(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        reply = raw.request("GET", "/twice")
    assert reply.status == 200
    assert reply.body == b"second start refused"
    assert any(c.startswith("RuntimeError") for c in probe.calls()), probe.calls()


def test_header_injection_is_refused(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(http11("GET", "/badheaders"))
        sock.settimeout(WAIT)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    assert b"pwned" not in data.lower()
    assert b"should not be sent" not in data
    assert data == b"" or data.startswith(b"HTTP/1.1 500 "), data
    assert wait_for(lambda: "Exception in ASGI application" in probe.log), probe.log
    with Raw(probe.port) as raw:
        assert raw.request("GET", "/").body == b"ok"


# --------------------------------------------------------------------------- 100-continue


def test_expect_100_continue_sent_when_app_reads(probe: ServerProcess) -> None:
    headers = [("expect", "100-continue"), ("content-length", "11")]
    with Raw(probe.port) as raw:
        raw.send(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
            b"Content-Length: 11\r\n\r\n"
        )
        raw.track("POST", "/echo", b"hello there", headers)
        interim = raw.read(stop_at_informational=True)
        assert interim.informational[0].status_code == 100
        assert interim.informational[0].http_version == b"1.1"
        raw.send(b"hello there")
        reply = raw.read()
        assert reply.informational == [], "more than one 100 Continue"
        assert reply.status == 200
        assert reply.body == b"hello there"
        again = raw.request("GET", "/")
        assert again.body == b"ok"


def test_expect_100_continue_not_sent_to_http10(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        # the application is now waiting in receive(): a 100 would be written now
        assert wait_for_call(probe, "POST /echo")
        time.sleep(0.1)
        sock.sendall(b"hello")
        data = read_until_closed(sock)
    assert b"100 Continue" not in data
    assert b" 100 " not in data.split(b"\r\n", 1)[0]
    status, _, body = split_response(data)
    assert b" 200" in status
    assert body == b"hello"


def test_expect_100_continue_not_sent_when_app_does_not_read(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        raw.send(
            b"POST / HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        raw.track("POST", "/", b"12345", [("expect", "100-continue")])
        reply = raw.read()
    assert reply.informational == []
    assert reply.status == 200
    assert reply.body == b"ok"


# --------------------------------------------------------------------------- app errors


def test_exception_before_start_gives_500_and_logs_traceback(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        reply = raw.request("GET", "/error/before")
    assert reply.status == 500
    assert wait_for(lambda: "boom before start" in probe.log), probe.log
    assert "Exception in ASGI application" in probe.log
    assert "Traceback" in probe.log
    with Raw(probe.port) as raw:
        assert raw.request("GET", "/").body == b"ok"


def test_exception_after_start_closes_connection(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(http11("GET", "/error/after") + http11("GET", "/not-served"))
        data = read_until_closed(sock)
    assert b"partial" in data
    assert_cut_short(data)
    assert "GET /not-served" not in probe.calls()
    assert wait_for(lambda: "boom after start" in probe.log), probe.log
    with Raw(probe.port) as raw:
        assert raw.request("GET", "/").body == b"ok"


def test_no_response_gives_500(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        reply = raw.request("GET", "/noresponse")
    assert reply.status == 500
    with Raw(probe.port) as raw:
        assert raw.request("GET", "/").body == b"ok"


def test_incomplete_response_closes_connection(probe: ServerProcess) -> None:
    with connect(probe.port) as sock:
        sock.sendall(http11("GET", "/incomplete") + http11("GET", "/not-served"))
        data = read_until_closed(sock)
    assert b"partial" in data
    assert_cut_short(data)
    assert "GET /not-served" not in probe.calls()
    with Raw(probe.port) as raw:
        assert raw.request("GET", "/").body == b"ok"


# --------------------------------------------------------------------------- disconnect


@pytest.mark.parametrize(
    "request_bytes",
    [
        http11("GET", "/disconnect"),
        http11("POST", "/disconnect")[:-2] + b"Content-Length: 100\r\n\r\npart",
    ],
    ids=["no-body", "mid-body"],
)
def test_client_going_away_delivers_http_disconnect(tmp_path: Path, request_bytes: bytes) -> None:
    # With --limit-concurrency 1, a request still counted as in flight after the app
    # returned would turn every later request into a 503.
    args = ("--limit-concurrency", "1", "--timeout-graceful-shutdown", "2")
    with serve(PROBE, *args, tmp=tmp_path) as server:
        sock = connect(server.port)
        sock.sendall(request_bytes)
        assert wait_for(lambda: any(c.endswith(" /disconnect") for c in server.calls()))
        sock.close()
        assert wait_for_call(server, "saw http.disconnect"), server.calls()

        def served() -> bool:
            with Raw(server.port) as raw:
                return raw.request("GET", "/").status == 200

        assert wait_for(served), "the finished request is still counted as in flight (503)"
        assert server.stop() == 0
    assert "still in flight" not in server.log, server.log


def test_send_after_disconnect_raises_oserror(tmp_path: Path) -> None:
    # (a short graceful deadline keeps this test to its point; the in-flight count after
    # a disconnect is checked by the tests around it)
    with serve(PROBE, "--timeout-graceful-shutdown", "2", tmp=tmp_path) as server:
        sock = connect(server.port)
        sock.sendall(http11("GET", "/send-after-disconnect"))
        assert wait_for_call(server, "GET /send-after-disconnect")
        sock.close()
        assert wait_for(lambda: any(c.startswith("send ") for c in server.calls()))
        outcome = next(c for c in server.calls() if c.startswith("send "))
    assert outcome.startswith("send raised ") and outcome.endswith("oserror=True"), outcome


def test_request_answered_after_client_left_is_not_left_in_flight(tmp_path: Path) -> None:
    args = ("--limit-concurrency", "1", "--timeout-graceful-shutdown", "2")
    with serve(PROBE, *args, tmp=tmp_path) as server:
        sock = connect(server.port)
        sock.sendall(http11("GET", "/slow?t=0.3"))
        assert wait_for_call(server, "GET /slow")
        sock.close()  # the app answers after the client has gone

        def served() -> bool:
            with Raw(server.port) as raw:
                return raw.request("GET", "/").status == 200

        assert wait_for(served), "the finished request is still counted as in flight (503)"
        assert server.stop() == 0


def test_receive_after_response_gives_http_disconnect(probe: ServerProcess) -> None:
    with Raw(probe.port) as raw:
        reply = raw.request("GET", "/after-complete")
        assert reply.body == b"done"
        # the connection is still open: the response being complete is enough
        assert wait_for_call(probe, "after complete: http.disconnect"), probe.calls()
        assert raw.request("GET", "/").body == b"ok"


# --------------------------------------------------------------------------- lifespan


def test_lifespan_state_reaches_requests(probe: ServerProcess) -> None:
    with httpx.Client(base_url=probe.url) as client:
        assert client.get("/state").json() == {"greeting": "hello from lifespan"}


def test_lifespan_startup_failure_exits_non_zero(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYRE_TEST_FAIL_STARTUP": "1",
        "PYRE_TEST_CALLS": str(tmp_path / "calls.txt"),
    }
    command = [sys.executable, "-m", "pyre", PROBE, "--host", "127.0.0.1", "--port", "0"]
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"server kept running after a failed startup: {exc.output}") from None
    assert result.returncode != 0, result.stdout
    assert "database unreachable" in result.stdout
    assert "Pyre running on" not in result.stdout


def test_lifespan_off_gives_no_state(tmp_path: Path) -> None:
    with serve(PROBE, "--lifespan", "off", tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/state").json() == {}
        assert server.stop() == 0
    assert "lifespan.shutdown" not in server.calls()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_lifespan_shutdown_runs_on_signal_and_exit_is_zero(tmp_path: Path, sig: int) -> None:
    with serve(PROBE, tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/").text == "ok"
        assert "lifespan.shutdown" not in server.calls()
        assert server.stop(sig) == 0, server.log
        assert "lifespan.shutdown" in server.calls()


def test_default_headers_server_header_and_no_date(tmp_path: Path) -> None:
    with serve(
        "tests.apps.probe:app",
        "--header",
        "X-Frame-Options: DENY",
        "--header",
        "content-type: text/x-default",
        "--server-header",
        "--no-date-header",
        tmp=tmp_path,
    ) as server:
        response = httpx.get(f"{server.url}/")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["server"] == "pyre"
    assert "date" not in response.headers
    # The application's own content-type wins over the default.
    assert response.headers.get_list("content-type") == ["text/plain"]


def test_date_header_by_default_and_no_server_header(probe: ServerProcess) -> None:
    response = httpx.get(f"{probe.url}/")
    assert "date" in response.headers
    assert "server" not in response.headers
