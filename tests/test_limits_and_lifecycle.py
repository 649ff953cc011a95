"""Timeouts, limits, listeners and the process lifecycle, black-box over real sockets
(issue 3, items 1 and 6): keep-alive and header timeouts, --limit-concurrency,
graceful shutdown on SIGINT/SIGTERM, --uds, --fd, IPv6, many connections, slow
clients.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, connect, is_closed, read_until_closed, serve

PROBE = "tests.apps.probe:app"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(sock: socket.socket) -> Response:
    """Reads exactly one response with a Content-Length body from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a complete response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.1 (\d{3}) .*", lines[0])
    assert match, lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the response body"
        body += chunk
    assert len(body) == length, f"more bytes than the response: {body!r}"
    return Response(int(match.group(1)), headers, body)


def get(path: str, *fields: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: test", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Background(threading.Thread):
    """Runs ``fn`` in a thread and keeps its result or exception."""

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: object = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:
            self.error = exc

    def value(self, timeout: float) -> object:
        self.join(timeout)
        assert not self.is_alive(), f"background call still running after {timeout}s"
        if self.error is not None:
            raise self.error
        return self.result


def slow_request(port: int, seconds: float) -> Response:
    with connect(port, timeout=seconds + 10) as sock:
        sock.sendall(get(f"/slow?t={seconds}"))
        response = read_response(sock)
        if response.headers.get("connection") == "close":
            assert read_until_closed(sock) == b""
        return response


# --- Timeouts


def test_keep_alive_idle_timeout_closes(tmp_path: Path) -> None:
    with (
        serve(PROBE, "--timeout-keep-alive", "1", tmp=tmp_path) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(get("/"))
        response = read_response(sock)
        assert response.status == 200
        assert response.headers.get("connection") != "close"
        # Idle: the server closes within ~1 s (tick granularity), sending nothing.
        started = time.monotonic()
        assert is_closed(sock, timeout=4.0), "idle keep-alive connection not closed"
        assert time.monotonic() - started > 0.5, "closed before the keep-alive timeout"


def test_keep_alive_connection_is_reused_before_timeout(tmp_path: Path) -> None:
    with (
        serve(PROBE, "--timeout-keep-alive", "3", tmp=tmp_path) as server,
        connect(server.port) as sock,
    ):
        for path in ("/a", "/b", "/c"):
            sock.sendall(get(path))
            assert read_response(sock).status == 200
            time.sleep(0.5)
        assert server.calls() == ["GET /a", "GET /b", "GET /c"]


def test_header_timeout_partial_head_gets_408(tmp_path: Path) -> None:
    with (
        serve(PROBE, "--timeout-header", "1", tmp=tmp_path) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n")
        sock.settimeout(5)
        data = read_until_closed(sock)  # returns only once the server closes
        assert data.startswith(b"HTTP/1.1 408 "), data
        assert b"\r\nconnection: close\r\n" in data.lower(), data
        assert server.calls() == []


def test_header_timeout_closes_silent_connection(tmp_path: Path) -> None:
    with (
        serve(PROBE, "--timeout-header", "1", tmp=tmp_path) as server,
        connect(server.port) as sock,
    ):
        started = time.monotonic()
        sock.settimeout(5)
        data = read_until_closed(sock)
        assert time.monotonic() - started < 4.5, "silent connection not closed in time"
        assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
        assert server.calls() == []


def test_header_timeout_counts_from_first_byte_not_last(tmp_path: Path) -> None:
    """Slowloris: one byte every 0.3 s never completes a head within the timeout; the
    deadline must not move with each byte."""
    with (
        serve(PROBE, "--timeout-header", "1", tmp=tmp_path) as server,
        connect(server.port) as sock,
    ):
        head = get("/slowloris")  # complete only after ~9 s at this pace
        received = b""
        deadline = time.monotonic() + 8
        sock.settimeout(0.3)
        for byte in head:
            try:
                sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            with contextlib.suppress(TimeoutError):
                chunk = sock.recv(4096)
                received += chunk
                if not chunk or received.startswith(b"HTTP/1.1 408"):
                    break
            assert time.monotonic() < deadline
        assert received.startswith(b"HTTP/1.1 408 "), received
        assert server.calls() == []


def test_slow_client_within_header_timeout_is_answered(tmp_path: Path) -> None:
    with (
        serve(PROBE, "--timeout-header", "3", tmp=tmp_path) as server,
        connect(server.port) as sock,
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = get("/dribble", "Connection: close")
        for byte in request:  # ~55 bytes, ~1.1 s in all
            sock.sendall(bytes([byte]))
            time.sleep(0.02)
        response = read_response(sock)
        assert response.status == 200
        assert response.body == b"ok"
        assert server.calls() == ["GET /dribble"]


# --- --limit-concurrency


def test_limit_concurrency_answers_503_then_recovers(tmp_path: Path) -> None:
    with serve(PROBE, "--limit-concurrency", "1", tmp=tmp_path) as server:
        slow = Background(lambda: slow_request(server.port, 2))
        wait_until(lambda: "GET /slow" in server.calls(), 5, "the slow request to start")
        with connect(server.port) as sock:
            sock.sendall(get("/second"))
            data = read_until_closed(sock)
        response = parse_bytes(data)
        assert response.status == 503, data
        assert response.headers.get("connection") == "close", data
        assert "GET /second" not in server.calls()
        first = slow.value(10)
        assert isinstance(first, Response)
        assert (first.status, first.body) == (200, b"slow done")
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/third").text == "ok"
            assert client.get("/fourth").text == "ok"
        assert server.calls() == ["GET /slow", "GET /third", "GET /fourth"]


def test_limit_concurrency_counts_requests_not_connections(tmp_path: Path) -> None:
    with serve(PROBE, "--limit-concurrency", "1", tmp=tmp_path) as server:
        socks = [connect(server.port) for _ in range(3)]
        try:
            for i, sock in enumerate(socks):
                sock.sendall(get(f"/c{i}"))
                assert read_response(sock).status == 200
        finally:
            for sock in socks:
                sock.close()


def test_client_leaving_mid_body_frees_its_concurrency_slot(tmp_path: Path) -> None:
    """A client that sends part of a body and goes away: the request is over, so it
    must not keep counting against --limit-concurrency."""
    # A short shutdown deadline, so that a leaked request cannot hide this test's
    # verdict behind a stop timeout.
    args = ("--limit-concurrency", "1", "--log-level", "debug", "--timeout-graceful-shutdown", "2")
    with serve(PROBE, *args, tmp=tmp_path) as server:
        with connect(server.port) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 42\r\n\r\nhello")
            wait_until(lambda: "POST /echo" in server.calls(), 5, "the app to be called")
        wait_until(lambda: "client disconnected" in server.log, 5, "the disconnect to be seen")
        time.sleep(0.2)
        with connect(server.port) as sock:
            sock.sendall(get("/after", "Connection: close"))
            data = read_until_closed(sock)
        assert parse_bytes(data).status == 200, data


def parse_bytes(data: bytes) -> Response:
    class Replay:
        def __init__(self) -> None:
            self.data = data

        def recv(self, _n: int) -> bytes:
            out, self.data = self.data, b""
            return out

    return read_response(Replay())  # type: ignore[arg-type]


# --- Graceful shutdown


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_sigint_lets_in_flight_request_finish(tmp_path: Path) -> None:
    with serve(PROBE, tmp=tmp_path) as server:
        slow = Background(lambda: slow_request(server.port, 1.5))
        wait_until(lambda: "GET /slow" in server.calls(), 5, "the slow request to start")
        stopper = Background(lambda: server.stop(signal.SIGINT))
        wait_until(lambda: refused(server.port), 1.0, "new connections to be refused")
        assert slow.is_alive(), "the slow request ended before it could finish"
        response = slow.value(10)
        assert isinstance(response, Response)
        assert (response.status, response.body) == (200, b"slow done")
        assert response.headers.get("connection") == "close"
        assert stopper.value(10) == 0
        assert server.calls() == ["GET /slow", "lifespan.shutdown"]
        assert "Finished server process" in server.log


def test_sigint_closes_idle_keep_alive_connections(tmp_path: Path) -> None:
    with serve(PROBE, tmp=tmp_path) as server, connect(server.port) as sock:
        sock.sendall(get("/"))
        assert read_response(sock).status == 200
        stopper = Background(lambda: server.stop(signal.SIGINT))
        assert is_closed(sock, timeout=5.0)
        assert stopper.value(10) == 0


def test_a_request_sent_just_after_sigint_on_a_busy_keep_alive_connection_is_served(
    tmp_path: Path,
) -> None:
    # The client may already be sending its next request when the server stops:
    # closing at once would lose it. It is answered, with Connection: close.
    with serve(PROBE, tmp=tmp_path) as server, connect(server.port) as sock:
        sock.sendall(get("/"))
        assert read_response(sock).status == 200
        stopper = Background(lambda: server.stop(signal.SIGINT))
        server.wait_for_log("Shutting down")
        sock.sendall(get("/"))
        response = read_response(sock)
        assert response.status == 200
        assert response.headers.get("connection") == "close"
        assert is_closed(sock, timeout=5.0)
        assert stopper.value(10) == 0


def test_graceful_shutdown_deadline(tmp_path: Path) -> None:
    with serve(PROBE, "--timeout-graceful-shutdown", "1", tmp=tmp_path) as server:
        sock = connect(server.port, timeout=10)
        try:
            sock.sendall(get("/slow?t=10"))
            wait_until(lambda: "GET /slow" in server.calls(), 5, "the slow request to start")
            started = time.monotonic()
            assert server.stop(signal.SIGINT, timeout=6) == 0
            assert time.monotonic() - started < 6
            data = read_until_closed(sock)
            assert b"slow done" not in data
        finally:
            sock.close()
        assert "lifespan.shutdown" in server.calls()


def test_sigterm_behaves_like_sigint(tmp_path: Path) -> None:
    with serve(PROBE, tmp=tmp_path) as server:
        slow = Background(lambda: slow_request(server.port, 1))
        wait_until(lambda: "GET /slow" in server.calls(), 5, "the slow request to start")
        assert server.stop(signal.SIGTERM) == 0
        response = slow.value(5)
        assert isinstance(response, Response)
        assert (response.status, response.body) == (200, b"slow done")
        assert server.calls() == ["GET /slow", "lifespan.shutdown"]


def test_shutdown_not_held_up_by_abandoned_request(tmp_path: Path) -> None:
    """A client that left mid-body has no request in flight any more: SIGINT must not
    wait for the graceful-shutdown deadline because of it."""
    args = ("--log-level", "debug", "--timeout-graceful-shutdown", "5")
    with serve(PROBE, *args, tmp=tmp_path) as server:
        with connect(server.port) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 42\r\n\r\nhello")
            wait_until(lambda: "POST /echo" in server.calls(), 5, "the app to be called")
        wait_until(lambda: "client disconnected" in server.log, 5, "the disconnect to be seen")
        started = time.monotonic()
        assert server.stop(signal.SIGINT, timeout=8) == 0
        assert time.monotonic() - started < 3, server.log


# --- Listeners other than IPv4 TCP: the process is started here, since serve() waits
# for an IPv4 URL in the log.


@dataclass
class Spawned:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def spawn(
    tmp_path: Path, ready: str, *args: str, pass_fds: tuple[int, ...] = ()
) -> Iterator[tuple[Spawned, re.Match[str]]]:
    """Starts ``python -m pyre tests.apps.probe:app ARGS`` and waits for a log line
    matching ``ready``; SIGINT (then SIGKILL) on exit."""
    env = {**os.environ, "PYRE_TEST_CALLS": str(tmp_path / "calls.txt")}
    process = subprocess.Popen(
        [sys.executable, "-m", "pyre", PROBE, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=pass_fds,
    )
    spawned = Spawned(process)
    found: list[re.Match[str]] = []
    event = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            spawned.lines.append(line.rstrip("\n"))
            match = re.search(ready, line)
            if match and not found:
                found.append(match)
                event.set()
        event.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if not event.wait(15) or not found:
            raise AssertionError(f"server did not start ({ready!r} not logged):\n{spawned.log}")
        yield spawned, found[0]
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0, spawned.log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)


def test_unix_domain_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "pyre.sock")
    # Twice on the same path: a socket file left by the first run must not stop the
    # second from binding.
    for _ in range(2):
        with spawn(tmp_path, r"Pyre running on unix socket (\S+)", "--uds", path) as (_, match):
            assert match.group(1) == path
            transport = httpx.HTTPTransport(uds=path)
            with httpx.Client(transport=transport, base_url="http://localhost") as client:
                response = client.get("/scope")
                assert response.status_code == 200
                scope = response.json()
                assert client.get("/").text == "ok"
            assert scope["client"] is None
            assert scope["server"] == [path, None]


def test_inherited_fd(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        ready = rf"Pyre running on http://127\.0\.0\.1:{port}\b"
        with spawn(tmp_path, ready, "--fd", str(fd), pass_fds=(fd,)):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                scope = client.get("/scope").json()
                assert client.get("/").text == "ok"
            assert scope["server"] == ["127.0.0.1", port]
            assert scope["client"][0] == "127.0.0.1"


def ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe_sock:
            probe_sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_loopback(tmp_path: Path) -> None:
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback: socket.has_ipv6 is false or binding ::1 failed")
    with spawn(
        tmp_path, r"Pyre running on http://\[::1\]:(\d+)", "--host", "::1", "--port", "0"
    ) as (_, match):
        port = int(match.group(1))
        with socket.create_connection(("::1", port), timeout=5) as sock:
            sock.sendall(get("/scope", "Connection: close"))
            response = read_response(sock)
        assert response.status == 200
        scope = json.loads(response.body)
        assert scope["server"] == ["::1", port]
        assert scope["client"][0] == "::1"


# --- Many connections


def test_two_hundred_keep_alive_connections(tmp_path: Path) -> None:
    with serve(PROBE, "--no-access-log", tmp=tmp_path) as server:
        socks: list[socket.socket] = []
        try:
            for _ in range(200):
                socks.append(connect(server.port, timeout=10))
            for round_ in range(2):  # the second round proves the connections stayed open
                for i, sock in enumerate(socks):
                    sock.sendall(get(f"/r{round_}/c{i}"))
                for sock in socks:
                    response = read_response(sock)
                    assert (response.status, response.body) == (200, b"ok")
                    assert response.headers.get("connection") != "close"
        finally:
            for sock in socks:
                sock.close()
        assert len(server.calls()) == 400
