"""``Client``: async HTTP/1.1 requests over Pyre's Rust runtime.

How it works: the sockets live in Rust (``pyre._core.ClientCore``, a ``mio`` poll of
the client's connections) and the asyncio loop watches the poll's fd with
``loop.add_reader``, as the server does. Each request takes a connection from the
pool (or connects one: DNS by ``loop.getaddrinfo``, the addresses tried in order),
writes its head and body through Rust, and awaits futures that Rust resolves as the
response arrives. Timeouts are timers on those futures: when one fires, the future
fails with the step's timeout error and the connection is closed.

One ``Client`` has one poll: the client does not share the server's poll in this
version (see docs/client.md).
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

from pyre import __version__
from pyre._core import ClientCore
from pyre.client._config import Limits, Timeout
from pyre.client._content import EMPTY, Body, Content, make_body, to_bytes
from pyre.client._errors import (
    CORE_ERRORS,
    ConnectError,
    ConnectTimeout,
    ReadTimeout,
    RemoteProtocolError,
    TooManyRedirects,
    TransportError,
    WriteTimeout,
)
from pyre.client._headers import Headers
from pyre.client._pool import Origin, Pool
from pyre.client._response import Response
from pyre.client._tls import CertTypes, VerifyTypes, tls_config
from pyre.client._urls import Params, ip_literal, merge_url, split_url

HeaderTypes = Mapping[str, str] | Sequence[tuple[str, str]] | Headers
RawHeaders = list[tuple[bytes, bytes]]

DEFAULT_MAX_REDIRECTS = 20
DEFAULT_TIMEOUTS = Timeout()
DEFAULT_LIMITS = Limits()
# Methods whose requests carry a body by definition: without content they are sent
# with Content-Length: 0 (some servers refuse them with no length at all).
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
# Content headers dropped when a redirect turns the request into a GET.
CONTENT_HEADERS = frozenset((b"content-length", b"content-type", b"transfer-encoding"))
# The default read high-water mark (see pyre-net's DEFAULT_CLIENT_READ_HIGH_WATER).
READ_HIGH_WATER = 256 * 1024


class _Unset:
    pass


UNSET: Any = _Unset()


class _Deadline:
    """Fails a future with ``error(message)`` once ``seconds`` passed without the
    connection moving a byte: while bytes move (a long download, a large file
    upload), the timer is re-armed rather than fired."""

    __slots__ = ("error", "future", "handle", "loop", "mark", "message", "progress", "seconds")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        seconds: float,
        error: type[Exception],
        message: str,
        progress: Callable[[], int] | None,
    ) -> None:
        self.loop, self.future, self.seconds = loop, future, seconds
        self.error, self.message, self.progress = error, message, progress
        self.mark = progress() if progress is not None else 0
        self.handle = loop.call_later(seconds, self.fire)

    def fire(self) -> None:
        if self.future.done():
            return
        if self.progress is not None:
            now = self.progress()
            if now != self.mark:
                self.mark = now
                self.handle = self.loop.call_later(self.seconds, self.fire)
                return
        self.future.set_exception(self.error(self.message))


def _header_items(headers: HeaderTypes | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Headers):
        return headers.multi_items()
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


class Client:
    """An HTTP/1.1 client with a connection pool. Use it as ``async with Client() as
    client:``, or call ``await client.aclose()`` when done.

    ``base_url`` is joined with relative URLs; ``headers`` are sent with every request;
    ``timeout`` is a ``Timeout`` or seconds for every step (None: none);
    ``limits`` bounds the pool; redirects are followed only with
    ``follow_redirects=True`` (at most ``max_redirects``); ``read_high_water`` is how
    many response bytes a streamed response buffers before reading pauses.

    ``https`` URLs are verified against the Mozilla roots compiled in (webpki-roots);
    ``verify`` takes a CA bundle path, an ``ssl.SSLContext`` or ``False`` (no
    verification: dangerous), and ``cert`` a client certificate (see
    pyre/client/_tls.py and docs/client.md, "TLS (https)").
    """

    def __init__(
        self,
        *,
        base_url: str = "",
        headers: HeaderTypes | None = None,
        timeout: Timeout | float | None = DEFAULT_TIMEOUTS,
        limits: Limits = DEFAULT_LIMITS,
        follow_redirects: bool = False,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        read_high_water: int = READ_HIGH_WATER,
        write_high_water: int = 64 * 1024,
        write_low_water: int = 16 * 1024,
        max_response_head: int = 64 * 1024,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = Timeout.of(timeout)
        self.limits = limits
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self._tls_key, self._tls = tls_config(verify, cert)
        self._core_options = {
            "read_high_water": read_high_water,
            "write_high_water": write_high_water,
            "write_low_water": write_low_water,
            "max_head_bytes": max_response_head,
        }
        defaults: dict[bytes, tuple[bytes, bytes]] = {
            b"user-agent": (b"user-agent", f"pyre/{__version__}".encode()),
            b"accept": (b"accept", b"*/*"),
            b"accept-encoding": (b"accept-encoding", b"gzip, deflate"),
        }
        for name, value in _header_items(headers):
            defaults[name.lower().encode("latin-1")] = (
                name.encode("latin-1"),
                value.encode("latin-1"),
            )
        self._default_headers = defaults
        self._default_list: RawHeaders = list(defaults.values())
        self._core: ClientCore | None = None
        self._pool: Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # Life cycle.

    async def __aenter__(self) -> Client:
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _start(self) -> tuple[ClientCore, Pool]:
        if self._core is not None and self._pool is not None:
            return self._core, self._pool
        if self._closed:
            raise RuntimeError("the client is closed")
        loop = asyncio.get_running_loop()
        core = ClientCore(loop, CORE_ERRORS, **self._core_options)
        loop.add_reader(core.fileno(), self._on_ready)
        self._loop, self._core = loop, core
        self._pool = Pool(core, loop, self.limits)
        return core, self._pool

    def _on_ready(self) -> None:
        core = self._core
        if core is not None and core.on_ready() and self._loop is not None:
            self._loop.call_soon(self._on_ready)

    async def aclose(self) -> None:
        """Closes every connection; the client cannot be used afterwards."""
        self._closed = True
        if self._core is not None and self._loop is not None:
            self._loop.remove_reader(self._core.fileno())
            if self._pool is not None:
                self._pool.close()
            self._core = None
            self._pool = None

    @property
    def open_connections(self) -> int:
        """Connections open now (idle ones included)."""
        return 0 if self._pool is None else self._pool.total

    # Requests.

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: HeaderTypes | None = None,
        content: Content | None = None,
        json: Any = None,
        timeout: Timeout | float | None = UNSET,
        follow_redirects: bool | None = None,
    ) -> Response:
        """Sends a request and reads the whole response body."""
        return await self._send(
            method, url, params, headers, content, json, timeout, follow_redirects, False
        )

    def stream(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: HeaderTypes | None = None,
        content: Content | None = None,
        json: Any = None,
        timeout: Timeout | float | None = UNSET,
        follow_redirects: bool | None = None,
    ) -> _StreamContext:
        """``async with client.stream(...) as response:`` sends a request and gives the
        response once its head arrived; read the body with ``response.iter_bytes()``.
        The connection goes back to the pool when the block exits."""
        call = self._send(
            method, url, params, headers, content, json, timeout, follow_redirects, True
        )
        return _StreamContext(call)

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str, **kwargs: Any) -> Response:
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str, **kwargs: Any) -> Response:
        return await self.request("OPTIONS", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PATCH", url, **kwargs)

    # Internals.

    def _headers(self, headers: HeaderTypes | None, body: Body) -> RawHeaders:
        if headers is None and body.content_type is None:
            return self._default_list
        merged = dict(self._default_headers)
        if body.content_type is not None:
            merged[b"content-type"] = (b"content-type", body.content_type.encode())
        for name, value in _header_items(headers):
            merged[name.lower().encode("latin-1")] = (
                name.encode("latin-1"),
                value.encode("latin-1"),
            )
        return list(merged.values())

    async def _send(
        self,
        method: str,
        url: str,
        params: Params | None,
        headers: HeaderTypes | None,
        content: Content | None,
        json: Any,
        timeout: Timeout | float | None,
        follow_redirects: bool | None,
        stream: bool,
    ) -> Response:
        self._start()
        method = method.upper()
        timeouts = self.timeout if timeout is UNSET else Timeout.of(timeout)
        url = merge_url(self.base_url, url, params)
        body = make_body(content, json)
        raw_headers = self._headers(headers, body)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history: list[Response] = []
        while True:
            response = await self._exchange(method, url, raw_headers, body, timeouts, stream)
            if not (follow and response.is_redirect):
                response.history = history
                return response
            await response.aclose()
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(f"more than {self.max_redirects} redirects (last: {url})")
            history.append(response)
            method, url, raw_headers, body = _redirect(method, url, raw_headers, body, response)

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: RawHeaders,
        body: Body,
        timeouts: Timeout,
        stream: bool,
    ) -> Response:
        core, pool = self._start()
        (scheme, host, port), authority, target = split_url(url)
        origin: Origin = (scheme, host, port, self._tls_key if scheme == "https" else None)
        request_headers = [(b"host", authority), *headers]
        verb = method.encode()
        for attempt in (0, 1):
            conn = pool.take_idle(origin)
            reused = conn is not None
            if conn is None:
                conn = await pool.acquire(origin, timeouts.pool)
                reused = conn is not None
                if conn is None:
                    try:
                        conn = await self._connect(core, origin, timeouts.connect)
                    except BaseException:
                        pool.forget(origin)
                        raise
            try:
                await self._write(core, conn, verb, target, request_headers, body, timeouts, method)
                message = f"no response bytes from {origin[1]}:{origin[2]} for {timeouts.read}s"
                if stream:
                    status, reason, version, fields = await self._wait(
                        core.response(conn), timeouts.read, ReadTimeout, message, conn
                    )
                    raw = None
                else:
                    (status, reason, version, fields), raw = await self._wait(
                        core.response(conn, True), timeouts.read, ReadTimeout, message, conn
                    )
            except RemoteProtocolError as e:
                pool.discard(origin, conn)
                # A kept-alive connection the server closed just as we reused it:
                # nothing was processed, so the request is sent once more on a new
                # connection when its body can be sent again.
                if (
                    reused
                    and attempt == 0
                    and body.replayable
                    and "without sending a response" in str(e)
                ):
                    continue
                raise
            except BaseException:
                pool.discard(origin, conn)
                raise
            if raw is not None:
                pool.release(origin, conn)
                return Response(
                    status, reason, version, fields, method=method, url=url, content=raw
                )
            return Response(
                status,
                reason,
                version,
                fields,
                method=method,
                url=url,
                next_piece=_PieceReader(self, core, conn, timeouts.read),
                close=functools.partial(pool.release, origin, conn),
            )
        raise AssertionError("unreachable")

    async def _write(
        self,
        core: ClientCore,
        conn: int,
        verb: bytes,
        target: bytes,
        headers: RawHeaders,
        body: Body,
        timeouts: Timeout,
        method: str,
    ) -> None:
        if body.data is not None:
            core.send_request(conn, verb, target, headers, len(body.data))
            if core.send_body(conn, body.data, True):
                await self._drained(core, conn, timeouts)
        elif body.path is not None:
            size = body.size or 0
            core.send_request(conn, verb, target, headers, size)
            if size and core.send_file(conn, body.path, 0, size):
                await self._drained(core, conn, timeouts)
        elif body.stream is not None:
            core.send_request(conn, verb, target, headers, None, True)
            await self._send_stream(core, conn, body.stream, timeouts)
        else:
            core.send_request(conn, verb, target, headers, 0 if method in BODY_METHODS else None)

    async def _send_stream(
        self, core: ClientCore, conn: int, stream: Any, timeouts: Timeout
    ) -> None:
        # A piece is pulled only when the previous one was taken below the
        # high-water mark (write backpressure).
        if isinstance(stream, AsyncIterable):
            async for piece in stream:
                data = to_bytes(piece)
                if data and core.send_body(conn, data):
                    await self._drained(core, conn, timeouts)
        else:
            for piece in stream:
                data = to_bytes(piece)
                if data and core.send_body(conn, data):
                    await self._drained(core, conn, timeouts)
        if core.send_body(conn, b"", True):
            await self._drained(core, conn, timeouts)

    def _drained(self, core: ClientCore, conn: int, timeouts: Timeout) -> Awaitable[Any]:
        message = f"the server took no request bytes for {timeouts.write}s"
        return self._wait(core.drained(conn), timeouts.write, WriteTimeout, message, conn)

    async def _connect(self, core: ClientCore, origin: Origin, seconds: float | None) -> int:
        scheme, host, port, _ = origin
        tls = self._tls if scheme == "https" else None
        addresses = await self._resolve(host, port, seconds)
        errors = []
        for address in addresses:
            try:
                conn = core.connect(address, port, tls, host)
            except ConnectError as e:
                errors.append(str(e))
                continue
            try:
                message = f"connecting to {host} port {port} took longer than {seconds}s"
                await self._wait(core.connected(conn), seconds, ConnectTimeout, message)
                return conn
            except ConnectError as e:
                core.close(conn)
                errors.append(f"cannot connect to {address} port {port}: {e}")
            except BaseException:
                core.close(conn)
                raise
        raise ConnectError("; ".join(errors) or f"no address for {host}")

    async def _resolve(self, host: str, port: int, seconds: float | None) -> list[str]:
        if ip_literal(host):
            return [host]
        assert self._loop is not None
        try:
            infos = await asyncio.wait_for(
                self._loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), seconds
            )
        except asyncio.TimeoutError:
            raise ConnectTimeout(f"resolving {host} took longer than {seconds}s") from None
        except OSError as e:
            raise ConnectError(f"cannot resolve {host}: {e}") from None
        addresses: list[str] = []
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
                addresses.append(str(sockaddr[0]))
        return addresses

    def _wait(
        self,
        future: Any,
        seconds: float | None,
        error: type[Exception],
        message: str,
        conn: int | None = None,
    ) -> Awaitable[Any]:
        """``future``, failing with ``error(message)`` if ``seconds`` pass without it
        done (and, given ``conn``, without that connection moving a byte)."""
        if seconds is None or future.done():
            return future  # type: ignore[no-any-return]
        return self._timed(future, seconds, error, message, conn)

    async def _timed(
        self,
        future: asyncio.Future[Any],
        seconds: float,
        error: type[Exception],
        message: str,
        conn: int | None,
    ) -> Any:
        assert self._loop is not None and self._core is not None
        progress = None if conn is None else functools.partial(self._core.progress, conn)
        deadline = _Deadline(self._loop, future, seconds, error, message, progress)
        try:
            return await future
        finally:
            deadline.handle.cancel()


class _PieceReader:
    """The next body piece of a streamed response, with the read timeout."""

    __slots__ = ("_client", "_conn", "_core", "_seconds")

    def __init__(self, client: Client, core: ClientCore, conn: int, seconds: float | None) -> None:
        self._client, self._core, self._conn, self._seconds = client, core, conn, seconds

    def __call__(self) -> Awaitable[bytes]:
        message = f"no response body bytes for {self._seconds}s"
        return self._client._wait(
            self._core.read(self._conn), self._seconds, ReadTimeout, message, self._conn
        )


class _StreamContext:
    def __init__(self, call: Awaitable[Response]) -> None:
        self._call = call
        self._response: Response | None = None

    async def __aenter__(self) -> Response:
        self._response = await self._call
        return self._response

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            await self._response.aclose()


def _redirect(
    method: str, url: str, headers: RawHeaders, body: Body, response: Response
) -> tuple[str, str, RawHeaders, Body]:
    """The request a redirect asks for (RFC 9110 section 15.4): 303 (and 301/302 after
    POST) becomes GET without a body; 307/308 repeat the method and body; credentials
    are not sent to another origin."""
    new_url = urljoin(url, response.headers["location"])
    status = response.status
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", EMPTY
        headers = [h for h in headers if h[0].lower() not in CONTENT_HEADERS]
    elif not body.replayable:
        raise TransportError(
            f"cannot follow a {status} redirect: the streamed request body cannot be sent again"
        )
    if split_url(new_url)[0] != split_url(url)[0]:
        headers = [h for h in headers if h[0].lower() not in (b"authorization", b"cookie")]
    return method, new_url, headers, body
