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

Around each exchange, ``_send`` applies what a client for real APIs does, each in
its own module: credentials (_auth.py), the cookie jar (_cookies.py), the proxy
decision (_proxy.py) and redirects (_redirects.py); bodies for ``data=``/``files=``
come from _content.py and _multipart.py, response decoding from _decoders.py.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pyre import __version__
from pyre._core import ClientCore
from pyre.client._auth import Auth, AuthTypes, to_auth, url_auth
from pyre.client._config import Limits, Timeout
from pyre.client._content import Body, Content, make_body, to_bytes
from pyre.client._cookies import Cookies, CookieTypes
from pyre.client._decoders import ACCEPT_ENCODING
from pyre.client._errors import (
    CORE_ERRORS,
    ConnectError,
    ConnectTimeout,
    ProxyError,
    ReadTimeout,
    RemoteProtocolError,
    TimeoutException,
    TooManyRedirects,
    WriteTimeout,
)
from pyre.client._headers import Headers
from pyre.client._multipart import RequestData, RequestFiles
from pyre.client._pool import Origin, Pool
from pyre.client._proxy import Proxy, ProxyRules
from pyre.client._redirects import next_request
from pyre.client._request import Request
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
# The most bytes of a redirect's own body read (and dropped) on a streamed request
# so that its connection can be reused; a longer body closes the connection instead.
REDIRECT_BODY_DRAIN = 64 * 1024
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

    ``auth`` (``(user, password)``, ``BasicAuth``, ``BearerAuth``) is sent with every
    request; ``cookies`` seed the client's jar (``client.cookies``), which keeps
    what servers set; ``proxy`` (``"http://user:pass@proxy:3128"``) sends every
    request through that proxy; without it, ``trust_env=True`` reads
    ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``.

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
        auth: AuthTypes | None = None,
        cookies: CookieTypes | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
    ) -> None:
        self.base_url = base_url
        self.auth: Auth | None = to_auth(auth)
        self._cookies = Cookies(cookies)
        self.trust_env = trust_env
        self._proxies = ProxyRules(proxy, trust_env)
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
            b"accept-encoding": (b"accept-encoding", ACCEPT_ENCODING.encode()),
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
    def cookies(self) -> Cookies:
        """The client's cookie jar: what servers set, sent back by the jar's rules."""
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: CookieTypes | None) -> None:
        self._cookies = Cookies(cookies)

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
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        auth: AuthTypes | None = UNSET,
        cookies: CookieTypes | None = None,
        timeout: Timeout | float | None = UNSET,
        follow_redirects: bool | None = None,
    ) -> Response:
        """Sends a request and reads the whole response body.

        ``data`` is a form (urlencoded; multipart with ``files``); ``auth`` replaces
        the client's for this request (None: none); ``cookies`` are sent with this
        request only, to its host."""
        body = make_body(content, json, data, files)
        return await self._send(
            method, url, params, headers, body, auth, cookies, timeout, follow_redirects, False
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
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        auth: AuthTypes | None = UNSET,
        cookies: CookieTypes | None = None,
        timeout: Timeout | float | None = UNSET,
        follow_redirects: bool | None = None,
    ) -> _StreamContext:
        """``async with client.stream(...) as response:`` sends a request and gives the
        response once its head arrived; read the body with ``response.iter_bytes()``.
        The connection goes back to the pool when the block exits."""
        body = make_body(content, json, data, files)
        call = self._send(
            method, url, params, headers, body, auth, cookies, timeout, follow_redirects, True
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
        if body.length is not None:
            merged[b"content-length"] = (b"content-length", str(body.length).encode())
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
        body: Body,
        auth: AuthTypes | None,
        cookies: CookieTypes | None,
        timeout: Timeout | float | None,
        follow_redirects: bool | None,
        stream: bool,
    ) -> Response:
        self._start()
        method = method.upper()
        timeouts = self.timeout if timeout is UNSET else Timeout.of(timeout)
        url, url_credentials = url_auth(merge_url(self.base_url, url, params))
        raw_headers = self._headers(headers, body)
        # Credentials: this request's auth=, else the client's, else the URL's;
        # an Authorization header given explicitly wins over all of them.
        credentials = self.auth if auth is UNSET else to_auth(auth)
        credentials = credentials or url_credentials
        if credentials is not None and not _has(raw_headers, b"authorization"):
            value = credentials.authorization().encode("latin-1")
            raw_headers = [*raw_headers, (b"authorization", value)]
        jars = [self._cookies]
        if cookies:
            jars.append(self._cookies.with_request_cookies(cookies, url))
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history: list[Response] = []
        while True:
            hop_headers = raw_headers
            if jars[-1] and not _has(raw_headers, b"cookie"):
                cookie = jars[-1].header_for(url)
                if cookie:
                    hop_headers = [*raw_headers, (b"cookie", cookie.encode("latin-1"))]
            proxy = self._proxy_for(url) if self._proxies.by_scheme else None
            response = await self._exchange(method, url, hop_headers, body, timeouts, stream, proxy)
            set_cookies = [
                v.decode("latin-1")
                for n, v in response.headers.raw
                if len(n) == 10 and n.lower() == b"set-cookie"
            ]
            if set_cookies:
                for jar in jars:
                    jar.extract(url, set_cookies)
            if not (follow and response.is_redirect):
                response.history = history
                return response
            if stream:
                await _drain(response, REDIRECT_BODY_DRAIN)
            await response.aclose()
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(f"more than {self.max_redirects} redirects (last: {url})")
            history.append(response)
            location = response.headers.get_list("location")[0]
            method, url, raw_headers, body = next_request(
                method, url, raw_headers, body, response.status, location
            )

    def _proxy_for(self, url: str) -> Proxy | None:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return None  # split_url reports the bad URL
        return self._proxies.proxy_for(parts.scheme.lower(), parts.hostname or "", port)

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: RawHeaders,
        body: Body,
        timeouts: Timeout,
        stream: bool,
        proxy: Proxy | None = None,
    ) -> Response:
        core, pool = self._start()
        (scheme, host, port), authority, target = split_url(url)
        origin: Origin = (scheme, host, port, self._tls_key if scheme == "https" else None)
        request_headers = [(b"host", authority), *headers]
        tunnel: Proxy | None = None
        if proxy is not None and scheme == "https":
            # Through a CONNECT tunnel: TLS to the origin inside a connection to the
            # proxy, keyed by both (a direct connection never serves it), and the
            # request as it would go direct.
            tunnel = proxy
            origin = (scheme, host, port, (self._tls_key, proxy.origin))
        elif proxy is not None:
            # Through a proxy: its connection, the absolute URL as the target.
            origin = proxy.origin
            target = b"%s://%s%s" % (url.partition(":")[0].lower().encode(), authority, target)
            if proxy.authorization is not None:
                request_headers.append((b"proxy-authorization", proxy.authorization))
        request = Request(method, url, request_headers)
        verb = method.encode()
        for attempt in (0, 1):
            conn = pool.take_idle(origin)
            reused = conn is not None
            if conn is None:
                conn = await pool.acquire(origin, timeouts.pool)
                reused = conn is not None
                if conn is None:
                    try:
                        conn = await self._connect(core, origin, timeouts.connect, tunnel)
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
                    status,
                    reason,
                    version,
                    fields,
                    method=method,
                    url=url,
                    content=raw,
                    request=request,
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
                request=request,
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

    async def _connect(
        self, core: ClientCore, origin: Origin, seconds: float | None, tunnel: Proxy | None = None
    ) -> int:
        scheme, host, port, _ = origin
        tls = self._tls if scheme == "https" else None
        # Through a tunnel, TCP goes to the proxy and TLS starts once it is open.
        dial_host, dial_port = (tunnel.origin[1], tunnel.origin[2]) if tunnel else (host, port)
        addresses = await self._resolve(dial_host, dial_port, seconds)
        errors = []
        for address in addresses:
            try:
                conn = core.connect(address, dial_port, None if tunnel else tls, host)
            except ConnectError as e:
                errors.append(str(e))
                continue
            try:
                message = f"connecting to {dial_host} port {dial_port} took longer than {seconds}s"
                if tunnel is None:
                    await self._wait(core.connected(conn), seconds, ConnectTimeout, message)
                    return conn
                assert tls is not None
                try:
                    await asyncio.wait_for(
                        self._open_tunnel(core, conn, host, port, tunnel, tls), seconds
                    )
                except asyncio.TimeoutError as e:
                    if isinstance(e, TimeoutException):
                        raise
                    raise ConnectTimeout(
                        f"opening a tunnel to {host} port {port} through the proxy "
                        f"{tunnel.url} took longer than {seconds}s"
                    ) from None
                return conn
            except ConnectError as e:
                core.close(conn)
                errors.append(f"cannot connect to {address} port {dial_port}: {e}")
            except BaseException:
                core.close(conn)
                raise
        raise ConnectError("; ".join(errors) or f"no address for {host}")

    async def _open_tunnel(
        self,
        core: ClientCore,
        conn: int,
        host: str,
        port: int,
        proxy: Proxy,
        tls: Any,
    ) -> None:
        """``CONNECT host:port`` on a new connection to ``proxy`` (RFC 9110 section
        9.3.6), then TLS for ``host`` inside the tunnel a 2xx answer opens."""
        await core.connected(conn)
        authority = (f"[{host}]:{port}" if ":" in host else f"{host}:{port}").encode("ascii")
        headers = [(b"host", authority)]
        if proxy.authorization is not None:
            headers.append((b"proxy-authorization", proxy.authorization))
        core.send_request(conn, b"CONNECT", authority, headers)
        try:
            (status, reason, _, _), _ = await core.response(conn, True)
        except RemoteProtocolError as e:
            raise RemoteProtocolError(f"the proxy {proxy.url}, asked to CONNECT: {e}") from None
        if not 200 <= status < 300:
            raise ProxyError(
                f"the proxy {proxy.url} refused the tunnel to {host}:{port}: "
                f"{status} {bytes(reason).decode('latin-1')}"
            )
        try:
            core.start_tls(conn, tls, host)
        except RemoteProtocolError as e:
            raise RemoteProtocolError(f"the proxy {proxy.url}: {e}") from None
        await core.connected(conn)

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


async def _drain(response: Response, limit: int) -> None:
    """Reads at most ``limit`` bytes of ``response``'s body, so that a short body
    (the usual redirect's) leaves its connection reusable."""
    size = 0
    async for piece in response.iter_raw():
        size += len(piece)
        if size > limit:
            break


def _has(headers: RawHeaders, name: bytes) -> bool:
    """Is field ``name`` (lowercase) among ``headers``?"""
    return any(field.lower() == name for field, _ in headers)
