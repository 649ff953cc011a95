"""Helpers for black-box tests: start a real Pyre process on a free loopback port,
and talk to it over raw sockets.

``serve("tests.apps.probe:app", "--limit-concurrency", "1")`` starts
``python -m pyre`` with ``--port 0``, waits for the log line naming the bound port,
and on exit stops it with SIGINT (SIGKILL after a timeout), so no process outlives
its test. The log is kept for assertions.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Pyre running on http://127\.0\.0\.1:(\d+)")
SUPERVISOR_READY = re.compile(r"Pyre supervisor \[\d+\] on http://127\.0\.0\.1:(\d+)")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    port: int
    calls_file: Path
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """The first output line containing ``text``, waiting for the reader thread to
        collect it (output arrives asynchronously through a pipe)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if text in line:
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"{text!r} not logged within {timeout}s:\n{self.log}")
            time.sleep(0.02)

    def calls(self) -> list[str]:
        """The complete lines the application recorded so far: a line it is still
        writing (another request's, possibly) has no newline yet and is left out."""
        if not self.calls_file.exists():
            return []
        text = self.calls_file.read_text()
        return text[: text.rfind("\n") + 1].splitlines()

    def stop(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT) -> int:
        """Sends ``sig`` and waits; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not stop within {timeout}s\n{self.log}") from None
        if self.reader is not None:
            self.reader.join(5)  # so that the log is complete once stop() returns
        return status


def start(
    command: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[str]:
    """Starts a server command from the repository root, output (merged) piped."""
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=pass_fds,
    )


def start_with_calls(command: list[str], calls: Path) -> subprocess.Popen[str]:
    """`start`, with the probe application recording its calls to ``calls``."""
    return start(command, {**os.environ, "PYRE_TEST_CALLS": str(calls)})


@contextlib.contextmanager
def serve(
    app: str, *args: str, env: dict[str, str] | None = None, tmp: Path
) -> Iterator[ServerProcess]:
    """Pyre serving ``app`` with ``args`` on a free loopback port."""
    command = [sys.executable, "-m", "pyre", app, "--host", "127.0.0.1", "--port", "0", *args]
    with serve_command(command, READY, env=env, tmp=tmp) as server:
        yield server


UDS_READY = re.compile(r"Pyre running on unix socket ")


@contextlib.contextmanager
def serve_uds(app: str, path: Path, *args: str, tmp: Path) -> Iterator[ServerProcess]:
    """Pyre serving ``app`` on a Unix domain socket at ``path``."""
    command = [sys.executable, "-m", "pyre", app, "--uds", str(path), *args]
    with serve_command(command, UDS_READY, tmp=tmp) as server:
        yield server


UVICORN_READY = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def serve_uvicorn(app: str, *args: str, tmp: Path) -> Iterator[ServerProcess]:
    """uvicorn (a real third-party ASGI server) serving ``app`` on a free port."""
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "0", *args]
    with serve_command(command, UVICORN_READY, tmp=tmp) as server:
        yield server


@contextlib.contextmanager
def serve_command(
    command: list[str],
    ready_line: re.Pattern[str],
    *,
    env: dict[str, str] | None = None,
    tmp: Path,
    pass_fds: tuple[int, ...] = (),
) -> Iterator[ServerProcess]:
    """Starts a server command, waits for the log line naming its port, and stops it
    on exit (SIGINT, then SIGKILL). ``pass_fds`` are inherited by the server."""
    calls_file = tmp / f"calls-{time.monotonic_ns()}.txt"
    environment = {**os.environ, "PYRE_TEST_CALLS": str(calls_file), **(env or {})}
    process = start(command, environment, pass_fds)
    server = ServerProcess(process, 0, calls_file)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.lines.append(line.rstrip("\n"))
            match = ready_line.search(line)
            if match:
                # A TCP server names its port; a Unix socket server has none (-1).
                server.port = int(match.group(1)) if match.lastindex else -1
                ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    server.reader = reader
    reader.start()
    if not ready.wait(START_TIMEOUT) or server.port == 0:
        process.kill()
        process.wait()
        raise AssertionError(f"server did not start: {command}\n{server.log}")
    try:
        yield server
    finally:
        server.stop()


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_until_closed(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Sends raw bytes, then reads until the server closes (half-closing our side is
    avoided: the server would treat it as a disconnect)."""
    with connect(port, timeout) as sock:
        sock.sendall(request)
        return read_until_closed(sock)


def is_closed(sock: socket.socket, timeout: float = 2.0) -> bool:
    """True when the server has closed the connection (EOF or reset) within
    ``timeout`` and sent nothing more."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_for_port(process: subprocess.Popen[str], timeout: float = START_TIMEOUT) -> int:
    """Reads a server process's output until the line naming its port; kills the
    process and fails if it does not appear within ``timeout``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = READY.search(line)
        if match:
            return int(match.group(1))
    process.kill()
    process.wait()
    raise AssertionError("server did not start:\n" + "".join(seen))


def send_until_blocked(
    sock: socket.socket, block: bytes, total: int, seconds: float, stall: float = 0.5
) -> tuple[int, bool]:
    """Sends ``block`` repeated (``total`` bytes at most) without blocking for up to
    ``seconds``; returns the bytes sent and whether sending stalled for ``stall``
    seconds (the peer stopped reading)."""
    sock.setblocking(False)
    written, stalled_since, started = 0, None, time.monotonic()
    while written < total and time.monotonic() - started < seconds:
        offset = written % len(block)
        try:
            written += sock.send(block[offset : offset + min(len(block) - offset, total - written)])
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > stall:
                return written, True
            select.select([], [sock], [], 0.05)
    return written, False


def send_rest(sock: socket.socket, block: bytes, written: int, total: int) -> None:
    """Sends the rest of ``block`` repeated, from ``written`` to ``total`` bytes,
    blocking."""
    sock.setblocking(True)
    sock.settimeout(60)
    while written < total:
        offset = written % len(block)
        written += sock.send(block[offset : offset + min(len(block) - offset, total - written)])


def children(pid: int) -> set[int]:
    """The live (not zombie) child processes of ``pid``, from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Polls ``condition`` until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
