"""Floods of connections: 10,000 at once, each with a request, are all answered; 5,000
that never send a byte are closed by the header timeout while a normal client is still
served. Afterwards the server holds no more descriptors than before.

Both tests raise RLIMIT_NOFILE (soft, and hard when allowed) for this process and so
for the server it starts, since each connection costs one descriptor on each side."""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procfs import open_fds
from tests.support import connect, serve, wait_for

REQUEST = b"GET / HTTP/1.1\r\nHost: flood\r\n\r\n"


@contextlib.contextmanager
def fd_limit(wanted: int) -> Iterator[None]:
    """RLIMIT_NOFILE raised to ``wanted`` (or as far as allowed) for the block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def need_fds(count: int) -> None:
    available = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if available < count:
        pytest.fail(f"RLIMIT_NOFILE is {available}; this test needs {count} (raise the hard limit)")


def open_many(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(sock)
    return socks


def read_all_answers(socks: list[socket.socket], timeout: float) -> dict[socket.socket, bytes]:
    """Reads from every socket until each holds a complete "ok" answer (the probe
    app's body, with its Content-Length) or ``timeout`` passes."""
    replies = dict.fromkeys(socks, b"")
    pending = set(socks)
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(4096)
                except (BlockingIOError, ConnectionResetError):
                    chunk = b""
                replies[sock] += chunk
                if not chunk or replies[sock].endswith(b"\r\n\r\nok"):
                    pending.discard(sock)
                    selector.unregister(sock)
    return replies


def test_ten_thousand_simultaneous_connections_are_served(tmp_path: Path) -> None:
    count = 10_000
    with fd_limit(25_000):
        need_fds(count + 1000)
        with serve(
            "tests.apps.probe:app", "--no-access-log", "--backlog", "4096", tmp=tmp_path
        ) as server:
            pid = server.process.pid
            baseline = open_fds(pid)
            socks = open_many(server.port, count)
            try:
                for sock in socks:
                    sock.sendall(REQUEST)
                replies = read_all_answers(socks, timeout=30)
                # All were open in the server at once (keep-alive: none closed yet).
                assert open_fds(pid) >= baseline + count
                bad = [r for r in replies.values() if not r.startswith(b"HTTP/1.1 200 OK")]
                assert not bad, f"{len(bad)} of {count} not answered, e.g. {bad[:3]}"
            finally:
                for sock in socks:
                    sock.close()
            wait_for(lambda: open_fds(pid) == baseline, timeout=15)
            with connect(server.port) as sock:
                sock.sendall(REQUEST)
                assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
            assert server.process.poll() is None


def test_a_flood_of_silent_connections_is_closed_by_the_header_timeout(tmp_path: Path) -> None:
    count = 5_000
    timeout_header = 5
    with fd_limit(25_000):
        need_fds(count + 1000)
        args = ("--no-access-log", "--backlog", "4096", "--timeout-header", str(timeout_header))
        with serve("tests.apps.probe:app", *args, tmp=tmp_path) as server:
            pid = server.process.pid
            baseline = open_fds(pid)
            started = time.monotonic()
            silent = open_many(server.port, count)
            try:
                # During the flood, a normal client is served.
                wait_for(lambda: open_fds(pid) >= baseline + count, timeout=timeout_header)
                with connect(server.port) as sock:
                    sock.sendall(REQUEST)
                    assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
                    assert time.monotonic() - started < timeout_header  # really during it
                # The silent ones are closed by the server: EOF (or a 408, then EOF).
                replies = read_all_answers(silent, timeout=timeout_header + 10)
                still_open = [s for s in silent if _open(s)]
                assert not still_open, f"{len(still_open)} silent connections not closed"
                odd = {r for r in replies.values() if r and not r.startswith(b"HTTP/1.1 408")}
                assert not odd, odd
            finally:
                for sock in silent:
                    sock.close()
            wait_for(lambda: open_fds(pid) == baseline, timeout=10)
            assert server.process.poll() is None


def _open(sock: socket.socket) -> bool:
    """True when the peer has not closed ``sock`` (nothing to read, no EOF)."""
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
