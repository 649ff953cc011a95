"""The minimum data rate (``--min-rate``, ``--min-rate-grace``): a client that
trickles a request body or reads a response too slowly, while the server waits on it,
is disconnected once the grace is used up; time the server spends on its own does
not count (issue 9, item 4: slow-body and slow-read attackers closed by a timeout).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.support import connect, serve

PROBE = "tests.apps.probe:app"
FAST_RULE = ("--min-rate", "1000", "--min-rate-grace", "1", "--log-level", "debug")


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Sends ``trickle`` every 0.2 s (if any) and reads, until the server closes the
    connection (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if trickle:
                sock.sendall(trickle)
            if sock.recv(1 << 20) == b"":
                return True
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def test_a_trickled_body_is_cut_off(tmp_path: Path) -> None:
    with serve(PROBE, *FAST_RULE, tmp=tmp_path) as server:
        with connect(server.port) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            # 5 bytes every 0.2 s is 25 bytes/s, far under 1000.
            assert closed_within(sock, 6.0, trickle=b"x" * 5)
        line = server.wait_for_log("client too slow")
        assert "408" in line


def test_the_rule_can_be_turned_off(tmp_path: Path) -> None:
    with serve(PROBE, "--min-rate", "0", tmp=tmp_path) as server:
        with connect(server.port) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            assert not closed_within(sock, 3.0, trickle=b"x" * 5)


def test_a_client_that_does_not_read_is_cut_off(tmp_path: Path) -> None:
    total = 64 * 1024 * 1024
    rule = ("--min-rate", "20000000", "--min-rate-grace", "1", "--log-level", "debug")
    with serve(PROBE, *rule, tmp=tmp_path) as server:
        with connect(server.port, timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(f"GET /length?n={total} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            time.sleep(4)  # reads nothing: the server waits on the client
            received = 0
            try:
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
            except ConnectionResetError:
                pass
        assert received < total
        server.wait_for_log("client too slow")


def test_an_application_taking_its_time_is_not_a_slow_client(tmp_path: Path) -> None:
    with serve(PROBE, *FAST_RULE, tmp=tmp_path) as server:
        with connect(server.port, timeout=10) as sock:
            sock.sendall(b"GET /slow?t=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 "), reply


def test_a_steady_upload_passes(tmp_path: Path) -> None:
    with serve(PROBE, *FAST_RULE, tmp=tmp_path) as server:
        with connect(server.port, timeout=10) as sock:
            body = b"y" * 3000
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n")
            sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body))
            # 3000 bytes over about 2.5 s: 1200 bytes/s, above the minimum.
            for i in range(0, len(body), 300):
                sock.sendall(body[i : i + 300])
                time.sleep(0.25)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]


def test_a_slow_reader_of_an_answer_the_kernel_holds_is_cut_off(tmp_path: Path) -> None:
    """A 1 MiB answer fits in the kernel's send buffer: Pyre hands it over whole and
    the response completes, but the client reading nothing still counts as slow (its
    unacknowledged bytes are asked of the kernel)."""
    total = 1024 * 1024
    rule = ("--min-rate", "100000", "--min-rate-grace", "1", "--log-level", "debug")
    with serve(PROBE, *rule, tmp=tmp_path) as server:
        # A small receive buffer before connecting: a small window, as slowhttptest's
        # slow-read attack sets (the client's kernel takes little off the server's).
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(f"GET /length?n={total} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            time.sleep(4)  # reads nothing
            received = 0
            try:
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
            except ConnectionResetError:
                pass
        assert received < total
        server.wait_for_log("client too slow")
