"""pyre.client over TLS (``https://``): against uvicorn serving HTTPS (a real
third-party server) and against scripted asyncio TLS servers in the test's loop.
Certificates come from a test CA made by ``trustme``. Covers keep-alive reuse,
chunked uploads, file uploads, large downloads with a slow consumer, each kind of
verification failure (typed, naming the reason), ``verify=False``, CA files and
``ssl.SSLContext``, client certificates, IP-address hosts, servers that close
mid-handshake or do not speak TLS, and file descriptors back to baseline."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import os
import re
import socket
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyre.client import CertificateError, Client, ConnectError, TLSError, TransportError
from tests.procfs import open_fds
from tests.support import serve_command

trustme = pytest.importorskip("trustme")

APP = "tests.apps.client_target:app"
UVICORN_TLS_READY = re.compile(r"Uvicorn running on https://127\.0\.0\.1:(\d+)")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Certs:
    """A test CA, its PEM file, and server certificates for localhost/127.0.0.1."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca = trustme.CA()
        self.ca_file = tmp / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.server = self.ca.issue_cert("localhost", "127.0.0.1")
        self.server_cert, self.server_key = self.files(self.server, "server")

    def files(self, cert: Any, name: str) -> tuple[Path, Path]:
        chain, key = self.tmp / f"{name}.pem", self.tmp / f"{name}.key"
        with chain.open("wb") as f:
            for blob in cert.cert_chain_pems:
                f.write(blob.bytes())
        cert.private_key_pem.write_to_path(str(key))
        return chain, key

    def context(self, cert: Any = None) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        (cert or self.server).configure_cert(context)
        return context


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def uvicorn_url(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        APP,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ssl-certfile",
        str(certs.server_cert),
        "--ssl-keyfile",
        str(certs.server_key),
    ]
    with serve_command(command, UVICORN_TLS_READY, tmp=tmp_path_factory.mktemp("uv")) as server:
        yield f"https://localhost:{server.port}"


@contextlib.asynccontextmanager
async def fake(handler: Handler, context: ssl.SSLContext | None) -> AsyncIterator[int]:
    """A loopback server (TLS with ``context``, raw bytes without) running
    ``handler`` per connection; yields its port."""
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every request on the connection with 200 "ok"."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.I)
        if length:
            await reader.readexactly(int(length.group(1)))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()


def trusting(certs: Certs, **kwargs: Any) -> Client:
    return Client(verify=str(certs.ca_file), **kwargs)


# Against uvicorn with --ssl-certfile.


def test_get_and_post_reuse_one_tls_connection(certs: Certs, uvicorn_url: str) -> None:
    async def main() -> None:
        async with trusting(certs) as client:
            first = await client.get(f"{uvicorn_url}/hello")
            assert (first.status, first.text) == (200, "hello")
            echo = await client.post(f"{uvicorn_url}/echo", content=b"over tls")
            assert echo.json()["body"] == "over tls"
            again = await client.get(f"{uvicorn_url}/connection")
            assert client.open_connections == 1
            assert (await client.get(f"{uvicorn_url}/connection")).text == again.text

    run(main())


def test_chunked_and_file_uploads_and_a_large_download(
    certs: Certs, uvicorn_url: str, tmp_path: Path
) -> None:
    size = 6 * 1024 * 1024

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(64):
            yield bytes([65 + i % 26]) * 16384

    async def main() -> None:
        async with trusting(certs) as client:
            echo = await client.post(f"{uvicorn_url}/echo", content=pieces())
            assert echo.json()["length"] == 64 * 16384
            assert ["transfer-encoding", "chunked"] in echo.json()["headers"]
            path = tmp_path / "upload.bin"
            path.write_bytes(b"f" * (1024 * 1024 + 7))
            echo = await client.post(f"{uvicorn_url}/echo", content=path)
            assert echo.json()["length"] == 1024 * 1024 + 7
            received = 0
            async with client.stream("GET", f"{uvicorn_url}/bytes?n={size}") as response:
                async for chunk in response.iter_raw():
                    assert len(chunk) <= 256 * 1024
                    received += len(chunk)
            assert received == size
            assert client.open_connections == 1

    run(main(), timeout=60)


def test_default_roots_refuse_a_private_ca(uvicorn_url: str) -> None:
    async def main() -> None:
        async with Client() as client:
            with pytest.raises(CertificateError, match="unknown issuer"):
                await client.get(f"{uvicorn_url}/hello")

    run(main())


def test_an_ssl_context_gives_the_roots(certs: Certs, uvicorn_url: str) -> None:
    async def main() -> None:
        context = ssl.create_default_context(cafile=str(certs.ca_file))
        async with Client(verify=context) as client:
            assert (await client.get(f"{uvicorn_url}/hello")).text == "hello"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        async with Client(verify=context) as client:
            assert (await client.get(f"{uvicorn_url}/hello")).text == "hello"

    run(main())


# Against asyncio TLS servers.


def test_slow_consumer_backpressure_over_tls(certs: Certs) -> None:
    total = 48 * 1024 * 1024
    sent = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        piece = b"x" * 65536
        while sent < total:
            writer.write(piece)
            await writer.drain()
            sent += len(piece)

    async def main() -> None:
        async with fake(handler, certs.context()) as port, trusting(certs) as client:
            async with client.stream("GET", f"https://localhost:{port}/") as response:
                chunks = response.iter_raw()
                first = await chunks.__anext__()
                await asyncio.sleep(0.5)
                stalled = sent
                assert stalled < 24 * 1024 * 1024, stalled
                received = len(first)
                async for chunk in chunks:
                    received += len(chunk)
                assert received == total

    run(main(), timeout=90)


def self_signed(tmp: Path) -> ssl.SSLContext:
    """A server context with a self-signed certificate for localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "self.pem", tmp / "self.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.mark.parametrize("case", ["self-signed", "unknown CA", "expired", "wrong host", "wrong IP"])
def test_verification_failures_are_typed_and_name_the_reason(
    certs: Certs, tmp_path: Path, case: str
) -> None:
    host = "localhost"
    if case == "self-signed":
        context, reason = self_signed(tmp_path), "unknown issuer"
    elif case == "unknown CA":
        context, reason = trustme.CA().issue_cert("localhost"), "unknown issuer"
    elif case == "expired":
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        context = certs.ca.issue_cert(
            "localhost", not_before=past, not_after=past + datetime.timedelta(days=1)
        )
        reason = "expired"
    elif case == "wrong host":
        context, reason = certs.ca.issue_cert("example.com"), "not valid for localhost"
    else:
        host = "127.0.0.1"
        context, reason = certs.ca.issue_cert("127.0.0.2"), "not valid for 127.0.0.1"
    if not isinstance(context, ssl.SSLContext):
        context = certs.context(context)

    async def main() -> None:
        async with fake(answer, context) as port, trusting(certs) as client:
            with pytest.raises(CertificateError, match=reason) as caught:
                await client.get(f"https://{host}:{port}/")
            assert isinstance(caught.value, TLSError)
            assert isinstance(caught.value, TransportError)
            assert client.open_connections == 0

    run(main())


def test_verify_false_accepts_a_self_signed_certificate(tmp_path: Path) -> None:
    async def main() -> None:
        async with fake(answer, self_signed(tmp_path)) as port, Client(verify=False) as client:
            for _ in range(2):
                assert (await client.get(f"https://localhost:{port}/")).text == "ok"
            assert client.open_connections == 1

    run(main())


def test_an_ip_address_host_is_checked_against_the_certificate(certs: Certs) -> None:
    async def main() -> None:
        async with fake(answer, certs.context()) as port, trusting(certs) as client:
            assert (await client.get(f"https://127.0.0.1:{port}/")).text == "ok"

    run(main())


def test_client_certificates(certs: Certs) -> None:
    context = certs.context()
    context.verify_mode = ssl.CERT_REQUIRED
    certs.ca.configure_trust(context)
    chain, key = certs.files(certs.ca.issue_cert("client@example.com"), "client")

    async def main() -> None:
        async with fake(answer, context) as port:
            url = f"https://localhost:{port}/"
            async with trusting(certs, cert=(str(chain), str(key))) as client:
                assert (await client.get(url)).text == "ok"
            # Certificate and key in one file.
            both = certs.tmp / "client-both.pem"
            both.write_bytes(chain.read_bytes() + key.read_bytes())
            async with trusting(certs, cert=both) as client:
                assert (await client.get(url)).text == "ok"

    run(main())
    # Without a certificate: TLS 1.3 servers refuse after the client's Finished,
    # with an alert the client reads instead of a response. (A blocking ssl server
    # in a thread: asyncio's closes without flushing its alert.)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def refuse() -> None:
        conn, _ = listener.accept()
        with (
            contextlib.suppress(ssl.SSLError, OSError),
            context.wrap_socket(conn, server_side=True) as tls,
        ):
            tls.recv(100)
        conn.close()
        listener.close()

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()

    async def without() -> None:
        async with trusting(certs) as client:
            with pytest.raises(TLSError, match="alert CertificateRequired"):
                await client.get(f"https://localhost:{port}/")

    run(without())
    thread.join(5)


def test_the_pool_keys_on_scheme_and_tls_settings(certs: Certs) -> None:
    async def main() -> None:
        async with fake(answer, certs.context()) as port, trusting(certs) as client:
            await client.get(f"https://localhost:{port}/")
            await client.get(f"https://localhost:{port}/")
            assert client.open_connections == 1
            # The same host and port over plain HTTP is another origin.
            with pytest.raises(TransportError):
                await client.get(f"http://localhost:{port}/", timeout=2)
            assert client._pool is not None
            keys = list(client._pool._idle)
            assert keys and all(key[0] == "https" and key[3] is not None for key in keys)

    run(main())


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def close_after_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.close()


async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def alert(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(bytes([21, 3, 3, 0, 2, 2, 40]))  # a fatal handshake_failure alert
    await writer.drain()
    await asyncio.sleep(0.2)


async def truncated_record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(bytes([22, 3, 3, 0x40, 0]) + b"\x02" * 100)  # a 16 KiB record, cut
    await writer.drain()
    writer.transport.abort()


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (close_at_once, "closed the connection during the TLS handshake"),
        (close_after_hello, "closed the connection during the TLS handshake"),
        (plain_http, "invalid TLS data"),
        (alert, "alert HandshakeFailure"),
        (truncated_record, "during the TLS handshake"),
    ],
)
def test_broken_handshakes_are_tls_errors(handler: Handler, words: str) -> None:
    async def main() -> None:
        async with fake(handler, None) as port, Client() as client:
            with pytest.raises(TLSError, match=words):
                await client.get(f"https://localhost:{port}/")
            assert client.open_connections == 0

    run(main())


def test_failures_leave_no_file_descriptors(certs: Certs, tmp_path: Path) -> None:
    bad = self_signed(tmp_path)

    async def main() -> None:
        async with fake(close_after_hello, None) as broken, fake(answer, bad) as untrusted:
            async with fake(answer, certs.context()) as good:
                async with trusting(certs) as client:
                    for _ in range(20):
                        with pytest.raises(TLSError):
                            await client.get(f"https://localhost:{broken}/")
                        with pytest.raises(CertificateError):
                            await client.get(f"https://localhost:{untrusted}/")
                        await client.get(f"https://localhost:{good}/")
                    assert client.open_connections == 1

    run(main())  # warm up (imports, certificates loaded once)
    # A closed client's poll fd goes when the client is collected.
    gc.collect()
    before = open_fds(os.getpid())
    run(main())
    gc.collect()
    assert open_fds(os.getpid()) == before


def test_bad_settings_fail_when_the_client_is_made(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Client(verify=str(tmp_path / "missing.pem"))
    (tmp_path / "empty.pem").write_text("no certificate here\n")
    with pytest.raises(ValueError, match="no PEM certificate"):
        Client(verify=tmp_path / "empty.pem")
    with pytest.raises(FileNotFoundError):
        Client(cert=(str(tmp_path / "c.pem"), str(tmp_path / "k.pem")))


def test_connect_errors_are_still_connect_errors() -> None:
    async def main() -> None:
        async with Client() as client:
            with pytest.raises(ConnectError):
                await client.get("https://127.0.0.1:1/")

    run(main())


def test_a_client_collected_on_another_thread_releases_its_fds(certs: Certs) -> None:
    """A client never closed and left in a reference cycle is collected wherever the
    garbage collector happens to run: its poll and its sockets are closed there too."""

    async def main() -> Client:
        async with fake(answer, certs.context()) as port:
            client = trusting(certs)
            await client.get(f"https://localhost:{port}/")
            assert client.open_connections == 1
            return client

    gc.collect()
    before = open_fds(os.getpid())
    cycle: list[Any] = [run(main())]
    cycle.append(cycle)
    assert open_fds(os.getpid()) > before  # the poll and the kept-alive connection
    del cycle
    collector = threading.Thread(target=gc.collect)
    collector.start()
    collector.join(10)
    assert open_fds(os.getpid()) == before
