"""pyre.client: https through an http proxy, by a CONNECT tunnel with TLS inside.

A small asyncio proxy on 127.0.0.1 records each CONNECT and then either pipes bytes
to the origin (a TLS server made with the test CA) or misbehaves as told; the origin
answers with the request line and headers it saw, so the tests see what went inside
the tunnel."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pyre.client import (
    CertificateError,
    Client,
    ConnectTimeout,
    ProxyError,
    RemoteProtocolError,
    Timeout,
    TransportError,
)
from tests.procfs import open_fds
from tests.test_client_tls import Certs, fake, run


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("tls"))


async def describe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The origin: answers each request with JSON of its request line and headers."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        line, *fields = head[:-4].decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (f.split(": ", 1) for f in fields)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        answer = json.dumps({"line": line, "headers": headers, "body": body.decode()}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
        )
        await writer.drain()


@dataclass
class ProxyLog:
    port: int = 0
    connects: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    connections: int = 0


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def connect_proxy(behaviour: str = "tunnel") -> AsyncIterator[ProxyLog]:
    """A CONNECT proxy. ``tunnel``: 200 then bytes piped to 127.0.0.1:<port>;
    ``407``/``502``: that answer; ``close``: closes without answering; ``garbage``:
    not HTTP; ``silent``: never answers; ``extra``: 200 and bytes that are not TLS."""
    log = ProxyLog()
    tasks: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        log.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *fields = head[:-4].decode("latin-1").split("\r\n")
            headers = {k.lower(): v for k, v in (f.split(": ", 1) for f in fields)}
            log.connects.append((line, headers))
            if behaviour == "tunnel":
                port = int(line.split()[1].rpartition(":")[2])
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                tasks.append(asyncio.ensure_future(pipe(up_reader, writer)))
                await pipe(reader, up_writer)
            elif behaviour == "407":
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="p"\r\nContent-Length: 6\r\n\r\ndenied'
                )
            elif behaviour == "502":
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            elif behaviour == "garbage":
                writer.write(b"\x16\x03\x01 this is not an HTTP answer\r\n\r\n")
            elif behaviour == "silent":
                await asyncio.sleep(30)
            elif behaviour == "extra":
                writer.write(b"HTTP/1.1 200 OK\r\n\r\nnot a TLS record at all")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    log.port = server.sockets[0].getsockname()[1]
    try:
        yield log
    finally:
        server.close()
        for task in tasks:
            task.cancel()


def client_for(certs: Certs, proxy: ProxyLog, credentials: str = "", **kwargs: Any) -> Client:
    return Client(
        verify=str(certs.ca_file), proxy=f"http://{credentials}127.0.0.1:{proxy.port}", **kwargs
    )


def test_requests_go_through_one_tunnel(certs: Certs) -> None:
    async def main() -> None:
        async with fake(describe, certs.context()) as port, connect_proxy() as proxy:
            async with client_for(certs, proxy, "user:secret@") as client:
                first = await client.get(f"https://localhost:{port}/items?page=2")
                posted = await client.post(f"https://localhost:{port}/items", json={"a": 1})
            # Inside the tunnel: the origin-form target, the origin's Host, and no
            # proxy credentials.
            assert first.json()["line"] == "GET /items?page=2 HTTP/1.1"
            assert first.json()["headers"]["host"] == f"localhost:{port}"
            assert "proxy-authorization" not in first.json()["headers"]
            assert posted.json()["line"] == "POST /items HTTP/1.1"
            assert posted.json()["body"] == '{"a":1}'
            # To the proxy: one CONNECT, with the credentials, for both requests.
            assert proxy.connections == 1
            (line, headers), *rest = proxy.connects
            assert rest == []
            assert line == f"CONNECT localhost:{port} HTTP/1.1"
            assert headers["host"] == f"localhost:{port}"
            assert headers["proxy-authorization"] == "Basic dXNlcjpzZWNyZXQ="

    run(main())


def test_a_tunnel_and_a_direct_connection_are_never_mixed(certs: Certs) -> None:
    async def main() -> None:
        async with fake(describe, certs.context()) as port, connect_proxy() as proxy:
            async with Client(verify=str(certs.ca_file)) as direct:
                await direct.get(f"https://localhost:{port}/")
                assert proxy.connections == 0
            async with client_for(certs, proxy) as proxied:
                await proxied.get(f"https://localhost:{port}/")
                await proxied.get(f"https://localhost:{port}/")
                assert proxied.open_connections == 1
            assert proxy.connections == 1

    run(main())


def test_https_proxy_from_the_environment_and_no_proxy(
    certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with fake(describe, certs.context()) as port, connect_proxy() as proxy:
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
            monkeypatch.delenv("https_proxy", raising=False)
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            async with Client(verify=str(certs.ca_file)) as client:
                assert (await client.get(f"https://localhost:{port}/")).status == 200
            assert len(proxy.connects) == 1
            monkeypatch.setenv("NO_PROXY", "localhost")
            async with Client(verify=str(certs.ca_file)) as client:
                assert (await client.get(f"https://localhost:{port}/")).status == 200
            assert len(proxy.connects) == 1  # direct this time

    run(main())


def test_the_origin_certificate_is_checked_inside_the_tunnel(certs: Certs) -> None:
    async def main() -> None:
        async with fake(describe, certs.context()) as port, connect_proxy() as proxy:
            # A CA the client does not trust: the proxy cannot vouch for the origin.
            async with Client(proxy=f"http://127.0.0.1:{proxy.port}") as client:
                with pytest.raises(CertificateError):
                    await client.get(f"https://localhost:{port}/")
            # The certificate names localhost and 127.0.0.1, not this name.
            wrong = certs.ca.issue_cert("elsewhere.test")
            async with fake(describe, certs.context(wrong)) as other:
                async with client_for(certs, proxy) as client:
                    with pytest.raises(CertificateError, match="localhost"):
                        await client.get(f"https://localhost:{other}/")

    run(main())


@pytest.mark.parametrize(
    ("behaviour", "error", "words"),
    [
        ("407", ProxyError, "refused the tunnel to localhost:443: 407 Proxy Authentication"),
        ("502", ProxyError, "502 Bad Gateway"),
        ("close", RemoteProtocolError, "CONNECT: the server closed the connection without"),
        ("garbage", RemoteProtocolError, "CONNECT: malformed status line"),
        ("extra", TransportError, "the proxy .* after its answer to CONNECT|TLS"),
    ],
)
def test_a_proxy_that_refuses_or_misbehaves_is_a_typed_error(
    certs: Certs, behaviour: str, error: type[Exception], words: str
) -> None:
    async def main() -> None:
        async with connect_proxy(behaviour) as proxy, client_for(certs, proxy) as client:
            with pytest.raises(error, match=words) as info:
                await client.get("https://localhost/")
            if behaviour in ("close", "garbage", "extra"):
                assert not isinstance(info.value, ProxyError)
            assert client.open_connections == 0

    run(main())


def test_a_silent_proxy_is_cut_by_the_connect_timeout(certs: Certs) -> None:
    async def main() -> None:
        async with connect_proxy("silent") as proxy:
            timeout = Timeout(connect=0.3, read=5, write=5, pool=5)
            async with client_for(certs, proxy, timeout=timeout) as client:
                with pytest.raises(ConnectTimeout, match="tunnel to localhost port 443"):
                    await client.get("https://localhost/")
                assert client.open_connections == 0

    run(main())


def test_failed_tunnels_leave_no_file_descriptors(certs: Certs) -> None:
    async def main() -> None:
        async with fake(describe, certs.context()) as port:
            for behaviour in ("407", "close", "garbage", "extra"):
                async with connect_proxy(behaviour) as proxy, client_for(certs, proxy) as client:
                    for _ in range(5):
                        with pytest.raises(TransportError):
                            await client.get(f"https://localhost:{port}/")
            async with connect_proxy() as proxy, client_for(certs, proxy) as client:
                await client.get(f"https://localhost:{port}/")

    run(main())  # warm up
    gc.collect()
    before = open_fds(os.getpid())
    run(main())
    gc.collect()
    assert open_fds(os.getpid()) == before


def test_plain_http_through_the_proxy_still_uses_the_absolute_form(certs: Certs) -> None:
    """http URLs are not tunnelled: the proxy gets the absolute URL (this one answers
    every request line with its 502)."""

    async def main() -> None:
        async with connect_proxy("502") as proxy, client_for(certs, proxy) as client:
            response = await client.get("http://example.invalid/x")
            assert response.status == 502
            assert proxy.connects[0][0] == "GET http://example.invalid/x HTTP/1.1"

    run(main())
