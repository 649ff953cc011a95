"""Running out of file descriptors does not stop the server for good: connections
that could not be accepted wait in the backlog and are served once descriptors free
up (accepting is retried every second, since no new readiness event comes for
connections already waiting). Meanwhile the server does not spin: readiness is
edge-triggered, so a connection left waiting does not wake the loop again and again
(only a newly arriving one does, once)."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from tests.procfs import cpu_seconds
from tests.support import start_with_calls, wait_for_port

FD_LIMIT = 48
REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
# While at the limit, the server may use at most this share of one CPU (a spinning
# accept loop uses all of it).
IDLE_CPU_SHARE = 0.2


def test_connections_beyond_the_fd_limit_are_served_once_fds_free_up_without_spinning(
    tmp_path: Path,
) -> None:
    code = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))\n"
        "import pyre\n"
        "from tests.apps.probe import app\n"
        "pyre.run(app, port=0, access_log=False)\n"
    )
    process = start_with_calls([sys.executable, "-c", code], tmp_path / "calls.txt")
    try:
        port = wait_for_port(process)
        first = [_request(port) for _ in range(FD_LIMIT)]
        # The server now holds as many connections as it can: these wait unaccepted.
        waiting = [_request(port) for _ in range(10)]
        time.sleep(0.5)
        # At the limit with connections waiting in the backlog: no busy loop.
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        time.sleep(2)
        cpu = cpu_seconds(process.pid) - cpu_before
        wall = time.monotonic() - wall_before
        assert cpu < IDLE_CPU_SHARE * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s at the fd limit"
        for sock in first:
            sock.close()
        for sock in waiting:
            sock.settimeout(10)
            reply = sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200 OK"), reply
            sock.close()
        # And it keeps serving new connections normally.
        fresh = _request(port)
        fresh.settimeout(5)
        assert fresh.recv(4096).startswith(b"HTTP/1.1 200 OK")
        fresh.close()
    finally:
        process.terminate()
        assert process.wait(15) == 0


def _request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(REQUEST)
    return sock
