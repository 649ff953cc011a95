"""``App``: blueprints, the route table, middleware and error handling, served over
PSGI on Pyre (automatically: the app has ``__psgi__``) and over ASGI anywhere else.

How a request flows: the route table (a Rust trie, ``pyre._core.Router``, with the
endpoints it points to) is read once per request, so a table swapped in by
``add_blueprint``/``remove_blueprint`` never changes under a request in flight. The
request goes through the global middleware, then is matched (404, or 405 with
``Allow``), then through the blueprint's and the endpoint's middleware to the
handler, whose return value becomes a response. An exception anywhere becomes a
response at the layer that raised it: an exception handler registered for its type,
an ``HTTPException``'s status, or 500 (with the traceback only in debug mode).

A WebSocket (PSGI ``request.websocket``, or an ASGI scope of type ``"websocket"``)
takes its own path: it is matched under the pseudo-method ``WEBSOCKET`` (no route
denies it with 404), goes through the WebSocket middleware only (global, then the
blueprint's, then the endpoint's; HTTP middleware never sees it), and the endpoint
drives the connection itself (``pyre.framework.ws``). What the endpoint leaves
undone is finished here: not accepted is a 403, accepted and not closed is closed
with 1000, an exception is a 500 (an ``HTTPException``: its status) before the
handshake and a close with 1011 after it.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

from pyre._core import Router
from pyre.framework.bridge import serve_asgi_on_psgi
from pyre.framework.exceptions import HTTPException, RegistrationError
from pyre.framework.extensions import (
    Extension,
    ExtensionAlreadyLoaded,
    ExtensionError,
    ExtensionFailed,
    ExtensionNotLoaded,
    NoEntryPointError,
    Registry,
    call_maybe_async,
    forget,
    import_extension,
)
from pyre.framework.openapi import DocsBlueprint, build_document
from pyre.framework.request import AsgiSource, PsgiSource, Request
from pyre.framework.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    to_response,
)
from pyre.framework.routing import (
    WEBSOCKET,
    Blueprint,
    Endpoint,
    Middleware,
    WebSocketMiddleware,
    build_endpoint,
    fill_template,
    route_key,
)
from pyre.framework.sessions import SessionMiddleware, SessionStore
from pyre.framework.validation import RequestValidationError
from pyre.framework.ws import (
    AsgiWebSocketSource,
    PsgiWebSocketSource,
    WebSocket,
    WebSocketDisconnect,
    WebSocketState,
)

logger = logging.getLogger("pyre.error")

Handler = Callable[[Request], Awaitable[Response]]
WebSocketHandler = Callable[[WebSocket], Awaitable[None]]


@dataclass(frozen=True)
class RouteTable:
    """What one request reads: the matcher and the endpoints its ids name."""

    router: Router
    endpoints: tuple[Endpoint, ...]
    names: dict[str, Endpoint]


class App:
    """A web application made of blueprints.

    ``debug`` shows tracebacks in 500 responses (never enable it in production);
    ``redirect_slashes`` answers a path that only matches with (or without) a
    trailing slash with a 308 redirect to the one that does.

    ``app.openapi()`` is the OpenAPI 3.1 document of the routes (``title``,
    ``version``, ``description`` fill its ``info``). It is served only when asked
    for: ``openapi_url="/openapi.json"`` serves it as JSON, and ``docs_url="/docs"``
    (with ``openapi_url``) a page that renders it; both are off by default, so an
    app does not publish its API's shape unless it means to."""

    def __init__(
        self,
        *,
        debug: bool = False,
        redirect_slashes: bool = False,
        extensions: list[str] | tuple[str, ...] = (),
        lifespan: Callable[[App], AbstractAsyncContextManager[Any]] | None = None,
        title: str = "Pyre",
        version: str = "0.1.0",
        description: str | None = None,
        openapi_url: str | None = None,
        docs_url: str | None = None,
    ) -> None:
        self.debug = debug
        self.title = title
        self.version = version
        self.description = description
        # The app's own endpoints (openapi_url, docs_url), outside app.blueprints.
        self._builtin: list[tuple[Blueprint, str]] = (
            [(DocsBlueprint(self, openapi_url, docs_url), "")] if openapi_url else []
        )
        self._openapi: tuple[RouteTable, dict[str, Any], bytes] | None = None
        self.redirect_slashes = redirect_slashes
        self.state = SimpleNamespace()
        self._blueprints: list[tuple[Blueprint, str]] = []
        self._middleware: list[Middleware] = []
        self._websocket_middleware: list[WebSocketMiddleware] = []
        self._exception_handlers: dict[type[BaseException], Callable[..., Any]] = {}
        self._converters: dict[str, Callable[[str], Any]] = {}
        self._startup: list[Callable[[], Any]] = []
        self._shutdown: list[Callable[[], Any]] = []
        self._extensions: dict[str, Extension] = {}
        self._initial_extensions = tuple(extensions)
        self._lifespan = lifespan
        self._lifespan_context: AbstractAsyncContextManager[Any] | None = None
        # ASGI middleware wrapped around the app (outermost last added), or None.
        self._asgi_stack: Any = None
        self._table = self._build(self._blueprints, self._converters)
        self._entry: Handler = self._compose(self._middleware, self._route)
        self._websocket_entry = self._chain(self._websocket_middleware, self._route_websocket)

    # -- building ---------------------------------------------------------------------

    def add_blueprint(self, blueprint: Blueprint, prefix: str | None = None) -> None:
        """Registers a blueprint's endpoints (under ``prefix``, default the blueprint's
        own). Raises RegistrationError, leaving the app unchanged, when one cannot be
        registered."""
        if any(b is blueprint for b, _ in self._blueprints):
            raise RegistrationError(f"blueprint {type(blueprint).__name__} is already added")
        prefix = blueprint.prefix if prefix is None else prefix
        blueprints = [*self._blueprints, (blueprint, prefix)]
        self._table = self._build(blueprints, self._converters)
        self._blueprints = blueprints

    def remove_blueprint(self, blueprint: Blueprint) -> None:
        """Unregisters a blueprint; requests in flight finish on the old table."""
        blueprints = [(b, p) for b, p in self._blueprints if b is not blueprint]
        if len(blueprints) == len(self._blueprints):
            raise KeyError(f"blueprint {type(blueprint).__name__} is not added")
        self._table = self._build(blueprints, self._converters)
        self._blueprints = blueprints

    @property
    def blueprints(self) -> list[Blueprint]:
        return [b for b, _ in self._blueprints]

    def add_converter(self, name: str, converter: str | Callable[[str], Any]) -> None:
        """A custom path converter for ``{param:name}``: a regular expression the whole
        segment must match (the value stays a str), or a callable that returns the
        value or raises ValueError for "no match" (the next route is tried)."""
        if isinstance(converter, str):
            pattern = re.compile(converter)

            def convert(text: str) -> str:
                if pattern.fullmatch(text) is None:
                    raise ValueError(text)
                return text

            convert.pattern = converter  # type: ignore[attr-defined]  # for OpenAPI
        else:
            convert = converter
        converters = {**self._converters, name: convert}
        self._table = self._build(self._blueprints, converters)
        self._converters = converters

    def add_middleware(self, middleware: Middleware) -> None:
        """A global middleware, ``async def mw(request, call_next) -> Response``; the
        first added is the outermost."""
        self._middleware.append(middleware)
        self._entry = self._compose(self._middleware, self._route)

    def add_websocket_middleware(self, middleware: WebSocketMiddleware) -> None:
        """A global WebSocket middleware, ``async def mw(ws, call_next) -> None``: it
        may deny (``await ws.deny(403)`` or raise ``HTTPException``) or set
        ``ws.state`` before ``await call_next(ws)``; the first added is the
        outermost. HTTP middleware never wraps WebSocket endpoints."""
        self._websocket_middleware.append(middleware)
        self._websocket_entry = self._chain(self._websocket_middleware, self._route_websocket)

    def enable_sessions(
        self,
        secret_key: str | bytes | list[str | bytes],
        *,
        cookie_name: str = "session",
        max_age: int = 14 * 24 * 3600,
        path: str = "/",
        domain: str | None = None,
        same_site: str = "lax",
        https_only: bool = False,
        store: SessionStore | None = None,
    ) -> None:
        """Gives every request a ``request.session`` (see :mod:`pyre.framework.sessions`):
        a signed cookie holding JSON, or with ``store`` (e.g. ``MemoryStore()``) only a
        signed session id. ``secret_key`` may be a list for rotation (the last signs)."""
        middleware = SessionMiddleware(
            secret_key,
            cookie_name=cookie_name,
            max_age=max_age,
            path=path,
            domain=domain,
            same_site=same_site,
            https_only=https_only,
            store=store,
        )
        self._middleware.insert(0, middleware)
        self._entry = self._compose(self._middleware, self._route)

    def add_asgi_middleware(self, middleware_class: Any, **options: Any) -> None:
        """Wraps the app in a standard ASGI middleware, ``middleware_class(app,
        **options)`` (Starlette's CORSMiddleware, GZipMiddleware...); the last added is
        the outermost. On Pyre the request still arrives over PSGI and is handed to
        the middleware as ASGI."""
        inner = self._asgi_stack if self._asgi_stack is not None else self._asgi_app
        self._asgi_stack = middleware_class(inner, **options)

    def exception_handler(
        self, exc_type: type[BaseException]
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``handler(request, exc)`` (sync or async) answers exceptions of
        ``exc_type`` (and subclasses) with what it returns."""

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self._exception_handlers[exc_type] = handler
            return handler

        return register

    def on_startup(self, function: Callable[[], Any]) -> Callable[[], Any]:
        """Decorator: run (sync or async) before the server accepts requests."""
        self._startup.append(function)
        return function

    def on_shutdown(self, function: Callable[[], Any]) -> Callable[[], Any]:
        """Decorator: run (sync or async) after the server stopped serving."""
        self._shutdown.append(function)
        return function

    def url_for(self, endpoint_name: str, /, **params: Any) -> str:
        """The path of endpoint ``endpoint_name`` with ``params`` filled in."""
        endpoint = self._table.names.get(endpoint_name)
        if endpoint is None:
            raise KeyError(f"url_for: no endpoint named {endpoint_name!r}")
        return fill_template(endpoint.template, params)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the current routes, built on first use and
        again after any route change (see pyre.framework.openapi). Do not modify it."""
        return self._document()[0]

    def openapi_json(self) -> bytes:
        """``openapi()`` as JSON bytes (what ``openapi_url`` serves)."""
        return self._document()[1]

    def _document(self) -> tuple[dict[str, Any], bytes]:
        table = self._table
        if self._openapi is None or self._openapi[0] is not table:
            document = build_document(
                table.endpoints,
                self._converters,
                title=self.title,
                version=self.version,
                description=self.description,
            )
            self._openapi = (table, document, JSONResponse(document).body)
        return self._openapi[1], self._openapi[2]

    def _build(
        self, blueprints: list[tuple[Blueprint, str]], converters: dict[str, Any]
    ) -> RouteTable:
        endpoints: list[Endpoint] = []
        names: dict[str, Endpoint] = {}
        taken: dict[tuple[str, str], Endpoint] = {}
        for blueprint, prefix in [*blueprints, *self._builtin]:
            for attribute, handler, spec in blueprint.endpoints():
                endpoint = build_endpoint(
                    blueprint, attribute, handler, spec, prefix, set(converters)
                )
                key = route_key(endpoint.template)
                for method in endpoint.methods:
                    other = taken.get((key, method))
                    if other is not None:
                        raise RegistrationError(
                            f"endpoint {endpoint.name} ({endpoint.template}): {method}"
                            f" {other.template} is already served by {other.name}"
                        )
                    taken[(key, method)] = endpoint
                if endpoint.name in names:
                    raise RegistrationError(
                        f"endpoint {endpoint.name} ({endpoint.template}): the name is taken"
                    )
                if endpoint.websocket:
                    endpoint.call = self._chain(endpoint.middleware, endpoint.invoke)
                else:
                    endpoint.call = self._compose(endpoint.middleware, self._invoker(endpoint))
                names[endpoint.name] = endpoint
                endpoints.append(endpoint)
        router = Router(
            [(e.template, list(e.methods), i) for i, e in enumerate(endpoints)],
            converters,
        )
        return RouteTable(router, tuple(endpoints), names)

    def _invoker(self, endpoint: Endpoint) -> Handler:
        async def invoke(request: Request) -> Response:
            try:
                return to_response(await endpoint.invoke(request))
            except Exception as exc:
                return await self._handle_exception(request, exc)

        return invoke

    def _compose(
        self, middleware: list[Middleware] | tuple[Middleware, ...], inner: Handler
    ) -> Handler:
        """Wraps ``inner`` in ``middleware``, the first outermost. What a middleware
        returns is converted to a response; what it raises is handled there."""
        handler = inner
        for mw in reversed(middleware):
            handler = self._layer(mw, handler)
        return handler

    @staticmethod
    def _chain(
        middleware: list[WebSocketMiddleware] | tuple[WebSocketMiddleware, ...],
        inner: WebSocketHandler,
    ) -> WebSocketHandler:
        """Wraps a WebSocket handler in WebSocket middleware, the first outermost."""
        handler = inner
        for mw in reversed(middleware):

            def layer(mw: WebSocketMiddleware, call_next: WebSocketHandler) -> WebSocketHandler:
                async def run(ws: WebSocket) -> None:
                    await mw(ws, call_next)

                return run

            handler = layer(mw, handler)
        return handler

    def _layer(self, mw: Middleware, call_next: Handler) -> Handler:
        async def layer(request: Request) -> Response:
            try:
                return to_response(await mw(request, call_next))
            except Exception as exc:
                return await self._handle_exception(request, exc)

        return layer

    # -- extensions -------------------------------------------------------------------

    @property
    def extensions(self) -> dict[str, ModuleType]:
        """The loaded extensions' modules, by name."""
        return {name: extension.module for name, extension in self._extensions.items()}

    async def load_extension(self, name: str) -> None:
        """Imports module ``name`` and calls its ``setup(app)`` (sync or async).
        Raises ExtensionAlreadyLoaded, NoEntryPointError, or ExtensionFailed (the
        import or setup raised; what setup registered is undone)."""
        if name in self._extensions:
            raise ExtensionAlreadyLoaded(name)
        module = import_extension(name)
        self._extensions[name] = await self._set_up(name, module, self._registry())

    async def unload_extension(self, name: str) -> None:
        """Calls ``teardown(app)`` if the module has one, removes every blueprint,
        route, middleware, converter, exception handler and hook its setup
        registered, and drops the module from ``sys.modules``."""
        extension = self._extensions.pop(name, None)
        if extension is None:
            raise ExtensionNotLoaded(name)
        try:
            teardown = getattr(extension.module, "teardown", None)
            if callable(teardown):
                await call_maybe_async(teardown, self)
        finally:
            self._apply(self._registry().without(extension.owned))
            forget(name)

    async def reload_extension(self, name: str) -> None:
        """Re-imports the extension and sets it up again, atomically: if the new code
        fails to import or its setup raises, the old version stays in service and
        ExtensionFailed is raised. The old module's ``teardown`` runs after the new
        version is in place."""
        extension = self._extensions.get(name)
        if extension is None:
            raise ExtensionNotLoaded(name)
        saved = self._registry()
        old_modules = forget(name)
        base = saved.without(extension.owned)
        self._apply(base)
        try:
            module = import_extension(name)
            replacement = await self._set_up(name, module, base)
        except ExtensionError:
            self._apply(saved)
            sys.modules.update(old_modules)
            raise
        self._extensions[name] = replacement
        teardown = getattr(extension.module, "teardown", None)
        if callable(teardown):
            try:
                await call_maybe_async(teardown, self)
            except Exception:
                logger.exception("teardown of the replaced extension %s failed", name)

    async def _set_up(self, name: str, module: ModuleType, before: Registry) -> Extension:
        setup = getattr(module, "setup", None)
        if not callable(setup):
            forget(name)
            raise NoEntryPointError(name)
        try:
            await call_maybe_async(setup, self)
        except BaseException as exc:
            self._apply(before)
            forget(name)
            raise ExtensionFailed(name, exc) from exc
        return Extension(module, self._registry().added_since(before))

    def _registry(self) -> Registry:
        """A copy of everything registered now."""
        return Registry(
            self._blueprints,
            self._middleware,
            self._converters,
            self._exception_handlers,
            self._startup,
            self._shutdown,
            self._websocket_middleware,
        ).copy()

    def _apply(self, registry: Registry) -> None:
        """Makes ``registry`` the app's, swapping in its route table at once."""
        table = self._build(registry.blueprints, registry.converters)
        self._blueprints = list(registry.blueprints)
        self._middleware = list(registry.middleware)
        self._converters = dict(registry.converters)
        self._exception_handlers = dict(registry.exception_handlers)
        self._startup = list(registry.startup)
        self._shutdown = list(registry.shutdown)
        self._websocket_middleware = list(registry.websocket_middleware)
        self._table = table
        self._entry = self._compose(self._middleware, self._route)
        self._websocket_entry = self._chain(self._websocket_middleware, self._route_websocket)

    async def _start(self) -> None:
        if self._lifespan is not None:
            self._lifespan_context = self._lifespan(self)
            state = await self._lifespan_context.__aenter__()
            if isinstance(state, dict):
                for key, value in state.items():
                    setattr(self.state, key, value)
        for name in self._initial_extensions:
            if name not in self._extensions:
                await self.load_extension(name)
        await self._run_hooks(self._startup)

    async def _stop(self) -> None:
        try:
            await self._run_hooks(self._shutdown)
        finally:
            if self._lifespan_context is not None:
                context, self._lifespan_context = self._lifespan_context, None
                await context.__aexit__(None, None, None)

    # -- serving ----------------------------------------------------------------------

    async def _route(self, request: Request) -> Response:
        table = request._table  # type: ignore[attr-defined]
        match = table.router.resolve(request.method, request.path)
        if match is None:
            return await self._not_found(request, table)
        endpoint_id, params = match
        if endpoint_id is None:
            allowed = [m for m in params if m != WEBSOCKET]
            if not allowed:
                # Only a WebSocket endpoint serves this path.
                upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
                return await self._handle_exception(request, HTTPException(426, headers=upgrade))
            return await self._handle_exception(
                request, HTTPException(405, headers={"Allow": ", ".join(allowed)})
            )
        request.path_params = params
        return await table.endpoints[endpoint_id].call(request)

    async def _serve_websocket(self, source: Any) -> None:
        """One WebSocket connection, from the upgrade request to the close (see the
        module docstring for what is finished here)."""
        ws = WebSocket(source, self, {})
        ws._table = self._table  # type: ignore[attr-defined]
        try:
            for mw in self._middleware:
                if isinstance(mw, SessionMiddleware):
                    ws.session = await mw.load(ws)  # type: ignore[attr-defined]
            await self._websocket_entry(ws)
        except WebSocketDisconnect:
            return
        except Exception as exc:
            if ws.connection_state is WebSocketState.CONNECTING:
                if isinstance(exc, RequestValidationError):
                    body = JSONResponse({"detail": exc.errors}).body
                    await ws.deny(exc.status, body, {"content-type": "application/json"})
                    return
                if not isinstance(exc, HTTPException):
                    logger.error("Exception in WebSocket handler for %s", ws.path, exc_info=exc)
                    exc = HTTPException(500)
                await ws.deny(exc.status, exc.detail, exc.headers)
            elif ws.connection_state is WebSocketState.CONNECTED:
                logger.error("Exception in WebSocket handler for %s", ws.path, exc_info=exc)
                await ws.close(1011, "internal error")
            return
        if ws.connection_state is WebSocketState.CONNECTING:
            await ws.deny(403)
        elif ws.connection_state is WebSocketState.CONNECTED:
            await ws.close(1000)

    async def _route_websocket(self, ws: WebSocket) -> None:
        table = ws._table  # type: ignore[attr-defined]
        match = table.router.resolve(WEBSOCKET, ws.path)
        if match is None or match[0] is None:
            raise HTTPException(404)
        endpoint_id, params = match
        ws.path_params = params
        await table.endpoints[endpoint_id].call(ws)

    async def _not_found(self, request: Request, table: RouteTable) -> Response:
        if self.redirect_slashes and request.path != "/":
            other = request.path[:-1] if request.path.endswith("/") else request.path + "/"
            if table.router.resolve(request.method, other) is not None:
                query = request.query_string
                location = other + (f"?{query.decode('latin-1')}" if query else "")
                return RedirectResponse(location, status=308)
        return await self._handle_exception(request, HTTPException(404))

    async def _handle_exception(self, request: Request, exc: Exception) -> Response:
        for cls in type(exc).__mro__:
            handler = self._exception_handlers.get(cls)
            if handler is not None:
                result = handler(request, exc)
                if inspect.isawaitable(result):
                    result = await result
                return to_response(result)
        if isinstance(exc, RequestValidationError):
            # Always JSON: the list of failing fields is the answer.
            return JSONResponse({"detail": exc.errors}, status=exc.status, headers=exc.headers)
        if isinstance(exc, HTTPException):
            return self._error_response(request, exc.status, exc.detail, exc.headers)
        logger.error("Exception in handler for %s %s", request.method, request.path, exc_info=exc)
        detail = "".join(traceback.format_exception(exc)) if self.debug else "Internal Server Error"
        return self._error_response(request, 500, detail, {})

    def _error_response(
        self, request: Request, status: int, detail: str, headers: dict[str, str]
    ) -> Response:
        """JSON (``{"detail": ...}``) for a client that accepts JSON, else text."""
        if "application/json" in (request.headers.get("accept") or ""):
            return JSONResponse({"detail": detail}, status=status, headers=headers)
        return PlainTextResponse(detail, status=status, headers=headers)

    async def _handle(self, source: Any) -> Response:
        request = Request(source, self, {})
        request._table = self._table  # type: ignore[attr-defined]
        return await self._entry(request)

    async def __psgi__(self, request: Any, responder: Any) -> None:
        """PSGI (Pyre's native interface)."""
        if getattr(request, "websocket", False):
            await self._serve_websocket(PsgiWebSocketSource(request, responder))
            return
        if self._asgi_stack is not None:
            await serve_asgi_on_psgi(self._asgi_stack, request, responder)
            return
        source = PsgiSource(request)
        response = await self._handle(source)
        await response.send_psgi(responder, source)

    async def __psgi_startup__(self) -> None:
        await self._start()

    async def __psgi_shutdown__(self) -> None:
        await self._stop()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """ASGI 3 (HTTP, WebSocket and lifespan), for uvicorn, granian and the like.
        ASGI middleware (``add_asgi_middleware``) wraps HTTP requests only."""
        if scope["type"] == "http" and self._asgi_stack is not None:
            await self._asgi_stack(scope, receive, send)
        else:
            await self._asgi_app(scope, receive, send)

    async def _asgi_app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The app itself as ASGI, inside any ASGI middleware."""
        if scope["type"] == "http":
            source = AsgiSource(scope, receive)
            response = await self._handle(source)
            await response.send_asgi(send, scope, source)
        elif scope["type"] == "websocket":
            source = AsgiWebSocketSource(scope, receive, send)
            try:
                await source.connect()
            except WebSocketDisconnect:
                return
            await self._serve_websocket(source)
        elif scope["type"] == "lifespan":
            await self._asgi_lifespan(receive, send)

    async def _asgi_lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            phase = "startup" if kind == "lifespan.startup" else "shutdown"
            try:
                if phase == "startup":
                    await self._start()
                else:
                    await self._stop()
            except Exception as exc:
                await send({"type": f"lifespan.{phase}.failed", "message": repr(exc)})
                if phase == "startup":
                    return
            else:
                await send({"type": f"lifespan.{phase}.complete"})
            if phase == "shutdown":
                return

    async def _run_hooks(self, hooks: list[Callable[[], Any]]) -> None:
        for hook in hooks:
            result = hook()
            if inspect.isawaitable(result):
                await result
