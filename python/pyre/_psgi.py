"""Running PSGI applications: finding the handler, the log lines of a request that
ended badly, and the startup/shutdown hooks (docs/psgi.md).

The Rust server builds the request's ``Request`` and ``Responder`` and steps
``handler(request, responder)`` itself (a ``RequestTask``,
crates/pyre-py/src/stepping.rs, in place of an asyncio Task). When the handler returns
or raises, the server settles the response (500 if nothing was sent, a closed
connection if a streamed response was cut short) and calls :func:`report_psgi` to log
what went wrong, if anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

error_logger = logging.getLogger("pyre.error")

Handler = Callable[[Any, Any], Awaitable[None]]


def is_psgi(app: Any) -> bool:
    """An application object that speaks PSGI: it has a ``__psgi__`` method."""
    return callable(getattr(app, "__psgi__", None))


def handler_of(app: Any) -> Handler:
    """The coroutine function to call per request: ``app.__psgi__`` for an object
    that has one, else ``app`` itself."""
    return app.__psgi__ if is_psgi(app) else app


def report_psgi(event: str, detail: Any, request: Any) -> None:
    """Logs how a request's handler ended when it did not end well; the server has
    already settled the response. The events are those of ``pyre._asgi.report_asgi``."""
    if event == "disconnected":
        error_logger.debug("client disconnected during %s %s", request.method, request.path)
    elif event == "raised":
        error_logger.error("Exception in PSGI application", exc_info=detail)
    else:
        error_logger.error("%s (%s %s)", detail, request.method, request.path)


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
