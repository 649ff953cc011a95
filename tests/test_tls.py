"""The server over TLS (--ssl-*): a certificate authority and certificates made by the
tests (trustme), and curl, Python's ``ssl``, httpx and websockets as clients. What
holds over plain sockets must hold over TLS: keep-alive, pipelining, chunked bodies
both ways, big downloads and uploads, files, WebSockets, bounded memory under a slow
reader; plus what only TLS has: client certificates, handshake timeouts, plain HTTP or
garbage on the TLS port, certificate reload, and start-up errors."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
import websockets

from tests.procfs import open_fds, rss_kib
from tests.support import ROOT, ServerProcess, serve_command

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

APP = "tests.apps.tls_app:app"
TLS_READY = re.compile(r"Pyre running on https://127\.0\.0\.1:(\d+)")
METRICS_READY = re.compile(r"Pyre metrics on http://127\.0\.0\.1:(\d+)/metrics")


@dataclass
class Pki:
    ca: trustme.CA
    ca_file: Path
    cert: Path  # chain, leaf first
    key: Path
    dir: Path

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.set_alpn_protocols(["http/1.1"])
        return context


def make_pki(directory: Path, name: str = "server") -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert = directory / f"{name}-chain.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key = directory / f"{name}-key.pem"
    issued.private_key_pem.write_to_path(str(key))
    ca_file = directory / f"{name}-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, ca_file, cert, key, directory)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@contextmanager
def serve_tls(
    pki: Pki, tmp: Path, *args: str, app: str = APP, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    command = [
        sys.executable,
        "-m",
        "pyre",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ssl-certfile",
        str(pki.cert),
        "--ssl-keyfile",
        str(pki.key),
        *args,
    ]
    with serve_command(command, TLS_READY, tmp=tmp, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve_tls(pki, tmp_path_factory.mktemp("tls"), "--metrics-port", "0") as server:
        yield server


def tls_connect(pki: Pki, port: int, timeout: float = 10.0) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return pki.client_context().wrap_socket(raw, server_hostname="localhost")


def read_response(sock: ssl.SSLSocket, buffered: bytearray) -> tuple[bytes, bytes]:
    """One Content-Length or chunked response from ``sock`` (bytes past it stay in
    ``buffered``): (head, body)."""

    def fill() -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed mid-response")
        buffered.extend(chunk)

    while b"\r\n\r\n" not in buffered:
        fill()
    end = buffered.index(b"\r\n\r\n") + 4
    head = bytes(buffered[:end])
    del buffered[:end]
    lower = head.lower()
    match = re.search(rb"content-length: (\d+)", lower)
    if match:
        length = int(match.group(1))
        while len(buffered) < length:
            fill()
        body = bytes(buffered[:length])
        del buffered[:length]
        return head, body
    assert b"transfer-encoding: chunked" in lower, head
    body = bytearray()
    while True:
        while b"\r\n" not in buffered:
            fill()
        line_end = buffered.index(b"\r\n")
        size = int(buffered[:line_end], 16)
        while len(buffered) < line_end + 2 + size + 2:
            fill()
        body += buffered[line_end + 2 : line_end + 2 + size]
        del buffered[: line_end + 2 + size + 2]
        if size == 0:
            return head, bytes(body)


# --- Clients: curl, httpx, Python's ssl.


def test_curl_over_tls_with_keep_alive(pki: Pki, server: ServerProcess) -> None:
    curl = shutil.which("curl")
    assert curl, "curl is installed by scripts/test-deps.sh"
    url = f"https://localhost:{server.port}/scope"
    result = subprocess.run(
        [
            curl,
            "-sS",
            "--cacert",
            str(pki.ca_file),
            "--resolve",
            f"localhost:{server.port}:127.0.0.1",
            url,
            url,
            "-w",
            "\n%{http_version} %{num_connects}\n",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[0])["scheme"] == "https"
    # Two requests, one connection (the second reused it: 0 new connects).
    assert lines[-1] == "1.1 0", result.stdout


def test_scope_says_https_and_the_tls_extension(pki: Pki, server: ServerProcess) -> None:
    with httpx.Client(verify=str(pki.ca_file)) as client:
        seen = client.get(f"https://127.0.0.1:{server.port}/scope").json()
    assert seen["scheme"] == "https"
    tls = seen["tls"]
    assert tls["tls_version"] in (0x0303, 0x0304)
    assert tls["cipher_suite_name"].startswith("TLS")
    assert isinstance(tls["cipher_suite"], int)
    assert tls["client_cert_chain"] == []  # none asked for
    assert tls["server_name"] is None  # an IP address has no SNI


def test_sni_and_alpn_are_reported(pki: Pki, server: ServerProcess) -> None:
    with tls_connect(pki, server.port) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        sock.sendall(b"GET /scope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        _, body = read_response(sock, bytearray())
    tls = json.loads(body)["tls"]
    assert (tls["server_name"], tls["alpn_protocol"]) == ("localhost", "http/1.1")


def test_pipelined_requests_over_tls(pki: Pki, server: ServerProcess) -> None:
    with tls_connect(pki, server.port) as sock:
        sock.sendall(
            b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /three HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        buffered = bytearray()
        bodies = [read_response(sock, buffered)[1] for _ in range(3)]
    assert bodies == [b"ok", b"hello", b"ok"]


def test_chunked_both_ways_over_tls(pki: Pki, server: ServerProcess) -> None:
    pieces = [os.urandom(n) for n in (1, 1000, 70_000, 3)]
    chunked = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    with tls_connect(pki, server.port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(chunked)
        head, body = read_response(sock, bytearray())
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"".join(pieces)


def test_one_gib_download_and_upload_over_tls(pki: Pki, server: ServerProcess) -> None:
    total = 1 << 30
    with tls_connect(pki, server.port, timeout=60) as sock:
        sock.sendall(b"GET /download?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % total)
        buffered = bytearray()
        while b"\r\n\r\n" not in buffered:
            buffered += sock.recv(65536)
        end = buffered.index(b"\r\n\r\n") + 4
        assert buffered.startswith(b"HTTP/1.1 200")
        received = len(buffered) - end
        while received < total:
            chunk = sock.recv(1 << 20)
            assert chunk, f"closed after {received} bytes"
            received += len(chunk)
        assert received == total

        piece = os.urandom(1 << 20)
        digest = hashlib.sha256()
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(total // len(piece)):
            sock.sendall(piece)
            digest.update(piece)
        _, body = read_response(sock, bytearray())
    assert json.loads(body) == {"bytes": total, "sha256": digest.hexdigest()}


def test_files_over_tls_are_read_in_pieces(pki: Pki, server: ServerProcess, tmp_path: Path) -> None:
    """sendfile(2) cannot encrypt: a file goes out read and encrypted in pieces, and
    arrives whole (random content, so a wrong offset would show)."""
    path = tmp_path / "data.bin"
    content = os.urandom(5 * 1024 * 1024 + 123)
    path.write_bytes(content)
    with httpx.Client(verify=str(pki.ca_file)) as client:
        response = client.get(f"https://127.0.0.1:{server.port}/file", params={"path": str(path)})
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(content).digest()


def test_a_slow_reader_does_not_grow_the_server(pki: Pki, tmp_path: Path) -> None:
    """A client that reads nothing of a 256 MiB answer: the server stops producing
    (rustls's buffer and the out-buffer are bounded) and its memory stays flat."""
    with serve_tls(pki, tmp_path) as server:
        pid = server.process.pid
        with tls_connect(pki, server.port) as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            read_response(sock, bytearray())
            before = rss_kib(pid)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /download?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (256 << 20))
            time.sleep(2.0)
            during = rss_kib(pid)
    assert during - before < 16 * 1024, f"RSS grew {during - before} KiB under a slow reader"


def test_websocket_over_tls(pki: Pki, server: ServerProcess) -> None:
    async def talk() -> tuple[str, str]:
        url = f"wss://localhost:{server.port}/ws"
        async with websockets.connect(url, ssl=pki.client_context()) as ws:
            scheme = await ws.recv()
            await ws.send("over tls")
            return str(scheme), str(await ws.recv())

    assert asyncio.run(asyncio.wait_for(talk(), 10)) == ("wss", "over tls")


def test_psgi_request_tls(pki: Pki, tmp_path: Path) -> None:
    with (
        serve_tls(pki, tmp_path, "--interface", "psgi", app="tests.apps.tls_app:psgi_app") as srv,
        httpx.Client(verify=str(pki.ca_file)) as client,
    ):
        seen = client.get(f"https://127.0.0.1:{srv.port}/").json()
    assert seen["scheme"] == "https"
    assert seen["tls"]["tls_version"] in (0x0303, 0x0304)


# --- Client certificates.


@pytest.fixture(scope="module")
def client_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    """A CA for clients, and a client certificate (chain and key in one PEM file)."""
    directory = tmp_path_factory.mktemp("client-pki")
    ca = trustme.CA()
    ca_file = directory / "client-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    issued = ca.issue_cert("client@example.com")
    cert = directory / "client.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    return ca, ca_file, cert


@pytest.mark.parametrize("cert_reqs", [1, 2], ids=["optional", "required"])
def test_client_certificates(
    cert_reqs: int, pki: Pki, client_pki: tuple[trustme.CA, Path, Path], tmp_path: Path
) -> None:
    _, ca_file, client_cert = client_pki
    args = ("--ssl-ca-certs", str(ca_file), "--ssl-cert-reqs", str(cert_reqs))
    with serve_tls(pki, tmp_path, *args) as server:
        url = f"https://127.0.0.1:{server.port}/scope"
        context = pki.client_context()
        context.load_cert_chain(str(client_cert))
        with httpx.Client(verify=context) as client:
            chain = client.get(url).json()["tls"]["client_cert_chain"]
        assert len(chain) >= 1 and chain[0].startswith("-----BEGIN CERTIFICATE-----")
        if cert_reqs == 1:
            with httpx.Client(verify=pki.client_context()) as client:
                assert client.get(url).json()["tls"]["client_cert_chain"] == []
        else:
            with pytest.raises((ssl.SSLError, OSError)), tls_connect(pki, server.port) as sock:
                # TLS 1.3: the refusal arrives after the client's handshake finished.
                sock.sendall(b"GET /scope HTTP/1.1\r\nHost: a\r\n\r\n")
                if not sock.recv(100):
                    raise OSError("closed")
        # A certificate from another CA is refused either way.
        stranger = trustme.CA().issue_cert("stranger@example.com")
        other = tmp_path / "stranger.pem"
        stranger.private_key_and_cert_chain_pem.write_to_path(str(other))
        context = pki.client_context()
        context.load_cert_chain(str(other))
        with pytest.raises(httpx.HTTPError), httpx.Client(verify=context) as client:
            client.get(url)


# --- Bad input on the TLS port.


def test_plain_http_on_the_tls_port_gets_400(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"connection: close" in answer
    assert b"plain HTTP request sent to an HTTPS port" in answer


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x00\x05hello",  # a handshake record with a body that is none
        b"\x17\x03\x03\x00\x10" + b"\x00" * 16,  # application data before a handshake
        b"\xff" * 64,
    ],
    ids=["bad-handshake", "data-first", "noise"],
)
def test_garbage_is_closed_counted_and_not_an_error(garbage: bytes, server: ServerProcess) -> None:
    metrics_port = int(METRICS_READY.search(server.wait_for_log("Pyre metrics on")).group(1))

    def failures() -> float:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        return float(re.search(r"^pyre_tls_failures_total (\S+)$", text, re.M).group(1))

    before = failures()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(garbage)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
    assert not data.startswith(b"HTTP/"), data  # an alert at most, never a response
    deadline = time.monotonic() + 5
    while failures() <= before:
        assert time.monotonic() < deadline, "the failure was not counted"
        time.sleep(0.05)
    assert "ERROR" not in server.log


def test_tls_failures_are_logged_at_debug_level(pki: Pki, tmp_path: Path) -> None:
    with serve_tls(pki, tmp_path, "--log-level", "debug") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
            with contextlib.suppress(ConnectionResetError):
                while sock.recv(4096):
                    pass
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x02\x00\x01")  # then closed mid-handshake
        line = server.wait_for_log("refused connection: TLS: malformed record")
        assert line.startswith("DEBUG:"), line
        line = server.wait_for_log("TLS: connection closed during the handshake")
        assert line.startswith("DEBUG:"), line
    assert "ERROR" not in server.log


def test_truncated_and_abrupt_closes_leave_no_fds(pki: Pki, tmp_path: Path) -> None:
    with serve_tls(pki, tmp_path) as server:
        pid = server.process.pid
        with tls_connect(pki, server.port) as sock:  # warm up
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            read_response(sock, bytearray())
        time.sleep(0.3)
        baseline = open_fds(pid)
        for _ in range(20):
            # A ClientHello cut short, then a reset.
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            raw.close()
            # A request in flight whose client vanishes mid-download.
            sock = tls_connect(pki, server.port)
            sock.sendall(b"GET /download?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (8 << 20))
            sock.recv(1000)
            sock.close()
        deadline = time.monotonic() + 10
        while open_fds(pid) > baseline:
            assert time.monotonic() < deadline, f"fds {open_fds(pid)} > {baseline}"
            time.sleep(0.1)
        assert "ERROR" not in server.log
        with httpx.Client(verify=str(pki.ca_file)) as client:
            assert client.get(f"https://127.0.0.1:{server.port}/").text == "ok"


def test_half_open_connections_are_answered_then_closed(pki: Pki, tmp_path: Path) -> None:
    """A client that shuts its write side (TCP FIN, no close_notify) after a whole
    request still gets the whole answer, then a clean end; one that stops halfway
    through a request head is closed. Nothing stays open."""
    with serve_tls(pki, tmp_path) as server:
        pid = server.process.pid
        with tls_connect(pki, server.port) as sock:  # warm up
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            read_response(sock, bytearray())
        time.sleep(0.3)
        baseline = open_fds(pid)
        for _ in range(5):
            with tls_connect(pki, server.port) as sock:
                sock.sendall(b"GET /download?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (1 << 20))
                # shutdown() on the SSLSocket would drop its TLS state: shut the
                # socket's write side through a duplicate of its descriptor.
                with socket.socket(fileno=os.dup(sock.fileno())) as raw:
                    raw.shutdown(socket.SHUT_WR)
                buffered = bytearray()
                head, body = read_response(sock, buffered)
                assert head.startswith(b"HTTP/1.1 200"), head
                assert len(body) == 1 << 20
                assert not buffered and sock.recv(100) == b"", "then the server closes"
            with tls_connect(pki, server.port) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHo")
                with socket.socket(fileno=os.dup(sock.fileno())) as raw:
                    raw.shutdown(socket.SHUT_WR)
                try:
                    leftover = sock.recv(100)
                except (ssl.SSLError, ConnectionResetError):
                    leftover = b""
                assert not leftover.startswith(b"HTTP/1.1 200"), leftover
        deadline = time.monotonic() + 10
        while open_fds(pid) > baseline:
            assert time.monotonic() < deadline, f"fds {open_fds(pid)} > {baseline}"
            time.sleep(0.1)
        assert "ERROR" not in server.log


def test_a_stalled_handshake_is_cut_by_the_header_timeout(pki: Pki, tmp_path: Path) -> None:
    with serve_tls(pki, tmp_path, "--timeout-header", "1") as server:
        for opening in (b"", b"\x16\x03\x01"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(opening)
                started = time.monotonic()
                try:
                    while sock.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
                waited = time.monotonic() - started
            assert waited < 8, f"the stalled handshake was kept {waited:.1f} s"


# --- Certificate reload and start-up errors.


def test_sighup_reloads_the_certificate_without_dropping_connections(tmp_path: Path) -> None:
    first = make_pki(tmp_path / "first")
    second = make_pki(tmp_path / "second")
    live = Pki(
        first.ca, first.ca_file, tmp_path / "live-chain.pem", tmp_path / "live-key.pem", tmp_path
    )
    shutil.copy(first.cert, live.cert)
    shutil.copy(first.key, live.key)
    with serve_tls(live, tmp_path) as server:
        old = tls_connect(first, server.port)
        old.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        buffered = bytearray()
        assert read_response(old, buffered)[1] == b"ok"
        shutil.copy(second.cert, live.cert)
        shutil.copy(second.key, live.key)
        server.process.send_signal(signal.SIGHUP)
        server.wait_for_log("certificate reloaded")
        # The open connection goes on with the old certificate...
        old.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(old, buffered)[1] == b"ok"
        old.close()
        # ...new ones get the new certificate, and the old CA no longer verifies it.
        with httpx.Client(verify=str(second.ca_file)) as client:
            assert client.get(f"https://127.0.0.1:{server.port}/").text == "ok"
        with pytest.raises(httpx.ConnectError), httpx.Client(verify=str(first.ca_file)) as c:
            c.get(f"https://127.0.0.1:{server.port}/")
        # A broken file on reload keeps the current certificate.
        live.cert.write_text("not a certificate")
        server.process.send_signal(signal.SIGHUP)
        server.wait_for_log("the certificate was not reloaded")
        with httpx.Client(verify=str(second.ca_file)) as client:
            assert client.get(f"https://127.0.0.1:{server.port}/").text == "ok"


def _encrypted_key(pki: Pki, path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return path


@pytest.mark.parametrize(
    "case", ["missing-cert", "missing-key", "not-pem", "wrong-key", "encrypted-key", "cipher"]
)
def test_bad_tls_settings_fail_at_start_with_one_line(case: str, pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    args = {
        "missing-cert": [
            "--ssl-certfile",
            str(tmp_path / "nope.pem"),
            "--ssl-keyfile",
            str(pki.key),
        ],
        "missing-key": ["--ssl-certfile", str(pki.cert), "--ssl-keyfile", str(tmp_path / "no.pem")],
        "not-pem": ["--ssl-certfile", str(junk), "--ssl-keyfile", str(pki.key)],
        "wrong-key": ["--ssl-certfile", str(pki.cert), "--ssl-keyfile", str(other.key)],
        "encrypted-key": [
            "--ssl-certfile",
            str(pki.cert),
            "--ssl-keyfile",
            str(_encrypted_key(pki, tmp_path / "enc.pem")),
            "--ssl-keyfile-password",
            "secret",
        ],
        "cipher": [
            "--ssl-certfile",
            str(pki.cert),
            "--ssl-keyfile",
            str(pki.key),
            "--ssl-ciphers",
            "RC4-MD5",
        ],
    }[case]
    result = subprocess.run(
        [sys.executable, "-m", "pyre", APP, "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    expected = {
        "missing-cert": "nope.pem",
        "missing-key": "no.pem",
        "not-pem": "no certificate",
        "wrong-key": "do not match",
        "encrypted-key": "encrypted",
        "cipher": "RC4-MD5",
    }[case]
    assert lines[0].startswith("Error: ssl_certfile: "), lines[0]
    assert expected in lines[0], lines[0]


def test_chosen_cipher_suite_is_used(pki: Pki, tmp_path: Path) -> None:
    suite = "TLS13_CHACHA20_POLY1305_SHA256"
    with (
        serve_tls(pki, tmp_path, "--ssl-ciphers", suite) as server,
        httpx.Client(verify=str(pki.ca_file)) as client,
    ):
        seen = client.get(f"https://127.0.0.1:{server.port}/scope").json()
    assert seen["tls"]["cipher_suite_name"] == suite


def test_the_https_examples_talk_to_each_other(pki: Pki, tmp_path: Path) -> None:
    """examples/https_server.py served with the test's certificate, fetched by
    examples/client_fetch.py with --cafile: the client verifies and the app sees https."""
    with serve_tls(pki, tmp_path, app="examples.https_server:app") as server:
        url = f"https://localhost:{server.port}/"
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "client_fetch.py"),
                "--cafile",
                str(pki.ca_file),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert f"{url}: 200 OK" in done.stdout, done.stdout
        # Without the CA, the same URL fails verification with a typed error.
        refused = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "client_fetch.py"), url],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        assert "CertificateError" in refused.stdout, refused.stdout
