"""pyre.client features for real APIs, against real servers on loopback: Pyre and
uvicorn serving a Starlette app (tests/apps/client_api.py; forms parsed by
python-multipart), plus a tiny proxy on an asyncio socket that records what it is
sent. Redirects, proxies, cookies, Content-Encoding, multipart uploads, auth,
status errors, lines and charsets; each with its bad inputs. Every wait is bounded
(``run`` gives a coroutine 30 s); servers listen on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import brotli
import pytest
import zstandard

from pyre.client import (
    BasicAuth,
    BearerAuth,
    Client,
    Cookies,
    DecodingError,
    HTTPStatusError,
    ProxyError,
    RemoteProtocolError,
    RequestNotRepeatable,
    TooManyRedirects,
    _decoders,
    _multipart,
)
from pyre.client._decoders import DECODED_PIECE, decoder_for
from pyre.client._lines import LineSplitter
from pyre.client._proxy import NoProxy, ProxyRules, parse_proxy
from pyre.client._redirects import same_origin_for_credentials
from tests.apps.client_api import TEXT
from tests.support import serve, serve_uvicorn

APP = "tests.apps.client_api:app"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp(request.param)
    server = serve(APP, tmp=tmp) if request.param == "pyre" else serve_uvicorn(APP, tmp=tmp)
    with server as process:
        yield process.url


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests decide the proxy variables (the machine's own must not leak in)."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def headers_of(response: Any) -> dict[str, str]:
    return dict(response.json()["headers"])


# Redirects.

# (method, status) -> (method seen at the end, body kept)
REDIRECT_RULES = [
    ("POST", 301, "GET", False),
    ("POST", 302, "GET", False),
    ("PUT", 302, "PUT", True),
    ("POST", 303, "GET", False),
    ("PUT", 303, "GET", False),
    ("POST", 307, "POST", True),
    ("PUT", 308, "PUT", True),
]


def test_redirect_method_rules(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base, follow_redirects=True) as client:
            for method, status, seen_method, kept in REDIRECT_RULES:
                response = await client.request(
                    method, f"/redirect?status={status}", content=b"data"
                )
                seen = response.json()
                assert (seen["method"], seen["body"]) == (seen_method, "data" if kept else "")
                names = {name for name, _ in seen["headers"]}
                assert ("content-length" in names) == kept, (method, status)
                assert [r.status for r in response.history] == [status]
            head = await client.head("/redirect?status=303")
            assert (head.status, head.request.method) == (200, "HEAD")

    run(main())


def test_redirects_are_opt_in_and_resolve_locations(base: str) -> None:
    port = base.rsplit(":", 1)[1]

    async def main() -> None:
        async with Client(base_url=base) as client:
            response = await client.get("/redirect")
            assert (response.status, response.is_redirect, response.history) == (302, True, [])
            locations = {
                "echo?x=1": "/echo?x=1",  # relative to /redirect
                f"//127.0.0.1:{port}/echo": "/echo",  # scheme-relative
                "/echo?q=a b&r=\u00e9": "/echo?q=a%20b&r=%C3%A9",  # quoted as browsers do
                "/echo?already=%20": "/echo?already=%20",  # not quoted twice
            }
            for location, target in locations.items():
                response = await client.get(
                    "/redirect", params={"to": location}, follow_redirects=True
                )
                assert response.json()["target"] == target
                assert response.url == f"{base}{target}"
            # Two hops, in order.
            second = "/redirect?status=301&to=/echo"
            response = await client.get(
                "/redirect", params={"to": second, "status": "307"}, follow_redirects=True
            )
            assert [r.status for r in response.history] == [307, 301]
            assert response.history[0].url.startswith(f"{base}/redirect?")

    run(main())


def test_a_streamed_redirect_leaves_its_connection_reusable(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base, follow_redirects=True) as client:
            first = (await client.get("/echo")).json()["client"]
            async with client.stream("GET", "/redirect?body=100") as response:
                assert (await response.read()) and response.json()["client"] == first
            # A long redirect body is not read: its connection is closed instead.
            async with client.stream("GET", "/redirect?body=100000") as response:
                second = json.loads(await response.read())["client"]
            assert second != first
            assert [r.status for r in response.history] == [302]

    run(main())


def test_bad_redirects(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base, follow_redirects=True, max_redirects=5) as client:
            with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
                await client.get("/loop")
            for location in ("http://[bad/", "ftp://127.0.0.1/x", "javascript:alert(1)", ""):
                with pytest.raises(RemoteProtocolError, match="redirect"):
                    await client.get("/redirect", params={"to": location})

            # A 307 of an iterator body cannot be followed; a 303 drops the body anyway.
            def once() -> Iterator[bytes]:
                yield b"only once"

            with pytest.raises(RequestNotRepeatable, match="307"):
                await client.post("/redirect?status=307", content=once())
            response = await client.post("/redirect?status=303", content=once())
            assert response.json()["method"] == "GET"
            # The client is fine afterwards.
            assert (await client.get("/echo")).status == 200

    run(main())


def test_credentials_stay_with_their_origin(base: str) -> None:
    port = base.rsplit(":", 1)[1]
    other = f"http://localhost:{port}"  # the same server under another host name

    async def main() -> None:
        async with Client(follow_redirects=True) as client:
            secret = {"Authorization": "Bearer secret", "Cookie": "session=1"}
            same = await client.get(f"{base}/redirect?to=/echo", headers=secret)
            assert headers_of(same)["authorization"] == "Bearer secret"
            assert headers_of(same)["cookie"] == "session=1"
            away = await client.get(
                f"{base}/redirect", params={"to": f"{other}/echo"}, headers=secret
            )
            assert away.url == f"{other}/echo"
            assert "authorization" not in headers_of(away)
            assert "cookie" not in headers_of(away)
            assert headers_of(away)["host"] == f"localhost:{port}"
            # auth= and cookies= of the request are not carried away either.
            away = await client.get(
                f"{base}/redirect",
                params={"to": f"{other}/echo"},
                auth=("user", "pass"),
                cookies={"session": "2"},
            )
            assert "authorization" not in headers_of(away)
            assert "cookie" not in headers_of(away)

    run(main())


ORIGIN_CASES = [
    # (from, to, credentials kept)
    ("http://a.example/x", "http://a.example/y", True),
    ("http://a.example/x", "http://A.EXAMPLE:80/y", True),
    ("http://a.example/x", "http://b.example/x", False),
    ("http://a.example/x", "http://a.example:8080/x", False),
    ("http://a.example:8080/x", "http://a.example/x", False),
    ("https://a.example/x", "http://a.example/x", False),  # a downgrade
    ("http://a.example/x", "https://a.example/x", True),  # the upgrade
    ("http://a.example:8080/x", "https://a.example:8443/x", False),
]


@pytest.mark.parametrize(("old", "new", "kept"), ORIGIN_CASES)
def test_which_redirects_keep_credentials(old: str, new: str, kept: bool) -> None:
    assert same_origin_for_credentials(old, new) is kept


def test_credentials_are_not_sent_to_another_port(base: str) -> None:
    async def main() -> None:
        async with recording_proxy() as (address, seen, _):  # answers any request
            async with Client(follow_redirects=True, auth=BearerAuth("secret")) as client:
                response = await client.get(
                    f"{base}/redirect", params={"to": f"http://{address}/elsewhere"}
                )
                assert response.json()["line"] == "GET /elsewhere HTTP/1.1"
                assert "authorization" not in seen[0]["headers"]

    run(main())


# Proxies.

NO_PROXY_CASES = [
    # (NO_PROXY, host, port, bypass)
    ("", "example.com", 80, False),
    ("*", "example.com", 80, True),
    ("example.com", "example.com", 80, True),
    ("example.com", "api.example.com", 80, True),
    ("example.com", "badexample.com", 80, False),
    (".example.com", "example.com", 80, True),
    (".example.com", "a.b.example.com", 80, True),
    ("*.example.com", "api.example.com", 80, True),
    ("EXAMPLE.com.", "Api.Example.COM", 80, True),
    ("example.com:8080", "example.com", 8080, True),
    ("example.com:8080", "example.com", 80, False),
    ("10.1.2.3", "10.1.2.3", 80, True),
    ("10.1.2.3", "10.1.2.4", 80, False),
    ("10.0.0.0/8", "10.200.1.1", 80, True),
    ("10.0.0.0/8", "11.0.0.1", 80, False),
    ("::1", "::1", 80, True),
    ("[::1]:8000", "::1", 8000, True),
    ("[::1]:8000", "::1", 80, False),
    ("fd00::/8", "fd12::1", 443, True),
    ("a.com, b.com  c.com", "c.com", 80, True),
    ("localhost,127.0.0.1", "localhost", 1234, True),
    ("127.0.0.1", "example.com", 80, False),
]


@pytest.mark.parametrize(("no_proxy", "host", "port", "bypass"), NO_PROXY_CASES)
def test_no_proxy_rules(no_proxy: str, host: str, port: int, bypass: bool) -> None:
    assert NoProxy(no_proxy).matches(host, port) is bypass


BAD_PROXIES = [
    ("socks5://127.0.0.1:1080", "only http://"),
    ("https://proxy:3128", "over TLS"),
    ("http://", "no host"),
    ("http://proxy:notaport", "invalid proxy URL"),
    ("http://proxy:99999", "invalid proxy URL"),
    ("http://proxy:3128/path", "no path"),
    ("http://user:hunter2@proxy:99999", r"user:\*\*\*@"),  # the password is not shown
]


@pytest.mark.parametrize(("url", "message"), BAD_PROXIES)
def test_bad_proxy_urls(url: str, message: str) -> None:
    with pytest.raises(ProxyError, match=message) as info:
        Client(proxy=url)
    assert "hunter2" not in str(info.value)


def test_proxy_url_forms() -> None:
    proxy = parse_proxy("proxy.local:3128")
    assert (proxy.origin, proxy.authorization) == (("http", "proxy.local", 3128, None), None)
    proxy = parse_proxy("http://us%40er:p%3Ass@[::1]")
    assert proxy.origin == ("http", "::1", 80, None)
    assert proxy.authorization == b"Basic " + base64.b64encode(b"us@er:p:ss")


def test_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://upper:1")
    monkeypatch.setenv("http_proxy", "http://lower:2")
    monkeypatch.setenv("ALL_PROXY", "http://all:3")
    monkeypatch.setenv("NO_PROXY", "internal.example,10.0.0.0/8")
    rules = ProxyRules(None, trust_env=True)
    assert rules.proxy_for("http", "example.com", None).origin == ("http", "lower", 2, None)  # type: ignore[union-attr]
    assert rules.proxy_for("http", "api.internal.example", None) is None
    assert rules.proxy_for("http", "10.9.9.9", 8080) is None
    # https goes through ALL_PROXY (a CONNECT tunnel).
    assert rules.proxy_for("https", "example.com", None).origin == ("http", "all", 3, None)  # type: ignore[union-attr]
    assert rules.proxy_for("https", "internal.example", 443) is None
    assert not ProxyRules(None, trust_env=False)
    # An explicit proxy= ignores the environment (NO_PROXY included).
    explicit = ProxyRules("http://mine:4", trust_env=True)
    assert explicit.proxy_for("http", "10.9.9.9", 80).origin == ("http", "mine", 4, None)  # type: ignore[union-attr]
    # A bad proxy variable is reported when the client is made.
    monkeypatch.setenv("http_proxy", "socks5://x:1")
    with pytest.raises(ProxyError):
        Client()


@contextlib.asynccontextmanager
async def recording_proxy() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A tiny HTTP proxy that answers every request itself, with JSON describing the
    request line and headers it received (keep-alive); yields its URL, the requests
    and a one-item list counting the connections accepted."""
    seen: list[dict[str, Any]] = []
    connections = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head[:-4].decode("latin-1").split("\r\n")
                headers = dict(f.split(": ", 1) for f in fields)
                headers = {k.lower(): v for k, v in headers.items()}
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length)
                seen.append({"line": line, "headers": headers, "body": body.decode()})
                answer = json.dumps(seen[-1]).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(answer), answer)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", seen, connections
    finally:
        server.close()


def test_requests_through_a_proxy_use_the_absolute_form(base: str) -> None:
    async def main() -> None:
        async with recording_proxy() as (address, seen, connections):
            proxy = f"http://us%40er:p%3Ass@{address}"
            async with Client(proxy=proxy) as client:
                first = await client.get("http://api.example.invalid/v1/items?page=2")
                line = "GET http://api.example.invalid/v1/items?page=2 HTTP/1.1"
                assert first.json()["line"] == line
                posted = await client.post("http://other.invalid:8080/x", json={"a": 1})
                assert posted.json()["line"] == "POST http://other.invalid:8080/x HTTP/1.1"
                assert posted.json()["body"] == '{"a":1}'
            assert [r["headers"]["host"] for r in seen] == [
                "api.example.invalid",
                "other.invalid:8080",
            ]
            expected = "Basic " + base64.b64encode(b"us@er:p:ss").decode()
            assert {r["headers"]["proxy-authorization"] for r in seen} == {expected}
            # One kept-alive connection to the proxy served both origins.
            assert connections[0] == 1

    run(main())


def test_proxy_from_the_environment_and_no_proxy(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with recording_proxy() as (address, seen, _):
            monkeypatch.setenv("HTTP_PROXY", f"http://{address}")
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            async with Client() as client:
                proxied = await client.get("http://service.invalid/status")
                assert proxied.json()["line"] == "GET http://service.invalid/status HTTP/1.1"
                assert "proxy-authorization" not in proxied.json()["headers"]
                direct = await client.get(f"{base}/echo")  # NO_PROXY: straight to the server
                assert direct.json()["target"] == "/echo"
            async with Client(trust_env=False) as client:
                direct = await client.get(f"{base}/echo")
                assert direct.json()["target"] == "/echo"
            assert len(seen) == 1
            # A redirect from a server reached directly to a host behind the proxy.
            async with Client(follow_redirects=True) as client:
                response = await client.get(
                    f"{base}/redirect", params={"to": "http://behind.invalid/x"}
                )
                assert response.json()["line"] == "GET http://behind.invalid/x HTTP/1.1"
                assert [r.status for r in response.history] == [302]

    run(main())


# Cookies.


def test_cookie_jar_keeps_and_sends_cookies(base: str) -> None:
    port = base.rsplit(":", 1)[1]
    other = f"http://localhost:{port}"

    async def main() -> None:
        async with Client(base_url=base) as client:
            setting = [
                "a=1",
                "scoped=2; Path=/echo",
                "secure=3; Secure",
                "gone=4; Max-Age=0",
                "old=5; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "later=6; Max-Age=3600; HttpOnly; SameSite=Lax",
                # Malformed ones, ignored without harming the others:
                "=novalue",
                ";;;",
                "foreign=7; Domain=example.com",
            ]
            await client.get("/set-cookie", params={"c": setting})
            assert client.cookies["a"] == "1"
            assert "gone" not in client.cookies and "old" not in client.cookies
            assert "foreign" not in client.cookies
            assert client.cookies.get("secure") == "3"  # kept, but only for https
            assert "secure=3" in (client.cookies.header_for(f"https://127.0.0.1:{port}/") or "")
            sent = headers_of(await client.get("/echo"))["cookie"]
            assert sorted(sent.split("; ")) == ["a=1", "later=6", "scoped=2"]
            # Path=/echo is not sent to /set-cookie; the jar updates a value.
            seen = headers_of(await client.get("/set-cookie", params={"c": "a=9"}))
            assert sorted(seen["cookie"].split("; ")) == ["a=1", "later=6"]
            assert client.cookies["a"] == "9"
            # Another host gets none of them.
            assert "cookie" not in headers_of(await client.get(f"{other}/echo"))
            # Deleting with Max-Age=0.
            await client.get("/set-cookie", params={"c": "a=; Max-Age=0"})
            assert "a" not in client.cookies

    run(main())


def test_cookies_set_by_the_user(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base, cookies={"initial": "x"}) as client:
            assert headers_of(await client.get("/echo"))["cookie"] == "initial=x"
            client.cookies = {"replaced": "y"}
            assert headers_of(await client.get("/echo"))["cookie"] == "replaced=y"
            client.cookies.set("site", "z", domain="127.0.0.1", path="/echo")
            client.cookies["more"] = "w"
            sent = headers_of(await client.get("/echo"))["cookie"]
            assert sorted(sent.split("; ")) == ["more=w", "replaced=y", "site=z"]
            # Per request: sent with it, not kept.
            once = headers_of(await client.get("/echo", cookies={"once": "1"}))["cookie"]
            assert "once=1" in once.split("; ")
            assert "once" not in client.cookies
            # An explicit Cookie header wins over the jar.
            explicit = await client.get("/echo", headers={"Cookie": "mine=1"})
            assert headers_of(explicit)["cookie"] == "mine=1"
            del client.cookies["more"]
            client.cookies.clear()
            assert not client.cookies
            assert "cookie" not in headers_of(await client.get("/echo"))
        jar = Cookies({"a": "1"})
        assert (dict(jar), len(jar), "a=1" in repr(jar)) == ({"a": "1"}, 1, True)

    run(main())


def test_cookies_set_during_redirects_are_sent_on(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base, follow_redirects=True) as client:
            to = "/set-cookie?c=" + quote("hop=1")
            response = await client.get("/redirect", params={"to": to})
            assert "cookie" not in headers_of(response)  # set by this very response
            assert headers_of(await client.get("/echo"))["cookie"] == "hop=1"

    run(main())


# Content-Encoding.


def test_every_coding_is_decoded(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base) as client:
            sent = headers_of(await client.get("/echo"))["accept-encoding"]
            assert sent == "gzip, deflate, br, zstd"
            for coding in ("gzip", "deflate", "raw-deflate", "br", "zstd", "gzip, br", "br,zstd"):
                response = await client.get("/encoded", params={"coding": coding})
                assert response.content == TEXT, coding
                async with client.stream("GET", "/encoded", params={"coding": coding}) as stream:
                    pieces = [piece async for piece in stream.iter_bytes()]
                assert b"".join(pieces) == TEXT, coding
                if "zstd" not in coding or _decoders.stdlib_zstd is not None:
                    # (the zstandard package's decoder has no output bound)
                    assert max(map(len, pieces)) <= DECODED_PIECE

    run(main())


def test_malformed_compressed_bodies_raise_decoding_error(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base) as client:
            for coding in ("gzip", "deflate", "br", "zstd"):
                for flaw in ("broken", "garbage"):
                    params = {"coding": coding, flaw: "1"}
                    with pytest.raises(DecodingError, match=coding):
                        (await client.get("/encoded", params=params)).content  # noqa: B018
                    async with client.stream("GET", "/encoded", params=params) as stream:
                        with pytest.raises(DecodingError):
                            async for _ in stream.iter_bytes():
                                pass
            # The client goes on.
            assert (await client.get("/encoded", params={"coding": "gzip"})).content == TEXT

    run(main())


def test_a_gzip_bomb_is_decoded_in_bounded_pieces(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base) as client:
            tracemalloc.start()
            try:
                async with client.stream("GET", "/bomb?mib=64") as response:
                    raw_size = int(response.headers["content-length"])
                    total, largest = 0, 0
                    async for piece in response.iter_bytes():
                        total, largest = total + len(piece), max(largest, len(piece))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert peak < 2 * 1024 * 1024, peak  # 64 MiB decoded, a few pieces held
            assert raw_size < 200_000
            assert total == 64 << 20
            assert largest <= DECODED_PIECE

    run(main())


def test_decoders_without_a_server() -> None:
    # One input piece of a bomb gives bounded pieces, lazily.
    bomb = gzip.compress(bytes(32 << 20))
    decoder = decoder_for("gzip")
    assert decoder is not None
    pieces = decoder.decode(bomb)
    first = next(pieces)
    assert len(first) == DECODED_PIECE
    assert sum(map(len, pieces)) + len(first) == 32 << 20
    assert list(decoder.flush()) == []
    # Unknown or absent codings leave the body alone.
    assert decoder_for("compress") is None
    assert decoder_for("gzip, whatever") is None
    assert decoder_for("identity") is None
    assert decoder_for(None) is None
    # Codings are undone last first.
    data = brotli.compress(zlib.compress(b"layers"))
    layered = decoder_for("deflate, br")
    assert layered is not None
    assert b"".join([*layered.decode(data), *layered.flush()]) == b"layers"
    # A gzip body of several members (RFC 1952), and padding after the last.
    members = decoder_for("gzip")
    assert members is not None
    data = gzip.compress(b"one ") + gzip.compress(b"two") + b"\0\0\0"
    assert b"".join([*members.decode(data), *members.flush()]) == b"one two"
    # A zstd body of several frames (RFC 8878), cut anywhere.
    frames = zstandard.ZstdCompressor().compress(b"a" * 1000) + zstandard.ZstdCompressor(
        level=3
    ).compress(b"b")
    for at in range(0, len(frames), 5):
        step = decoder_for("zstd")
        assert step is not None
        out = [*step.decode(frames[:at]), *step.decode(frames[at:]), *step.flush()]
        assert b"".join(out) == b"a" * 1000 + b"b"
    zst = zstandard.ZstdCompressor().compress(b"z" * 100_000)
    step = decoder_for("zstd")
    assert step is not None
    assert b"".join([*step.decode(zst[:10]), *step.decode(zst[10:]), *step.flush()]) == (
        b"z" * 100_000
    )


def test_accept_encoding_lists_only_what_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import pyre.client._decoders as decoders

    monkeypatch.setitem(__import__("sys").modules, "brotli", None)
    monkeypatch.setitem(__import__("sys").modules, "zstandard", None)
    try:
        reloaded = importlib.reload(decoders)
        assert reloaded.ACCEPT_ENCODING == "gzip, deflate"
        assert reloaded.decoder_for("br") is None
    finally:
        monkeypatch.undo()
        importlib.reload(decoders)
    assert _decoders.ACCEPT_ENCODING.startswith("gzip, deflate")


# Multipart uploads.


class RecordingFile(io.BytesIO):
    """A file object that remembers how much each read asked for."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name
        self.asks: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asks.append(-1 if size is None else size)
        return super().read(size)


class Unseekable:
    """A pipe-like file: read() only, size unknown."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_multipart_upload_is_parsed_by_the_server(base: str, tmp_path: Path) -> None:
    photo = os.urandom(300_000)
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n")
    recorded = RecordingFile(photo, "/tmp/photo.png")

    async def main() -> None:
        async with Client(base_url=base) as client:
            response = await client.post(
                "/form",
                data={"title": "Ünïcode title", "tags": ["a", "b"], "count": 3, "flag": True},
                files=[
                    ("photo", recorded),
                    ("report", path),
                    ("note", ("note.txt", b"hello", "text/x-note")),
                    ("quoted", ('we"ird\r\nname.bin', "text body")),
                    ("unnamed", (None, b"field from files")),
                    ("accented", ("résumé.txt", b"x")),
                ],
            )
            form = response.json()
            assert form["content_type"].startswith("multipart/form-data; boundary=")
            fields = form["fields"]
            assert fields["title"] == ["Ünïcode title"]
            assert fields["tags"] == ["a", "b"]
            assert (fields["count"], fields["flag"]) == (["3"], ["true"])
            assert fields["photo"] == [
                {
                    "filename": "photo.png",
                    "content_type": "image/png",
                    "size": len(photo),
                    "sha256": sha(photo),
                }
            ]
            assert fields["report"][0]["filename"] == "report.csv"
            assert fields["report"][0]["content_type"] == "text/csv"
            assert fields["report"][0]["sha256"] == sha(b"a,b\n1,2\n")
            assert fields["note"][0]["content_type"] == "text/x-note"
            assert fields["quoted"][0]["filename"] == "we%22ird%0D%0Aname.bin"
            assert fields["unnamed"] == ["field from files"]
            assert fields["accented"][0]["filename"] == "résumé.txt"  # UTF-8
            # The file object was read in bounded pieces, never whole.
            assert recorded.asks and max(recorded.asks) == _multipart.FILE_PIECE
            assert -1 not in recorded.asks
            # data= alone is an urlencoded form.
            response = await client.post(
                "/form", data={"name": "ada lovelace", "n": [1, 2], "ok": False, "é": b"&"}
            )
            assert response.json()["content_type"] == "application/x-www-form-urlencoded"
            assert response.json()["fields"] == {
                "name": ["ada lovelace"],
                "n": ["1", "2"],
                "ok": ["false"],
                "é": ["&"],
            }
            # Sent with a Content-Length when every size is known, chunked when not.
            echoed = await client.post("/echo", files={"f": ("f.bin", b"12345")})
            assert "content-length" in headers_of(echoed)
            echoed = await client.post("/echo", files={"f": ("f.bin", Unseekable(b"12345"))})
            assert headers_of(echoed).get("transfer-encoding") == "chunked"
            assert b"12345" in echoed.json()["body"].encode("latin-1")
            response = await client.post("/form", files={"f": ("p.bin", Unseekable(photo))})
            assert response.json()["fields"]["f"][0]["sha256"] == sha(photo)
            with pytest.raises(TypeError, match="one of"):
                await client.post("/form", content=b"x", files={"f": b"y"})

    run(main())


def test_a_large_file_is_streamed(base: str, tmp_path: Path) -> None:
    size = 24 * 1024 * 1024 + 123
    path = tmp_path / "large.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = size
        while remaining:
            piece = os.urandom(min(remaining, 1 << 20))
            digest.update(piece)
            out.write(piece)
            remaining -= len(piece)

    async def main() -> None:
        async with Client(base_url=base, timeout=20) as client:
            tracemalloc.start()
            try:
                response = await client.post("/form", files={"upload": path}, data={"k": "v"})
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            # Python never held the file: a few pieces at most.
            assert peak < 2 * 1024 * 1024, peak
            upload = response.json()["fields"]["upload"][0]
            assert (upload["size"], upload["sha256"]) == (size, digest.hexdigest())
            assert upload["content_type"] == "application/octet-stream"

    run(main(), timeout=60)


def test_multipart_bodies_follow_307_redirects(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base, follow_redirects=True) as client:
            source = io.BytesIO(b"sent twice")
            response = await client.post(
                "/redirect", params={"status": "307", "to": "/form"}, files={"f": ("a.txt", source)}
            )
            assert response.json()["fields"]["f"][0]["sha256"] == sha(b"sent twice")
            with pytest.raises(RequestNotRepeatable):
                await client.post(
                    "/redirect?status=307&to=/form", files={"f": ("a", Unseekable(b"x"))}
                )

    run(main())


# Auth, status errors, lines, charsets, JSON.


def test_basic_and_bearer_auth(base: str) -> None:
    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def main() -> None:
        async with Client(base_url=base, auth=("client", "pw")) as client:
            assert headers_of(await client.get("/echo"))["authorization"] == basic("client", "pw")
            token = await client.get("/echo", auth=BearerAuth("t0ken"))
            assert headers_of(token)["authorization"] == "Bearer t0ken"
            assert "authorization" not in headers_of(await client.get("/echo", auth=None))
            explicit = await client.get("/echo", headers={"Authorization": "Custom x"})
            assert headers_of(explicit)["authorization"] == "Custom x"
            utf8 = await client.get("/echo", auth=BasicAuth("jürgen", "pässword"))
            assert headers_of(utf8)["authorization"] == basic("jürgen", "pässword")
        async with Client() as client:
            port = base.rsplit(":", 1)[1]
            response = await client.get(f"http://u%40x:p%3Aw@127.0.0.1:{port}/echo")
            assert headers_of(response)["authorization"] == basic("u@x", "p:w")
            assert response.url == f"{base}/echo"  # the password is not kept in the URL
        with pytest.raises(TypeError, match="auth must be"):
            Client(auth="user:pass")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            BearerAuth("bad\r\ntoken")

    run(main())


def test_raise_for_status(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base) as client:
            ok = await client.get("/status/200")
            assert ok.raise_for_status() is ok
            for status, kind in ((404, "Client error"), (502, "Server error")):
                response = await client.get(f"/status/{status}")
                with pytest.raises(HTTPStatusError, match=f"{kind} '{status}") as info:
                    response.raise_for_status()
                assert info.value.response is response
                assert info.value.request.url == f"{base}/status/{status}"
                assert info.value.request.method == "GET"
                assert info.value.request.headers["host"] == base.removeprefix("http://")

    run(main())


LINE_CASES = [
    # (pieces, lines)
    (["a\nb\n"], ["a", "b"]),
    (["a\r\nb\r\n"], ["a", "b"]),
    (["a\r", "\nb"], ["a", "b"]),  # CRLF split across pieces: one line end
    (["a\rb\r"], ["a", "b"]),
    (["x\r\r"], ["x", ""]),
    (["no end"], ["no end"]),
    (["sp", "lit", " line\nne", "xt"], ["split line", "next"]),
    (["\n\n"], ["", ""]),
    ([""], []),
]


@pytest.mark.parametrize(("pieces", "lines"), LINE_CASES)
def test_line_splitting(pieces: list[str], lines: list[str]) -> None:
    splitter = LineSplitter()
    out = [line for piece in pieces for line in splitter.feed(piece)]
    assert out + splitter.flush() == lines


def test_lines_of_a_response(base: str) -> None:
    expected = [f"line {i}" for i in range(50)] + ["last"]

    async def main() -> None:
        async with Client(base_url=base) as client:
            async with client.stream("GET", "/lines?n=50") as response:
                assert [line async for line in response.aiter_lines()] == expected
            response = await client.get("/lines?n=50")
            assert list(response.iter_lines()) == expected

    run(main())


def test_charsets_and_json(base: str) -> None:
    async def main() -> None:
        async with Client(base_url=base) as client:
            for name in ("utf-8", "latin-1", "ISO-8859-1", "utf-16", '"cp1252"'):
                response = await client.get("/charset", params={"cs": name})
                assert response.text == "déjà vu", name
            # An unknown charset: UTF-8, undecodable bytes as U+FFFD (never an error).
            response = await client.get("/charset", params={"cs": "no-such-charset"})
            assert response.charset_encoding is None
            assert response.encoding == "utf-8"
            assert response.text == "d\ufffdj\ufffd vu"
            response.encoding = "latin-1"  # the caller knows better
            assert response.text == "déjà vu"
            with pytest.raises(LookupError):
                response.encoding = "no-such-charset"
            async with client.stream("GET", "/charset", params={"cs": "latin-1"}) as stream:
                assert "".join([t async for t in stream.iter_text()]) == "déjà vu"
            assert (await client.get("/status/200")).json() == {"status": "x"}

    run(main())
