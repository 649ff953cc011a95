"""``App``: blueprints, the route table, middleware and error handling, served over
PSGI on Pyre (automatically: the app has ``__psgi__``) and over ASGI anywhere else.

How a request flows: the route table (a Rust trie, ``pyre._core.Router``, with the
endpoints it points to) is read once per request, so a table swapped in by
``add_blueprint``/``remove_blueprint`` never changes under a request in flight. The
request goes through the global middleware, then is matched: first against the
mounts (``app.mount``, pyre.framework.mounts), the longest prefix first, then the
routes (404, or 405 with ``Allow``), then through the blueprint's and the endpoint's
middleware to the handler, whose return value becomes a response (``prepare()``d
there, so a missing file is a 404 the exception handlers see). Background tasks run
once the response was handed to the server. An exception anywhere becomes a
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

import asyncio
import contextlib
import inspect
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

from pyre._core import Router
from pyre.framework.background import run_background
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
    companions,
    forget,
    import_extension,
    restore_state,
    state_changes,
)
from pyre.framework.mounts import Mount, MountResponse
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

#: The default ``App(max_body_size=...)``: the most ``request.body.bytes()``,
#: ``.text()``, ``.json()`` and ``.form()`` read before answering 413 (1 MiB).
#: Streaming the body (``async for piece in request.body``) is not limited by it.
DEFAULT_MAX_BODY_SIZE = 1024 * 1024

#: The environment variable a supervised worker finds its supervisor's pid in
#: (set by pyre.supervisor), for ``App.signal_reload``.
SUPERVISOR_PID = "PYRE_SUPERVISOR_PID"

Handler = Callable[[Request], Awaitable[Response]]
WebSocketHandler = Callable[[WebSocket], Awaitable[None]]


@dataclass(frozen=True)
class RouteTable:
    """What one request reads: the matcher and the endpoints its ids name."""

    router: Router
    endpoints: tuple[Endpoint, ...]
    names: dict[str, Endpoint]
    #: Mounted apps, the longest prefix first (tried before the routes).
    mounts: tuple[Mount, ...] = ()
    #: Default endpoint names (``Class.method``) more than one endpoint has.
    ambiguous: frozenset[str] = frozenset()


class _Stage:
    """The registry an extension's setup registers into (see extensions.py)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry


class _Done(Coroutine[Any, Any, None]):
    """The result of ``load_extension`` when the work is already done (or deferred
    to startup): awaiting it, or not, is the same; ``asyncio.run`` takes it too."""

    def send(self, value: Any) -> Any:
        raise StopIteration(None)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        raise typ if val is None else val

    def close(self) -> None:
        pass

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())


class App:
    """A web application made of blueprints.

    ``debug`` shows tracebacks in 500 responses (never enable it in production);
    ``redirect_slashes`` answers a path that only matches with (or without) a
    trailing slash with a 308 redirect to the one that does; ``max_body_size`` is the
    most ``request.body.bytes()``/``.json()``/``.form()`` read (413 beyond; ``None``:
    no limit but the server's ``--limit-request-body``).

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
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
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
        self.max_body_size = max_body_size
        self.state = SimpleNamespace()
        self._mounts: list[Mount] = []
        # The extension setup running in this task, if any (see _set_up).
        self._staging: ContextVar[_Stage | None] = ContextVar(
            f"pyre-staging-{id(self)}", default=None
        )
        self._started = False
        # Extensions with an async setup loaded before the app started (load_extension
        # called at import time): loaded at startup, or before the first request.
        self._deferred: list[str] = []
        self._deferred_lock: asyncio.Lock | None = None
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
        self._table = self._build(self._blueprints, self._converters, self._mounts)
        self._entry: Handler = self._compose(self._middleware, self._route)
        self._websocket_entry = self._chain(self._websocket_middleware, self._route_websocket)

    # -- building ---------------------------------------------------------------------

    def add_blueprint(self, blueprint: Blueprint, prefix: str | None = None) -> None:
        """Registers a blueprint's endpoints (under ``prefix``, default the blueprint's
        own). Raises RegistrationError, leaving the app unchanged, when one cannot be
        registered."""
        registry = self._target()
        if any(b is blueprint for b, _ in registry.blueprints):
            raise RegistrationError(f"blueprint {type(blueprint).__name__} is already added")
        prefix = blueprint.prefix if prefix is None else prefix
        registry.blueprints.append((blueprint, prefix))
        self._commit(registry)

    def remove_blueprint(self, blueprint: Blueprint) -> None:
        """Unregisters a blueprint; requests in flight finish on the old table."""
        registry = self._target()
        blueprints = [(b, p) for b, p in registry.blueprints if b is not blueprint]
        if len(blueprints) == len(registry.blueprints):
            raise KeyError(f"blueprint {type(blueprint).__name__} is not added")
        registry.blueprints = blueprints
        self._commit(registry)

    @property
    def blueprints(self) -> list[Blueprint]:
        return [b for b, _ in self._blueprints]

    def mount(self, prefix: str, app: Any, *, name: str | None = None) -> None:
        """Serves every path under ``prefix`` (``/static``: ``/static`` and
        ``/static/...``) by ``app``: a :class:`~pyre.framework.staticfiles.StaticFiles`
        (or any object with ``async handle(request, path) -> Response``), or an ASGI
        application (a Starlette app...), which gets ``root_path`` + ``prefix`` as
        its ``root_path`` and the full path as ``path``, as Starlette's ``Mount``
        does. Mounts are tried before the routes, the longest prefix first; global
        middleware wraps what a ``handle`` answers (not an ASGI app's response)."""
        prefix = "/" + prefix.strip("/")
        if prefix == "/":
            raise RegistrationError("mount: the prefix must not be '/'")
        registry = self._target()
        if any(m.prefix == prefix for m in registry.mounts):
            raise RegistrationError(f"mount: {prefix} is already mounted")
        registry.mounts.append(Mount(prefix, app, name))
        self._commit(registry)

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
        registry = self._target()
        registry.converters[name] = convert
        self._commit(registry)

    def add_middleware(self, middleware: Middleware) -> None:
        """A global middleware, ``async def mw(request, call_next) -> Response``; the
        first added is the outermost. ``CORSMiddleware`` and ``GZipMiddleware``
        (:mod:`pyre.framework.middleware`) are such middleware."""
        registry = self._target()
        registry.middleware.append(middleware)
        self._commit(registry)

    def add_websocket_middleware(self, middleware: WebSocketMiddleware) -> None:
        """A global WebSocket middleware, ``async def mw(ws, call_next) -> None``: it
        may deny (``await ws.deny(403)`` or raise ``HTTPException``) or set
        ``ws.state`` before ``await call_next(ws)``; the first added is the
        outermost. HTTP middleware never wraps WebSocket endpoints."""
        registry = self._target()
        registry.websocket_middleware.append(middleware)
        self._commit(registry)

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
        registry = self._target()
        registry.middleware.insert(0, middleware)
        self._commit(registry)

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
            registry = self._target()
            registry.exception_handlers[exc_type] = handler
            self._commit(registry)
            return handler

        return register

    def on_startup(self, function: Callable[[], Any]) -> Callable[[], Any]:
        """Decorator: run (sync or async) before the server accepts requests. An
        extension's startup hooks run when it is loaded into a started app."""
        registry = self._target()
        registry.startup.append(function)
        self._commit(registry)
        return function

    def on_shutdown(self, function: Callable[[], Any]) -> Callable[[], Any]:
        """Decorator: run (sync or async) after the server stopped serving. An
        extension's shutdown hooks run when it is unloaded (or replaced)."""
        registry = self._target()
        registry.shutdown.append(function)
        self._commit(registry)
        return function

    def url_for(self, endpoint_name: str, /, **params: Any) -> str:
        """The path of endpoint ``endpoint_name`` with ``params`` filled in. The
        default name ``Class.method`` may also be written ``module.Class.method``,
        which is needed when two extensions have a class and method of that name."""
        table = self._table
        if endpoint_name in table.ambiguous:
            raise KeyError(
                f"url_for: several endpoints are named {endpoint_name!r}; name one as"
                " 'module.Class.method' (or give the endpoints name=...)"
            )
        endpoint = table.names.get(endpoint_name)
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

    def _target(self) -> Registry:
        """A copy of the registry a registration changes: the staging one of the
        extension whose setup runs in this task, else the app's own."""
        stage = self._staging.get()
        return stage.registry.copy() if stage is not None else self._registry()

    def _commit(self, registry: Registry) -> None:
        """Makes a changed registry current: in the staging registry during an
        extension's setup (validated, but served only once the setup succeeded),
        else in service at once. Raises RegistrationError, changing nothing, when a
        route table cannot be built from it."""
        stage = self._staging.get()
        if stage is None:
            self._apply(registry)
            return
        self._build(registry.blueprints, registry.converters, registry.mounts)
        stage.registry = registry

    def _build(
        self,
        blueprints: list[tuple[Blueprint, str]],
        converters: dict[str, Any],
        mounts: list[Mount] | tuple[Mount, ...] = (),
    ) -> RouteTable:
        endpoints: list[Endpoint] = []
        names: dict[str, Endpoint] = {}
        explicit: set[str] = set()
        ambiguous: set[str] = set()
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
                if spec.name is not None:
                    if endpoint.name in names or endpoint.name in ambiguous:
                        raise RegistrationError(
                            f"endpoint {endpoint.name} ({endpoint.template}): the name is taken"
                        )
                    explicit.add(endpoint.name)
                else:
                    # Two blueprints of the same class and method name (two extensions,
                    # or one class added twice) share ``Class.method``: that name is
                    # then ambiguous in url_for, ``module.Class.method`` is not.
                    qualified = f"{type(blueprint).__module__}.{endpoint.name}"
                    names.setdefault(qualified, endpoint)
                    if endpoint.name in explicit:
                        raise RegistrationError(
                            f"endpoint {endpoint.name} ({endpoint.template}): the name is taken"
                        )
                    if endpoint.name in names:
                        ambiguous.add(endpoint.name)
                self._finish(endpoint)
                names.setdefault(endpoint.name, endpoint)
                endpoints.append(endpoint)
        router = Router(
            [(e.template, list(e.methods), i) for i, e in enumerate(endpoints)],
            converters,
        )
        ordered = tuple(sorted(mounts, key=lambda m: len(m.prefix), reverse=True))
        return RouteTable(router, tuple(endpoints), names, ordered, frozenset(ambiguous))

    def _finish(self, endpoint: Endpoint) -> None:
        """Sets how a built endpoint is called (its middleware around it)."""
        if endpoint.websocket:
            endpoint.call = self._chain(endpoint.middleware, endpoint.invoke)
        else:
            endpoint.call = self._compose(endpoint.middleware, self._invoker(endpoint))

    def _invoker(self, endpoint: Endpoint) -> Handler:
        async def invoke(request: Request) -> Response:
            try:
                response = to_response(await endpoint.invoke(request))
                response.prepare()
                return response
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
                response = to_response(await mw(request, call_next))
                response.prepare()
                return response
            except Exception as exc:
                return await self._handle_exception(request, exc)

        return layer

    # -- extensions -------------------------------------------------------------------

    @property
    def extensions(self) -> dict[str, ModuleType]:
        """The loaded extensions' modules, by name."""
        return {name: extension.module for name, extension in self._extensions.items()}

    def load_extension(self, name: str) -> Awaitable[None]:
        """Imports module ``name`` and calls its ``setup(app)`` (sync or async); await
        what it returns. Raises ExtensionAlreadyLoaded, NoEntryPointError, or
        ExtensionFailed (the import or setup raised; nothing it registered is kept).

        Before the app has started (at import time) ``app.load_extension("views")``
        needs no ``await``: a sync ``setup`` runs at once, an async one is loaded at
        startup (or, on a server without lifespan, before the first request). In a
        started app the load runs as a task, so it happens even if not awaited."""
        if name in self._extensions or name in self._deferred:
            raise ExtensionAlreadyLoaded(name)
        if self._started:
            coroutine = self._load(name)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return coroutine
            return loop.create_task(coroutine)
        before = set(sys.modules)
        module = import_extension(name)
        setup = getattr(module, "setup", None)
        if inspect.iscoroutinefunction(setup):
            self._deferred.append(name)
            logger.debug("extension %s has an async setup: it is loaded at startup", name)
            return _Done()
        coroutine = self._load(name, module, before)
        try:
            coroutine.send(None)
        except StopIteration:
            return _Done()
        with contextlib.suppress(ExtensionError):
            coroutine.close()  # undoes what the setup registered
        raise ExtensionFailed(
            name, RuntimeError("its setup awaited something: make it async, or await the load")
        )

    async def _load(
        self, name: str, module: ModuleType | None = None, before: set[str] | None = None
    ) -> None:
        if name in self._extensions:
            raise ExtensionAlreadyLoaded(name)
        if module is None:
            before = set(sys.modules)
            module = import_extension(name)
        assert before is not None
        self._extensions[name] = await self._set_up(name, module, None, before)

    async def _load_deferred(self) -> None:
        """Loads the extensions whose async setup was put off until startup."""
        if self._deferred_lock is None:
            self._deferred_lock = asyncio.Lock()
        async with self._deferred_lock:
            while self._deferred:
                await self._load(self._deferred.pop(0))

    async def unload_extension(self, name: str) -> None:
        """Calls ``teardown(app)`` if the module has one, removes every blueprint,
        route, mount, middleware, converter, exception handler and hook its setup
        registered and what it set on ``app.state``, runs its shutdown hooks (on a
        started app), and drops the module and the modules it brought along from
        ``sys.modules``."""
        if name in self._deferred:
            self._deferred.remove(name)
            forget(name)
            return
        extension = self._extensions.pop(name, None)
        if extension is None:
            raise ExtensionNotLoaded(name)
        try:
            teardown = getattr(extension.module, "teardown", None)
            if callable(teardown):
                await call_maybe_async(teardown, self)
        finally:
            self._apply(self._registry().without(extension.owned))
            restore_state(self.state, extension.state)
            forget(name, extension.modules)
            if self._started:
                await self._run_hooks_logged(extension.owned.shutdown, name)

    async def reload_extension(self, name: str) -> None:
        """Re-imports the extension (and the modules it brought along) and sets it
        up again, atomically even when ``setup`` is async: the new registrations are
        staged and swapped in at once, so no request sees neither version. If the new
        code fails to import, or its setup (or, on a started app, a startup hook of
        it) raises, the old version stays in service and ExtensionFailed is raised.
        The old module's ``teardown`` and shutdown hooks run after the new version
        is in place."""
        extension = self._extensions.get(name)
        if extension is None:
            raise ExtensionNotLoaded(name)
        old_modules = forget(name, extension.modules)
        before = set(sys.modules)
        try:
            module = import_extension(name)
            replacement = await self._set_up(name, module, extension, before)
        except ExtensionError:
            sys.modules.update(old_modules)
            raise
        # app.state: unloading the new version restores what preceded the old one;
        # what only the old version set goes now.
        for key, prior in extension.state.items():
            if key in replacement.state:
                replacement.state[key] = prior
            else:
                restore_state(self.state, {key: prior})
        self._extensions[name] = replacement
        teardown = getattr(extension.module, "teardown", None)
        if callable(teardown):
            try:
                await call_maybe_async(teardown, self)
            except Exception:
                logger.exception("teardown of the replaced extension %s failed", name)
        if self._started:
            await self._run_hooks_logged(extension.owned.shutdown, name)

    async def reload_extensions(self) -> dict[str, str | None]:
        """Reloads every loaded extension in this process, one after another;
        returns each name with ``None`` (reloaded) or the error (old version kept)."""
        results: dict[str, str | None] = {}
        for name in list(self._extensions):
            try:
                await self.reload_extension(name)
                results[name] = None
            except ExtensionError as exc:
                logger.error("Reloading extension %s failed: %s", name, exc)
                results[name] = str(exc)
        return results

    async def __pyre_reload__(self) -> None:
        """Pyre calls this on SIGUSR1; under ``--workers`` the supervisor passes the
        signal to every worker, so each reloads its extensions."""
        results = await self.reload_extensions()
        logger.info(
            "SIGUSR1: extensions reloaded in [%d]: %s",
            os.getpid(),
            ", ".join(f"{n} ({'ok' if e is None else 'failed'})" for n, e in results.items())
            or "none loaded",
        )

    def signal_reload(self) -> None:
        """Asks every process serving the app to reload its extensions: SIGUSR1 to
        the supervisor under ``--workers`` (it signals each worker), else to this
        process. Returns at once; each process reloads shortly after (see
        ``reload_extensions``). ``kill -USR1 <pid>`` does the same from a shell."""
        supervisor = os.environ.get(SUPERVISOR_PID)
        pid = int(supervisor) if supervisor and int(supervisor) == os.getppid() else os.getpid()
        os.kill(pid, signal.SIGUSR1)

    async def _set_up(
        self, name: str, module: ModuleType, old: Extension | None, before: set[str]
    ) -> Extension:
        """Runs ``setup`` into a staging registry (the app's without ``old``'s
        registrations) and, once it and the new startup hooks succeeded, swaps the
        result into service in one step. On failure nothing changes but
        ``sys.modules`` (the new modules are dropped; the caller restores old ones)."""
        setup = getattr(module, "setup", None)
        if not callable(setup):
            forget(name)
            raise NoEntryPointError(name)
        base = self._registry()
        if old is not None:
            base = base.without(old.owned)
        stage = _Stage(base.copy())
        state_before = dict(vars(self.state))
        try:
            token = self._staging.set(stage)
            try:
                await call_maybe_async(setup, self)
            finally:
                self._staging.reset(token)
            owned = stage.registry.added_since(base)
            if self._started:
                await self._run_hooks(owned.startup)
            # What was registered meanwhile by others (another extension) is kept.
            current = self._registry()
            if old is not None:
                current = current.without(old.owned)
            self._apply(current.merged(owned))
        except BaseException as exc:
            restore_state(self.state, state_changes(state_before, dict(vars(self.state))))
            forget(name, companions(name, module, before))
            raise ExtensionFailed(name, exc) from exc
        state = state_changes(state_before, dict(vars(self.state)))
        return Extension(module, owned, companions(name, module, before), state)

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
            self._mounts,
        ).copy()

    def _apply(self, registry: Registry) -> None:
        """Makes ``registry`` the app's, swapping in its route table at once."""
        table = self._build(registry.blueprints, registry.converters, registry.mounts)
        self._blueprints = list(registry.blueprints)
        self._middleware = list(registry.middleware)
        self._converters = dict(registry.converters)
        self._exception_handlers = dict(registry.exception_handlers)
        self._startup = list(registry.startup)
        self._shutdown = list(registry.shutdown)
        self._websocket_middleware = list(registry.websocket_middleware)
        self._mounts = list(registry.mounts)
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
                await self._load(name)
        await self._load_deferred()
        await self._run_hooks(self._startup)
        self._started = True

    async def _stop(self) -> None:
        self._started = False
        try:
            await self._run_hooks(self._shutdown)
        finally:
            if self._lifespan_context is not None:
                context, self._lifespan_context = self._lifespan_context, None
                await context.__aexit__(None, None, None)

    async def _run_hooks_logged(self, hooks: list[Callable[[], Any]], name: str) -> None:
        for hook in hooks:
            try:
                await call_maybe_async(hook)
            except Exception:
                logger.exception("a shutdown hook of extension %s failed", name)

    # -- serving ----------------------------------------------------------------------

    async def _route(self, request: Request) -> Response:
        table = request._table  # type: ignore[attr-defined]
        for mount in table.mounts:
            rest = mount.remainder(request.path)
            if rest is not None:
                return await self._serve_mount(request, mount, rest)
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

    async def _serve_mount(self, request: Request, mount: Mount, rest: str) -> Response:
        if not mount.native:
            return MountResponse(mount.app, mount.prefix)
        try:
            response = to_response(await mount.app.handle(request, rest))
            response.prepare()
            return response
        except Exception as exc:
            return await self._handle_exception(request, exc)

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

    async def _handle(self, source: Any) -> tuple[Request, Response]:
        if self._deferred:
            try:
                await self._load_deferred()
            except ExtensionError:
                logger.exception("a deferred extension failed to load")
        request = Request(source, self, {})
        request._table = self._table  # type: ignore[attr-defined]
        return request, await self._entry(request)

    async def __psgi__(self, request: Any, responder: Any) -> None:
        """PSGI (Pyre's native interface)."""
        if getattr(request, "websocket", False):
            await self._serve_websocket(PsgiWebSocketSource(request, responder))
            return
        if self._asgi_stack is not None:
            await serve_asgi_on_psgi(self._asgi_stack, request, responder)
            return
        source = PsgiSource(request)
        handled, response = await self._handle(source)
        await response.send_psgi(responder, source)
        if response.background is not None or handled._background is not None:
            await run_background(response.background, handled._background)

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
            handled, response = await self._handle(source)
            await response.send_asgi(send, scope, source)
            if response.background is not None or handled._background is not None:
                await run_background(response.background, handled._background)
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
