"""Raw-socket helpers for the conformance suites: build requests, read responses one
by one (Content-Length, chunked, close-delimited, or no body for HEAD/1xx/204/304),
and look up what the application recorded (tests/apps/conformance.py).

Every wait is bounded: a server that neither answers nor closes fails the test.
"""

from __future__ import annotations

import json
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support import ServerProcess, connect

TIMEOUT = 3.0


def request(start_line: bytes, *fields: bytes, body: bytes = b"") -> bytes:
    """``start_line``, the field lines (CRLF added), an empty line and ``body``."""
    return start_line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


def token() -> str:
    """A path segment unique to one test, to find its calls in the shared record."""
    return uuid.uuid4().hex[:12]


@dataclass
class Response:
    version: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name.lower()]
        return ", ".join(values) if values else None

    def has(self, name: str) -> bool:
        return any(n == name.lower() for n, _ in self.headers)

    def json(self) -> Any:
        return json.loads(self.body)


#: Ports of servers speaking TLS, with the client context to wrap connections in: the
#: conformance cases run over TLS too (tests/conformance/conftest.py).
TLS_PORTS: dict[int, ssl.SSLContext] = {}


@dataclass
class Conn:
    """A client connection reading responses off one socket."""

    sock: socket.socket
    buf: bytes = b""
    eof: bool = False
    sent: list[bytes] = field(default_factory=list)

    @classmethod
    def open(cls, port: int) -> Conn:
        sock = connect(port, TIMEOUT)
        context = TLS_PORTS.get(port)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="localhost")
        return cls(sock)

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server may refuse and close before reading everything

    def shutdown_write(self) -> None:
        """Half-closes the TCP connection (FIN). Over TLS too: the socket's own
        shutdown, so the TLS session stays usable for reading what comes back."""
        socket.socket.shutdown(self.sock, socket.SHUT_WR)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            chunk = b""
        except TimeoutError:
            raise AssertionError(
                f"server neither answered nor closed within {TIMEOUT}s; got {self.buf[:300]!r}"
            ) from None
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            assert self._fill(), f"connection closed mid-line: {self.buf[:300]!r}"
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            assert self._fill(), f"connection closed mid-body: {self.buf[:300]!r}"
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, method: str = "GET") -> Response:
        """The next response (a 1xx included), framed as RFC 9112 section 6.3 says."""
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"connection closed before a response head: {self.buf[:300]!r}"
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        version, status, *_ = lines[0].split(b" ", 2)
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            assert colon and name == name.strip(), f"bad response field line {line!r}"
            headers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
        response = Response(version, int(status), headers, b"", head)
        code = response.status
        if method == "HEAD" or code < 200 or code in (204, 304):
            return response
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            response.body = body
        elif response.has("content-length"):
            response.body = self._take(int(response.header("content-length") or "0"))
        else:
            while self._fill():
                pass
            response.body, self.buf = self.buf, b""
        return response

    def closed(self, timeout: float = 1.0) -> bool:
        """True when the server closed the connection within ``timeout`` after what has
        been read, sending nothing more."""
        if self.buf:
            return False
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except AssertionError:
            return False
        finally:
            self.sock.settimeout(TIMEOUT)


def calls(server: ServerProcess, mark: str) -> list[dict[str, Any]]:
    """What the application recorded for requests whose path or a field value contains
    ``mark``."""
    return [
        c
        for c in map(json.loads, server.calls())
        if mark in c["path"] or any(mark in value for _, value in c["headers"])
    ]


def paths(server: ServerProcess, mark: str) -> list[str]:
    return [c["path"] for c in calls(server, mark)]
