"""Running PSGI applications: finding the handler, the coroutine that runs one
request, and the startup/shutdown hooks (docs/psgi.md).

The Rust server builds the request's ``Request`` and ``Responder``, and
``run_psgi(handler, request, responder, channel)`` stepped from Rust (a
``RequestTask``, crates/pyre-py/src/stepping.rs, in place of an asyncio Task). When the
handler returns or raises, ``channel.finish`` settles the response: 500 if nothing was
sent, a closed connection if a streamed response was cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pyre._core import ClientDisconnected

error_logger = logging.getLogger("pyre.error")

Handler = Callable[[Any, Any], Awaitable[None]]


def is_psgi(app: Any) -> bool:
    """An application object that speaks PSGI: it has a ``__psgi__`` method."""
    return callable(getattr(app, "__psgi__", None))


def handler_of(app: Any) -> Handler:
    """The coroutine function to call per request: ``app.__psgi__`` for an object
    that has one, else ``app`` itself."""
    return app.__psgi__ if is_psgi(app) else app


async def run_psgi(handler: Handler, request: Any, responder: Any, channel: Any) -> None:
    """Runs the handler for one request, then settles its response."""
    try:
        await handler(request, responder)
    except ClientDisconnected:
        channel.finish(None)
        error_logger.debug("client disconnected during %s %s", request.method, request.path)
    except BaseException as exc:
        channel.finish(exc)
        if not isinstance(exc, Exception):
            raise
        error_logger.error("Exception in PSGI application", exc_info=exc)
    else:
        problem = channel.finish(None)
        if problem is not None:
            error_logger.error("%s (%s %s)", problem, request.method, request.path)


class Hooks:
    """``__psgi_startup__`` and ``__psgi_shutdown__``, the optional async methods of a
    PSGI application object, with the interface of :class:`pyre.lifespan.Lifespan`."""

    state = None

    def __init__(self, app: Any) -> None:
        self.app = app

    async def startup(self) -> bool:
        hook = getattr(self.app, "__psgi_startup__", None)
        if hook is None:
            return True
        try:
            await hook()
        except Exception:
            error_logger.exception("PSGI startup (__psgi_startup__) failed")
            return False
        return True

    async def shutdown(self) -> None:
        hook = getattr(self.app, "__psgi_shutdown__", None)
        if hook is None:
            return
        try:
            await hook()
        except Exception:
            error_logger.exception("PSGI shutdown (__psgi_shutdown__) failed")
