"""Type stubs for the Rust extension module ``pyre._core`` (crates/pyre-py)."""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from os import PathLike
from typing import Any, Final, final

__version__: Final[str]
"""The package version; the single source is the workspace Cargo.toml."""

DEFAULT_MAX_HEAD_BYTES: Final[int]
"""Largest request head accepted by default, in bytes (larger: 431)."""

DEFAULT_MAX_TARGET_BYTES: Final[int]
"""Longest request-target accepted by default, in bytes (longer: 414)."""

DEFAULT_MAX_HEADERS: Final[int]
"""Most header fields accepted by default (more: 431)."""

DEFAULT_ACCESS_LOG_FORMAT: Final[str]
"""The default access log line: ``{client} - "{method} {path} HTTP/{http_version}" {status}``."""

ACCESS_LOG_FIELDS: Final[list[str]]
"""The access log's field names, in the order access records carry them."""

def check_access_log_format(spec: str) -> None:
    """Raises ValueError naming the problem if ``spec`` is not a valid access log
    format (an unknown ``{field}``, an unclosed brace)."""

METRICS_SNAPSHOT_BYTES: Final[int]
"""Size of a metrics snapshot (``Server.metrics()``): native-endian u64 words."""

def render_metrics(snapshots: Sequence[bytes]) -> str:
    """The Prometheus text (format 0.0.4) of the sum of metrics snapshots."""

def retire_metrics(retired: bytes, last: bytes) -> bytes:
    """``retired`` plus the counters (not the gauges) of ``last``, the final snapshot
    of a worker that exited."""

class ClientDisconnected(OSError):
    """The client closed the connection; the response cannot be sent."""

class WebSocketDisconnect(ClientDisconnected):
    """The WebSocket is closed: the peer closed it, the connection dropped (1006),
    or the application already closed it."""

    code: int
    reason: str

@final
class TlsConfig:
    """A checked server TLS configuration (rustls): certificate chain and key from PEM
    files, client certificate rules (``cert_reqs`` 0 none, 1 optional, 2 required,
    against ``ca_certs``), cipher suites by IANA name, ALPN protocols. Raises
    ValueError, naming the file and the problem, when they cannot be used."""

    def __init__(
        self,
        certfile: str | PathLike[str],
        keyfile: str | PathLike[str] | None = None,
        password: str | None = None,
        ca_certs: str | PathLike[str] | None = None,
        cert_reqs: int = 0,
        ciphers: str | None = None,
        alpn: list[str] = ...,
    ) -> None: ...

class Server:
    """The runtime bound to an asyncio loop and an ASGI application."""

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        report: Callable[[str, Any, Any], None],
        event_loop: Any,
        *,
        interface: str = "asgi",
        root_path: str = "",
        timeout_keep_alive: float = 75.0,
        timeout_header: float = 10.0,
        limit_concurrency: int | None = None,
        limit_request_head: int = 65536,
        limit_request_body: int | None = None,
        read_high_water: int = 65536,
        write_high_water: int = 65536,
        write_low_water: int = 16384,
        default_headers: list[tuple[bytes, bytes]] = ...,
        date_header: bool = True,
        proxy_headers: bool = True,
        forwarded_allow_ips: str = "127.0.0.1",
        protocol_error_log: Callable[[str], object] | None = None,
        access_log: Callable[[Any], object] | None = None,
        access_log_format: str = ...,
        access_log_output: str = "text",
        access_log_prefix: str = "",
        ws: str = "auto",
        ws_max_size: int = 16777216,
        ws_ping_interval: float | None = 20.0,
        ws_ping_timeout: float | None = 20.0,
        ws_per_message_deflate: bool = True,
        min_rate: int = 500,
        min_rate_grace: float = 20.0,
        tls: TlsConfig | None = None,
    ) -> None:
        """``access_log`` turns the access log on: the sink that receives its batches.
        ``access_log_output`` "text" and "json" give it ``str`` pieces of whole lines
        (each at most 4096 bytes unless one line is longer), text lines after
        ``access_log_prefix``; "records" gives it a list of tuples ``(message,
        created, *fields)``, fields in :data:`ACCESS_LOG_FIELDS` order.
        ``access_log_format`` as :func:`check_access_log_format` accepts."""
    def listen_tcp(self, host: str, port: int, backlog: int) -> tuple[str, int]:
        """Listens on TCP; returns the bound (host, port)."""
    def listen_unix(self, path: str | PathLike[str], backlog: int) -> tuple[str, None]:
        """Listens on a Unix domain socket; returns (path, None)."""
    def listen_fd(self, fd: int, backlog: int) -> tuple[Any, Any]:
        """Serves an inherited listening socket, taking ownership of it."""
    def fileno(self) -> int:
        """The poll's file descriptor, for ``loop.add_reader``."""
    def set_tls(self, tls: TlsConfig | None) -> None:
        """TLS for connections accepted from now on (open ones keep theirs)."""
    def set_state(self, state: dict[str, Any] | None) -> None:
        """The lifespan state; each request scope gets a shallow copy."""
    @property
    def in_flight(self) -> int:
        """Requests whose responses are not complete."""
    @property
    def active_tasks(self) -> int:
        """Application calls that have not returned (responses may be complete)."""
    @property
    def connections(self) -> int:
        """Open connections."""
    @property
    def requests_started(self) -> int:
        """Requests received since the server started (refused ones not counted)."""
    def metrics(self) -> bytes:
        """The counters and gauges now, as a snapshot of ``METRICS_SNAPSHOT_BYTES``
        bytes for ``render_metrics`` (see pyre.metrics)."""
    def on_ready(self) -> None:
        """Does all ready I/O, then starts the application for new requests."""
    def tick(self) -> None:
        """Sweeps deadlines (keep-alive, header timeout) and writes the access log's
        batch; call about once a second."""
    def flush_access_log(self) -> None:
        """Hands the access log lines recorded so far to the sink now."""
    def begin_shutdown(self) -> None:
        """Stops accepting (taking the connections already queued first); closes
        long-idle connections at once and recently busy ones after a short grace;
        in-flight requests finish and their connections close after the response."""
    def cancel_all(self) -> list[Any]:
        """Cancels the tasks of requests still running and returns them (their
        connections stay open while they unwind)."""
    def close_connections(self) -> None:
        """Closes every connection at once (the end of a shutdown) and writes the
        access log's last lines."""

@final
class Channel:
    """One request's ASGI ``receive`` and ``send``."""

    @property
    def status(self) -> int:
        """The status the application chose (0 before ``http.response.start``)."""
    def receive(self) -> Awaitable[dict[str, Any]]: ...
    def send(self, message: dict[str, Any]) -> Awaitable[None]: ...
    def finish(self, error: BaseException | None = None) -> str | None:
        """Settles the response when the application ended; returns what went
        wrong, if anything."""

class RequestTask:
    """A request's coroutine stepped from Rust in place of an ``asyncio.Task``:
    ``asyncio.current_task()`` while the request runs. It offers what the standard
    library and anyio use of a task; it is not in ``asyncio.all_tasks()``."""

    def cancel(self, msg: Any | None = None) -> bool: ...
    def cancelling(self) -> int: ...
    def uncancel(self) -> int: ...
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def result(self) -> Any: ...
    def exception(self) -> BaseException | None: ...
    def add_done_callback(
        self, callback: Callable[[RequestTask], object], *, context: Any | None = None
    ) -> None: ...
    def remove_done_callback(self, callback: Callable[[RequestTask], object]) -> int: ...
    def get_coro(self) -> Coroutine[Any, Any, Any]: ...
    def get_context(self) -> Any: ...
    def get_loop(self) -> asyncio.AbstractEventLoop: ...
    def get_name(self) -> str: ...
    def set_name(self, value: object) -> None: ...
    def get_stack(self, *, limit: int | None = None) -> list[Any]: ...

class ProtocolError(RuntimeError):
    """The application broke the response protocol (responded twice, wrote after
    finishing, a body that does not match its declared length)."""

class Headers:
    """PSGI request header fields: a case-insensitive multi-map. Names are
    lowercased; values are str (latin-1, as sent)."""

    def get(self, name: str, default: Any = None) -> str | Any: ...
    def get_all(self, name: str) -> list[str]: ...
    def items(self) -> list[tuple[str, str]]: ...
    def keys(self) -> list[str]: ...
    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The fields as bytes pairs, in order."""
    def __getitem__(self, name: str) -> str: ...
    def __contains__(self, name: object) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...

class BodyStream:
    """The request body as an async iterator of bytes pieces."""

    def __aiter__(self) -> BodyStream: ...
    def __anext__(self) -> Awaitable[bytes]: ...

class Request:
    """One HTTP request (PSGI)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def raw_path(self) -> bytes: ...
    @property
    def query_string(self) -> bytes: ...
    @property
    def http_version(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def tls(self) -> dict[str, Any] | None:
        """On a TLS connection, its facts as ASGI's TLS extension has them."""
    @property
    def client(self) -> tuple[str, int] | None: ...
    @property
    def server(self) -> tuple[str, int | None]: ...
    @property
    def headers(self) -> Headers: ...
    def body(self) -> Awaitable[bytes]: ...
    def stream(self) -> BodyStream: ...
    def disconnected(self) -> Awaitable[None]: ...
    @property
    def websocket(self) -> bool:
        """A valid WebSocket upgrade request."""
    @property
    def websocket_subprotocols(self) -> list[str]: ...

@final
class WebSocket:
    """An accepted WebSocket (PSGI)."""

    def receive(self) -> Awaitable[str | bytes]:
        """The next message; raises WebSocketDisconnect once closed."""
    def send_text(self, text: str) -> Awaitable[None]: ...
    def send_bytes(self, data: bytes | bytearray | memoryview) -> Awaitable[None]: ...
    def close(self, code: int = 1000, reason: str = "") -> Awaitable[None]: ...
    def __aiter__(self) -> WebSocket: ...
    def __anext__(self) -> Awaitable[str | bytes]: ...
    @property
    def subprotocol(self) -> str | None: ...
    @property
    def close_code(self) -> int | None: ...

class ResponseStream:
    """A streamed response body (PSGI)."""

    def write(self, data: bytes | str) -> Awaitable[None]: ...
    def finish(
        self, trailers: Iterable[tuple[str | bytes, str | bytes]] | None = None
    ) -> Awaitable[None]: ...

class Responder:
    """How a PSGI application answers one request."""

    def respond(
        self,
        status: int,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        body: bytes | str | None = None,
    ) -> None: ...
    def respond_file(
        self,
        status: int,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        path: str | PathLike[str],
        offset: int = 0,
        count: int | None = None,
    ) -> Awaitable[None]: ...
    def start(
        self,
        status: int,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        length: int | None = None,
    ) -> ResponseStream: ...
    def accept_websocket(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
    ) -> Awaitable[WebSocket]:
        """Accepts a WebSocket upgrade (101); RuntimeError on another request."""

class Router:
    """The framework's route table: a segment trie, immutable once built."""

    def __init__(
        self, routes: list[tuple[str, list[str], int]], custom: dict[str, Callable[[str], Any]]
    ) -> None:
        """``routes``: (template, methods, endpoint id); ``custom``: converter name ->
        callable returning the value or raising ValueError for no match. Raises
        ValueError for a malformed template, an unknown converter or a duplicate."""
    def resolve(self, method: str, path: str) -> tuple[int | None, Any] | None:
        """``(endpoint id, params)``; ``(None, allowed methods)`` for 405; None for
        404. HEAD falls back to GET."""

@final
class ClientTlsConfig:
    """A client's TLS settings as one rustls configuration, shared by its ``https``
    connections. ``verify=False`` disables verification (dangerous); otherwise the
    roots are ``ca_file`` (a PEM bundle), or ``ca_certs`` (DER certificates), or the
    Mozilla roots compiled in (webpki-roots). ``cert_file``/``key_file``: a client
    certificate chain and its key (PEM). Missing files raise ``FileNotFoundError``,
    invalid ones ``ValueError``."""

    def __init__(
        self,
        *,
        verify: bool = True,
        ca_file: str | PathLike[str] | None = None,
        ca_certs: list[bytes] | None = None,
        cert_file: str | PathLike[str] | None = None,
        key_file: str | PathLike[str] | None = None,
    ) -> None: ...

class ClientCore:
    """The client runtime (pyre-net's ``ClientRuntime``) bound to an asyncio loop; the
    sockets of one ``pyre.client.Client``. Connections are named by integer ids.
    Calls that may wait return asyncio futures, done at once when they can be."""

    def __init__(
        self,
        event_loop: Any,
        errors: tuple[
            type[Exception],
            type[Exception],
            type[Exception],
            type[Exception],
            type[Exception],
            type[Exception],
            type[Exception],
        ],
        *,
        read_high_water: int = 262144,
        write_high_water: int = 65536,
        write_low_water: int = 16384,
        max_head_bytes: int = 65536,
        max_headers: int = 100,
    ) -> None:
        """``errors``: the exception classes for connect, protocol, read, write,
        invalid-request, TLS and certificate failures, in that order."""
    def fileno(self) -> int:
        """The poll's file descriptor, for ``loop.add_reader``."""
    @property
    def connections(self) -> int:
        """Open connections (idle and busy)."""
    def on_ready(self) -> bool:
        """Does all ready I/O and settles futures; True when it should run again soon."""
    def connect(
        self,
        host: str,
        port: int,
        tls: ClientTlsConfig | None = None,
        server_name: str | None = None,
    ) -> int:
        """Starts connecting to an IP address; returns the connection id. With
        ``tls``, a TLS handshake for ``server_name`` (SNI and the certificate check;
        default ``host``) follows, which ``connected`` waits for."""
    def connected(self, id: int) -> Awaitable[None]:
        """Done when the connection is established (fails with the connect error)."""
    def start_tls(self, id: int, tls: ClientTlsConfig, server_name: str) -> None:
        """Starts TLS for ``server_name`` inside a plain connection whose exchange is
        over (a proxy's 2xx answer to ``CONNECT``); ``connected`` waits for the
        handshake. Raises when the proxy sent bytes after its answer."""
    def send_request(
        self,
        id: int,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        length: int | None = None,
        stream: bool = False,
    ) -> None:
        """Writes a request head (``length``: body size; ``stream``: unknown size)."""
    def send_body(self, id: int, data: bytes, end: bool = False) -> bool:
        """Sends body bytes; True when the caller must await ``drained`` first."""
    def send_file(self, id: int, path: str | PathLike[str], offset: int, count: int) -> bool:
        """Sends a file as the whole body by sendfile; True: await ``drained``."""
    def drained(self, id: int) -> Awaitable[None]:
        """Done when the request output drained below the low-water mark."""
    def response(self, id: int, whole: bool = False) -> Awaitable[Any]:
        """``(status, reason, version, headers)``; with ``whole``,
        ``((status, reason, version, headers), body)`` once the body ended."""
    def read(self, id: int) -> Awaitable[bytes]:
        """The next piece of the response body; ``b""`` at its end."""
    def release(self, id: int) -> bool:
        """Ends the exchange; True when the connection was kept for reuse."""
    def progress(self, id: int) -> int:
        """Bytes read and written on the connection so far."""
    def is_reusable(self, id: int) -> bool:
        """Whether an idle connection may carry a new request."""
    def close(self, id: int) -> None:
        """Closes one connection."""
    def close_all(self) -> None:
        """Closes every connection."""
