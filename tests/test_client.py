"""pyre.client against real servers on loopback: Pyre itself and uvicorn (a
third-party server), both serving tests/apps/client_target.py. Every test runs
against both; every wait is bounded (``run`` gives a coroutine 20 s)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyre.client import (
    Client,
    HTTPStatusError,
    Limits,
    LocalProtocolError,
    ReadTimeout,
    Timeout,
    TooManyRedirects,
)
from pyre.client._decoders import ACCEPT_ENCODING
from tests.apps.client_target import TEXT
from tests.support import serve, serve_uvicorn

APP = "tests.apps.client_target:app"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "pyre":
        server = serve(APP, tmp=tmp)
    else:
        server = serve_uvicorn(APP, tmp=tmp)
    with server as process:
        yield process.url


def test_get_status_headers_text(base: str) -> None:
    async def main() -> None:
        async with Client() as client:
            response = await client.get(f"{base}/hello")
            assert response.status == 200
            assert response.http_version == "HTTP/1.1"
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert response.headers["content-length"] == "5"
            assert "CONTENT-LENGTH" in response.headers
            assert response.content == b"hello"
            assert response.text == "hello"
            assert (await response.read()) == b"hello"

    run(main())


def test_every_method_and_params(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base) as client:
            for name in ("get", "post", "put", "patch", "delete", "options"):
                response = await getattr(client, name)("/echo", params={"a": "1", "b": ["x", "y"]})
                seen = response.json()
                assert seen["method"] == name.upper()
                assert seen["target"] == "/echo?a=1&b=x&b=y"
            head = await client.head("/bytes?n=10")
            assert head.status == 200
            assert head.headers["content-length"] == "10"
            assert head.content == b""

    run(main())


def test_request_headers_and_defaults(base: str) -> None:
    async def main() -> None:
        async with Client(headers={"X-Client": "yes"}) as client:
            response = await client.get(
                f"{base}/echo", headers={"X-Request": "1", "Accept": "text/x"}
            )
            headers = dict(response.json()["headers"])
            port = base.rsplit(":", 1)[1]
            assert headers["host"] == f"127.0.0.1:{port}"
            assert headers["x-client"] == "yes"
            assert headers["x-request"] == "1"
            assert headers["accept"] == "text/x"
            # gzip, deflate, and br and zstd when their packages are installed
            assert headers["accept-encoding"] == ACCEPT_ENCODING
            assert headers["user-agent"].startswith("pyre/")

    run(main())


def test_bodies_bytes_str_json(base: str) -> None:
    async def main() -> None:
        async with Client() as client:
            seen = (await client.post(f"{base}/echo", content=b"raw bytes")).json()
            assert (seen["body"], seen["length"]) == ("raw bytes", 9)
            assert ["content-length", "9"] in seen["headers"]
            seen = (await client.put(f"{base}/echo", content="t\u00e9xt")).json()
            assert seen["length"] == 5
            seen = (await client.post(f"{base}/echo", json={"a": [1, 2]})).json()
            assert json.loads(seen["body"]) == {"a": [1, 2]}
            assert ["content-type", "application/json"] in seen["headers"]
            seen = (await client.post(f"{base}/echo")).json()
            assert ["content-length", "0"] in seen["headers"]

    run(main())


def test_file_body_is_sent_whole(base: str, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    path = tmp_path / "upload.bin"
    path.write_bytes(data)

    async def main() -> None:
        async with Client() as client:
            seen = (await client.post(f"{base}/echo", content=path)).json()
            assert seen["length"] == len(data)
            assert seen["body"].encode("latin-1") == data
            assert ["content-length", str(len(data))] in seen["headers"]

    run(main())


def test_iterator_bodies_are_chunked(base: str) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"one,"
        yield "two,"  # type: ignore[misc]
        yield b""
        yield b"three"

    async def apieces() -> AsyncIterator[bytes]:
        for i in range(100):
            yield b"%d;" % i

    async def main() -> None:
        async with Client() as client:
            seen = (await client.post(f"{base}/echo", content=pieces())).json()
            assert seen["body"] == "one,two,three"
            assert ["transfer-encoding", "chunked"] in seen["headers"]
            seen = (await client.post(f"{base}/echo", content=apieces())).json()
            assert seen["body"] == "".join(f"{i};" for i in range(100))
            declared = {"Content-Length": "13"}
            seen = (await client.post(f"{base}/echo", content=pieces(), headers=declared)).json()
            assert seen["body"] == "one,two,three"
            assert ["content-length", "13"] in seen["headers"]
            with pytest.raises(LocalProtocolError, match="Content-Length"):
                await client.post(f"{base}/echo", content=pieces(), headers={"Content-Length": "5"})

    run(main())


def test_streamed_response(base: str) -> None:
    async def main() -> None:
        async with Client() as client:
            async with client.stream("GET", f"{base}/chunked?n=50") as response:
                assert response.status == 200
                assert response.headers["transfer-encoding"] == "chunked"
                body = b"".join([chunk async for chunk in response.iter_bytes()])
            assert body == b"".join(b"piece %d\n" % i for i in range(50))
            async with client.stream("GET", f"{base}/bytes?n=3000000") as response:
                total = 0
                async for chunk in response.iter_bytes():
                    total += len(chunk)
            assert total == 3_000_000
            async with client.stream("GET", f"{base}/hello") as response:
                assert await response.read() == b"hello"
                assert response.text == "hello"

    run(main())


def test_gzip_and_deflate_are_decoded(base: str) -> None:
    async def main() -> None:
        async with Client() as client:
            for coding in ("gzip", "deflate"):
                response = await client.get(f"{base}/{coding}")
                assert response.headers["content-encoding"] == coding
                assert response.content == TEXT
                async with client.stream("GET", f"{base}/{coding}") as streamed:
                    assert b"".join([c async for c in streamed.iter_bytes()]) == TEXT
                async with client.stream("GET", f"{base}/{coding}") as streamed:
                    raw = b"".join([c async for c in streamed.iter_raw()])
                assert raw != TEXT

    run(main())


def test_keep_alive_reuses_one_connection(base: str) -> None:
    async def main() -> None:
        async with Client() as client:
            first = (await client.get(f"{base}/connection")).text
            for _ in range(20):
                assert (await client.get(f"{base}/connection")).text == first
            assert client.open_connections == 1

    run(main())


def test_idle_connections_expire(base: str) -> None:
    async def main() -> None:
        async with Client(limits=Limits(keepalive_expiry=0.2)) as client:
            first = (await client.get(f"{base}/connection")).text
            assert (await client.get(f"{base}/connection")).text == first
            await asyncio.sleep(1.5)  # past the expiry and a sweep
            assert client.open_connections == 0
            assert (await client.get(f"{base}/connection")).text != first

    run(main())


def test_an_unread_stream_is_not_reused_a_drained_one_is(base: str) -> None:
    async def main() -> None:
        async with Client() as client:
            first = (await client.get(f"{base}/connection")).text
            async with client.stream("GET", f"{base}/bytes?n=5000000") as response:
                async for _ in response.iter_raw():
                    break  # leaves most of the body unread
            assert client.open_connections == 0
            second = (await client.get(f"{base}/connection")).text
            assert second != first
            async with client.stream("GET", f"{base}/bytes?n=100") as response:
                await response.read()
            assert (await client.get(f"{base}/connection")).text == second

    run(main())


def test_concurrent_requests_respect_the_limits(base: str) -> None:
    async def main() -> None:
        limits = Limits(max_connections=3)
        async with Client(limits=limits) as client:
            results = await asyncio.gather(*(client.get(f"{base}/connection") for _ in range(30)))
            assert len({r.text for r in results}) <= 3
            assert client.open_connections <= 3
        per_host = Limits(max_connections=10, max_connections_per_host=2)
        async with Client(limits=per_host) as client:
            results = await asyncio.gather(*(client.get(f"{base}/connection") for _ in range(20)))
            assert len({r.text for r in results}) <= 2

    run(main())


def test_redirects_are_opt_in(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base) as client:
            response = await client.get("/redirect")
            assert response.status == 302
            assert response.is_redirect
            response = await client.get("/redirect", follow_redirects=True)
            assert (response.status, response.text) == (200, "hello")
            assert [r.status for r in response.history] == [302]
            # 303 after POST: GET without the body; 307: same method and body.
            response = await client.post(
                "/redirect?to=/echo&status=303", content=b"data", follow_redirects=True
            )
            assert (response.json()["method"], response.json()["body"]) == ("GET", "")
            response = await client.post(
                "/redirect?to=/echo&status=307", content=b"data", follow_redirects=True
            )
            assert (response.json()["method"], response.json()["body"]) == ("POST", "data")
        async with Client(base_url=base, follow_redirects=True, max_redirects=3) as client:
            with pytest.raises(TooManyRedirects):
                await client.get("/loop")

    run(main())


def test_status_errors_and_read_timeout(base: str) -> None:
    async def main() -> None:
        async with Client() as client:
            response = await client.get(f"{base}/status/503")
            assert response.status == 503
            with pytest.raises(HTTPStatusError) as info:
                response.raise_for_status()
            assert info.value.response is response
            assert (await client.get(f"{base}/status/204")).content == b""
            with pytest.raises(ReadTimeout):
                await client.get(f"{base}/slow?t=3", timeout=Timeout(read=0.3))
            # The timed-out connection was closed; the client goes on.
            assert (await client.get(f"{base}/hello")).text == "hello"

    run(main())
