"""``pyre.framework``: a small, object-oriented web framework on Pyre's core.

Endpoints (``@endpoint`` for HTTP, ``@websocket`` for WebSockets) live on
:class:`Blueprint` classes that keep a reference to the app; the route table is a
Rust trie; the app speaks PSGI on Pyre (automatically) and ASGI anywhere else
(uvicorn, granian). Parameters are also bound from the query, headers, cookies
and a typed JSON body (``Query()``, ``Header()``, ``Cookie()``, ``Body()``; bad input
is a 422 ``RequestValidationError``), structured return values become JSON, and
``app.openapi()`` describes it all. See docs/framework.md and docs/websocket.md.

    from pyre import framework
    from pyre.framework import App, Request, responses

    class Hello(framework.Blueprint):
        def __init__(self, app: App):
            self._app = app

        @framework.endpoint("/hello/{name:string}", methods=["GET"])
        async def on_get_hello(self, name: str):
            return f"Hello, {name}!"

    app = App()
    app.add_blueprint(Hello(app))
"""

from __future__ import annotations

from pyre.framework import responses
from pyre.framework.app import App
from pyre.framework.background import BackgroundTask, BackgroundTasks
from pyre.framework.datastructures import MutableHeaders
from pyre.framework.exceptions import HTTPException, RegistrationError
from pyre.framework.extensions import (
    ExtensionAlreadyLoaded,
    ExtensionError,
    ExtensionFailed,
    ExtensionNotLoaded,
    NoEntryPointError,
)
from pyre.framework.files import safe_join
from pyre.framework.middleware import CORSMiddleware, GZipMiddleware
from pyre.framework.params import Body, Cookie, Header, Query
from pyre.framework.request import Request
from pyre.framework.routing import Blueprint, endpoint, websocket
from pyre.framework.sessions import MemoryStore, Session, SessionStore
from pyre.framework.sse import EventSourceResponse, ServerSentEvent
from pyre.framework.staticfiles import StaticFiles
from pyre.framework.templating import Templates
from pyre.framework.validation import RequestValidationError, ValidationError
from pyre.framework.ws import WebSocket, WebSocketDisconnect, WebSocketState

__all__ = [
    "App",
    "BackgroundTask",
    "BackgroundTasks",
    "Blueprint",
    "Body",
    "CORSMiddleware",
    "Cookie",
    "EventSourceResponse",
    "ExtensionAlreadyLoaded",
    "ExtensionError",
    "ExtensionFailed",
    "ExtensionNotLoaded",
    "GZipMiddleware",
    "HTTPException",
    "Header",
    "MemoryStore",
    "MutableHeaders",
    "NoEntryPointError",
    "Query",
    "RegistrationError",
    "Request",
    "RequestValidationError",
    "ServerSentEvent",
    "Session",
    "SessionStore",
    "StaticFiles",
    "Templates",
    "ValidationError",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketState",
    "endpoint",
    "responses",
    "safe_join",
    "websocket",
]
