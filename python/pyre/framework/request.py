"""The framework's ``Request``: one object for a handler, whichever interface the app
runs on (PSGI on Pyre, ASGI elsewhere). The interface-specific part is a small
*source* object: where the method, path, headers and body come from."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pyre._core import ClientDisconnected
from pyre.framework.background import BackgroundTasks
from pyre.framework.datastructures import MultiDict
from pyre.framework.exceptions import HTTPException
from pyre.framework.forms import FormData, parse_form

if TYPE_CHECKING:
    from pyre.framework.app import App


class QueryParams(MultiDict):
    """The query string's parameters: ``query["a"]`` is the first value of ``a``,
    ``query.getlist("a")`` every value, in order."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


class Headers:
    """Request header fields (ASGI side), with the API of PSGI's ``Headers``: a
    case-insensitive multi-map, names lowercased, values as latin-1 str."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._fields = [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in raw]

    def get(self, name: str, default: Any = None) -> Any:
        name = name.lower()
        return next((v for n, v in self._fields if n == name), default)

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self._fields if n == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def keys(self) -> list[str]:
        return [n for n, _ in self._fields]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n == name.lower() for n, _ in self._fields)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._fields)


class PsgiSource:
    """A request arriving over PSGI (Pyre)."""

    def __init__(self, request: Any) -> None:
        self.native = request
        self.method = request.method
        self.path = request.path

    @property
    def query_string(self) -> bytes:
        return self.native.query_string

    @property
    def headers(self) -> Any:
        return self.native.headers

    @property
    def client(self) -> tuple[str, int] | None:
        return self.native.client

    @property
    def server(self) -> Any:
        return self.native.server

    def stream(self) -> AsyncIterator[bytes]:
        return self.native.stream()

    async def read(self) -> bytes:
        return await self.native.body()


class AsgiSource:
    """A request arriving over ASGI (uvicorn, granian, or Pyre with ``--interface
    asgi``)."""

    def __init__(self, scope: Mapping[str, Any], receive: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.method = scope["method"]
        self.path = scope["path"]
        self._headers: Headers | None = None
        self._ended = False

    @property
    def query_string(self) -> bytes:
        return self.scope["query_string"]

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def client(self) -> Any:
        return self.scope.get("client")

    @property
    def server(self) -> Any:
        return self.scope.get("server")

    async def stream(self) -> AsyncIterator[bytes]:
        while not self._ended:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected("client disconnected")
            self._ended = not message.get("more_body", False)
            if message.get("body"):
                yield message["body"]

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.stream()])


class Body:
    """``request.body``: ``await body.bytes()``, ``.text()``, ``.json()``, or ``async
    for piece in request.body`` to stream it (with backpressure: the client is not
    read faster than the loop consumes). Read once: streaming consumes it, and
    ``bytes()`` keeps what it read for ``text()`` and ``json()``.

    ``limit`` (the app's ``max_body_size``, 1 MiB by default) bounds what
    ``bytes()``, ``text()``, ``json()`` and ``form()`` read: a larger body is a 413,
    known from ``Content-Length`` before anything is read, else once the limit is
    passed. Uploaded files of a multipart form count too. Streaming is not limited
    here (the server's ``--limit-request-body`` still applies)."""

    def __init__(self, source: Any, limit: int | None = None) -> None:
        self._source = source
        self._limit = limit
        self._cached: bytes | None = None
        self._form: FormData | None = None

    def _check_length(self, limit: int | None) -> None:
        if limit is None:
            return
        declared = self._source.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"the body is larger than {limit} bytes")

    async def _limited(self, limit: int | None) -> AsyncIterator[bytes]:
        self._check_length(limit)
        total = 0
        async for piece in self._source.stream():
            total += len(piece)
            if limit is not None and total > limit:
                raise HTTPException(413, f"the body is larger than {limit} bytes")
            yield piece

    async def bytes(self) -> bytes:
        if self._cached is None:
            if self._limit is None:
                self._cached = await self._source.read()
            else:
                self._cached = b"".join([piece async for piece in self._limited(self._limit)])
        return self._cached

    async def text(self, encoding: str = "utf-8") -> str:
        try:
            return (await self.bytes()).decode(encoding)
        except UnicodeDecodeError as exc:
            raise HTTPException(400, f"the body is not {encoding} text") from exc

    async def json(self) -> Any:
        try:
            return json.loads(await self.bytes())
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise HTTPException(400, f"the body is not JSON: {exc}") from exc

    async def form(
        self,
        *,
        max_fields: int = 1000,
        max_files: int = 1000,
        max_part_size: int = 1024 * 1024,
        max_size: int | None = None,
    ) -> FormData:
        """The body as a form (urlencoded or multipart/form-data): fields and
        :class:`~pyre.framework.forms.UploadFile` files. More than ``max_fields`` fields
        or ``max_files`` files is a 400, a field over ``max_part_size`` bytes a 413, a
        body that is not a form a 415. A body over ``max_size`` is a 413; by default
        that is the app's ``max_body_size`` for an urlencoded form, and no limit for
        a multipart one (its files are spooled to disk; its fields are bounded by
        ``max_part_size`` and ``max_fields``)."""
        if self._form is None:
            content_type = self._source.headers.get("content-type") or ""
            limit = max_size
            if limit is None and not content_type.lower().startswith("multipart/"):
                limit = self._limit
            self._form = await parse_form(
                content_type,
                self._limited(limit),
                max_fields=max_fields,
                max_files=max_files,
                max_part_size=max_part_size,
            )
        return self._form

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._source.stream()


class HTTPConnection:
    """What a request and a WebSocket share: path, headers, query, cookies, client,
    the app, per-connection state and (with sessions enabled) the session."""

    scheme = "http"

    def __init__(self, source: Any, app: App, path_params: dict[str, Any]) -> None:
        self._source = source
        self.app = app
        self.method: str = source.method
        self.path: str = source.path
        self.path_params = path_params
        self._state: SimpleNamespace | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None

    @property
    def state(self) -> SimpleNamespace:
        """A namespace for this request's own data (middleware to handler), made on
        first use."""
        if self._state is None:
            self._state = SimpleNamespace()
        return self._state

    @property
    def headers(self) -> Any:
        """The header fields: ``get``, ``get_all``, ``items``, ``in``, iteration."""
        return self._source.headers

    @property
    def query(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(self._source.query_string)
        return self._query

    @property
    def query_string(self) -> bytes:
        return self._source.query_string

    @property
    def client(self) -> tuple[str, int] | None:
        return self._source.client

    @property
    def url(self) -> str:
        """The full URL, from the Host header (or the listening address)."""
        host = self.headers.get("host")
        if host is None:
            server = self._source.server
            host = f"{server[0]}:{server[1]}" if server and server[1] else "localhost"
        query = self._source.query_string
        return f"{self.scheme}://{host}{self.path}" + (
            f"?{query.decode('latin-1')}" if query else ""
        )

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies (``Cookie`` header), by name; the first of repeats."""
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for header in self.headers.get_all("cookie"):
                for part in header.split(";"):
                    name, sep, value = part.strip().partition("=")
                    if sep and name and name not in cookies:
                        cookies[name] = _unquote(value.strip())
            self._cookies = cookies
        return self._cookies

    def __getattr__(self, name: str) -> Any:
        if name == "session":
            raise AttributeError(
                "request.session needs sessions: call app.enable_sessions(secret_key)"
            )
        raise AttributeError(name)


class Request(HTTPConnection):
    """One request, as a handler sees it."""

    def __init__(self, source: Any, app: App, path_params: dict[str, Any]) -> None:
        super().__init__(source, app, path_params)
        self._body: Body | None = None
        self._background: BackgroundTasks | None = None

    @property
    def body(self) -> Body:
        """The request body (see :class:`Body`), read up to the app's
        ``max_body_size``."""
        if self._body is None:
            self._body = Body(self._source, getattr(self.app, "max_body_size", None))
        return self._body

    @property
    def background_tasks(self) -> BackgroundTasks:
        """Tasks run after the response is sent (what a ``BackgroundTasks``
        parameter is given)."""
        if self._background is None:
            self._background = BackgroundTasks()
        return self._background

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))")


def _unquote(value: str) -> str:
    """A cookie value as received: a quoted one loses its quotes and escapes (octal
    escapes are bytes, decoded as UTF-8, the way responses.set_cookie writes them)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    raw = bytearray()
    inner = value[1:-1]
    position = 0
    for match in _ESCAPE.finditer(inner):
        raw += inner[position : match.start()].encode("utf-8")
        octal, char = match.groups()
        raw += bytes([int(octal, 8)]) if octal else char.encode("utf-8")
        position = match.end()
    raw += inner[position:].encode("utf-8")
    return raw.decode("utf-8", errors="replace")
