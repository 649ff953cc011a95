"""pyre.client against scripted servers on raw sockets: misbehaving servers get a
clean error naming what they did wrong (never a hang or a crash), 1xx responses are
skipped, close-delimited bodies end at EOF, timeouts fire, the pool keeps its
limits, and backpressure holds in both directions. Each fake server is an asyncio
server in the test's own loop; every test is bounded by ``run``'s timeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest

from pyre.client import (
    Client,
    ConnectError,
    ConnectTimeout,
    Limits,
    PoolTimeout,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    Timeout,
    WriteTimeout,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def fake(handler: Handler) -> AsyncIterator[str]:
    """A loopback server running ``handler`` per connection; yields its URL."""
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def replying(*replies: bytes, keep_open: bool = False) -> Handler:
    """A handler that answers each request with the next reply, then closes (or
    waits for the client to close)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            await read_request(reader)
            writer.write(reply)
            await writer.drain()
        if keep_open:
            await reader.read()

    return handler


async def failure(reply: bytes, **client: Any) -> Exception:
    async with fake(replying(reply)) as url, Client(**client) as c:
        with pytest.raises(Exception) as info:
            await c.get(url)
        return info.value


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP response"),
        (b"\x00\xff\x13garbage\r\n\r\n", "not an HTTP response"),
        (b"", "without sending a response"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "in the middle of the response head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "before the response body ended"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
            "before the response body ended",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            "invalid chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", "invalid response"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n", "invalid response"),
    ],
)
def test_bad_responses_are_remote_protocol_errors(reply: bytes, expected: str) -> None:
    error = run(failure(reply))
    assert isinstance(error, RemoteProtocolError), repr(error)
    assert expected in str(error)


def test_an_oversized_head_is_refused() -> None:
    huge = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    error = run(failure(huge, max_response_head=16 * 1024))
    assert isinstance(error, RemoteProtocolError)
    assert "response head larger than 16384 bytes" in str(error)


def test_too_many_header_fields_are_refused() -> None:
    many = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n"
    error = run(failure(many))
    assert isinstance(error, RemoteProtocolError)
    assert "too many header fields" in str(error)


def test_interim_responses_are_skipped() -> None:
    reply = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 102 Processing\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"
    )

    async def main() -> None:
        async with fake(replying(reply)) as url, Client() as c:
            response = await c.get(url)
            assert (response.status, response.content) == (200, b"done")
            assert "link" not in response.headers

    run(main())


def test_a_close_delimited_body_ends_at_eof() -> None:
    async def main() -> None:
        for version in (b"1.0", b"1.1"):
            reply = b"HTTP/" + version + b" 200 OK\r\nX: y\r\n\r\n" + b"z" * 100_000
            async with fake(replying(reply)) as url, Client() as c:
                response = await c.get(url)
                assert response.content == b"z" * 100_000
                assert c.open_connections == 0  # never reused
                async with c.stream("GET", url) as streamed:
                    total = sum([len(p) async for p in streamed.iter_bytes()])
                assert total == 100_000

    run(main())


def test_keep_alive_and_a_stale_connection_is_retried_once() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if connections == 1:
            # Read the second request, then close without answering (a keep-alive
            # race on the server's side).
            await read_request(reader)

    async def main() -> None:
        async with fake(handler) as url, Client() as c:
            assert (await c.get(url)).content == b"ok"
            assert c.open_connections == 1
            assert (await c.get(url)).content == b"ok"
            assert connections == 2

    run(main())


def test_extra_bytes_after_a_response_forbid_reuse() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"

    async def main() -> None:
        async with fake(replying(reply, keep_open=True)) as url, Client() as c:
            assert (await c.get(url)).content == b"ok"
            assert c.open_connections == 0

    run(main())


def test_read_timeout_on_head_and_on_body() -> None:
    async def main() -> None:
        async with fake(replying(b"", keep_open=True)) as url, Client(timeout=0.3) as c:
            with pytest.raises(ReadTimeout, match="no response"):
                await c.get(url)
            assert c.open_connections == 0
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
        async with fake(replying(reply, keep_open=True)) as url, Client(timeout=0.3) as c:
            async with c.stream("GET", url) as response:
                with pytest.raises(ReadTimeout, match="no response body bytes"):
                    async for _ in response.iter_bytes():
                        pass

    run(main())


def test_connect_errors() -> None:
    async def main() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        async with Client() as c:
            with pytest.raises(ConnectError, match="refused"):
                await c.get(f"http://127.0.0.1:{port}/")
            with pytest.raises(ConnectError, match="cannot resolve"):
                await c.get("http://no-such-host.invalid/")
            assert c.open_connections == 0

    run(main())


def test_connect_timeout() -> None:
    # A listener that never accepts, with its accept queue filled: the kernel drops
    # further SYNs, so a connect neither succeeds nor fails.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)

    async def main() -> None:
        async with Client(timeout=Timeout(connect=0.3)) as c:
            with pytest.raises(ConnectTimeout):
                await c.get(f"http://127.0.0.1:{port}/")
            assert c.open_connections == 0

    try:
        run(main())
    finally:
        for s in [*fillers, listener]:
            s.close()


def test_pool_limit_and_pool_timeout() -> None:
    async def main() -> None:
        async with fake(replying(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")) as url:
            limits = Limits(max_connections=1)
            async with Client(limits=limits, timeout=Timeout(pool=0.2)) as c:
                async with c.stream("GET", url) as response:
                    with pytest.raises(PoolTimeout):
                        await c.get(url)
                    await response.read()

    run(main())


def test_a_slow_consumer_bounds_memory_and_stops_socket_reads() -> None:
    total = 64 * 1024 * 1024
    sent = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        piece = b"x" * 65536
        while sent < total:
            writer.write(piece)
            await writer.drain()
            sent += len(piece)

    async def main() -> None:
        async with fake(handler) as url, Client() as c:
            async with c.stream("GET", url) as response:
                chunks = response.iter_raw()
                first = await chunks.__anext__()
                assert first
                # The consumer pauses: the server can send only what the kernel
                # buffers plus the client's read high-water mark.
                await asyncio.sleep(0.5)
                stalled = sent
                assert stalled < 32 * 1024 * 1024, stalled
                received = len(first)
                async for chunk in chunks:
                    assert len(chunk) <= 256 * 1024
                    received += len(chunk)
                assert received == total

    run(main(), timeout=60)


def test_a_slow_server_stops_the_upload_iterator() -> None:
    pulled = 0
    release = None

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        assert release is not None
        await release.wait()
        while True:
            line = await reader.readline()
            size = int(line.strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    def body() -> Any:
        nonlocal pulled
        for _ in range(2000):  # 125 MiB if pulled without limit
            pulled += 1
            yield b"u" * 65536

    async def main() -> None:
        nonlocal release
        release = asyncio.Event()
        async with fake(handler) as url, Client(timeout=10) as c:
            task = asyncio.ensure_future(c.post(url, content=body()))
            await asyncio.sleep(0.5)
            held = pulled
            assert 0 < held < 400, held  # kernel buffers plus 64 KiB, not everything
            release.set()
            response = await task
            assert response.status == 204
            assert pulled == 2000

    run(main(), timeout=60)


def test_write_timeout_when_the_server_takes_nothing() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    def body() -> Any:
        while True:
            yield b"w" * 65536

    async def main() -> None:
        async with fake(handler) as url, Client(timeout=Timeout(write=0.3)) as c:
            with pytest.raises(WriteTimeout):
                await c.post(url, content=body())
            assert c.open_connections == 0

    run(main(), timeout=30)


def test_early_response_to_an_upload_is_received() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig"
        )
        await writer.drain()
        writer.close()

    def body() -> Any:
        for _ in range(200):
            yield b"b" * 65536

    async def main() -> None:
        async with fake(handler) as url, Client() as c:
            response = await c.post(url, content=body())
            assert (response.status, response.content) == (413, b"big")

    run(main(), timeout=30)


def test_a_reset_connection_is_a_read_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.1)
        # SO_LINGER with a zero timeout: close() sends a reset instead of a FIN.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def main() -> None:
        async with fake(handler) as url, Client() as c:
            async with c.stream("GET", url) as response:
                received = b""
                with pytest.raises(ReadError, match="reset"):
                    async for chunk in response.iter_raw():
                        received += chunk
                assert received == b"partial"

    run(main())


def test_timeouts_measure_time_without_progress() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        for _ in range(10):  # 1 s in all, a byte every 0.1 s
            await asyncio.sleep(0.1)
            writer.write(b"d")
            await writer.drain()

    async def main() -> None:
        async with fake(handler) as url, Client(timeout=Timeout(read=0.4)) as c:
            response = await c.get(url)
            assert response.content == b"d" * 10

    run(main())
