"""Mounts: a prefix whose every path is served by another app, ``app.mount("/static",
StaticFiles(...))`` or ``app.mount("/legacy", starlette_app)``.

A framework-native mounted object has ``async handle(request, path) -> Response``
(``path`` the rest after the prefix, ``""`` for the prefix itself); what it answers
goes through the app's global middleware and exception handlers like a route's. Any
other object is an ASGI application: the request is handed over as ASGI with
``root_path`` extended by the prefix and ``path`` left whole (Starlette's ``Mount``
convention, which Starlette's router reads back with ``get_route_path``), and the
application answers the client itself, so the response it sends is not seen by the
framework's middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyre.framework.bridge import serve_asgi_on_psgi
from pyre.framework.responses import Response


@dataclass(frozen=True, eq=False)
class Mount:
    prefix: str
    app: Any
    name: str | None = None

    @property
    def native(self) -> bool:
        return callable(getattr(self.app, "handle", None))

    def remainder(self, path: str) -> str | None:
        """What follows the prefix in ``path``, or None when ``path`` is not under it."""
        if path == self.prefix:
            return ""
        if path.startswith(self.prefix) and path[len(self.prefix)] == "/":
            return path[len(self.prefix) :]
        return None


class MountResponse(Response):
    """Stands for the response of a mounted ASGI application: sending it runs the
    application on the request (its status and headers are the application's; the
    placeholder ``status`` here is never sent)."""

    def __init__(self, app: Any, prefix: str) -> None:
        super().__init__(None)
        self.app = app
        self.prefix = prefix

    async def send_psgi(self, responder: Any, request: Any = None) -> None:
        await serve_asgi_on_psgi(self.app, request.native, responder, root_path=self.prefix)

    async def send_asgi(self, send: Any, scope: Mapping[str, Any], request: Any = None) -> None:
        child = {**scope, "root_path": scope.get("root_path", "") + self.prefix}
        await self.app(child, request.receive, send)
