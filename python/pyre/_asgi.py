"""The coroutine that runs one ASGI request, and what happens when it ends.

The Rust server builds the scope and the request's channel (``receive``/``send``) and
steps ``runner(app, scope, receive, send, channel)`` from Rust (a ``RequestTask``,
crates/pyre-py/src/stepping.rs, in place of an asyncio Task). When the
application returns or raises, ``channel.finish`` settles the response: 500 if nothing
was sent, a closed connection if a response was cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pyre._core import ClientDisconnected

error_logger = logging.getLogger("pyre.error")

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _describe(scope: dict[str, Any]) -> str:
    """``GET /path`` for an HTTP request, ``WebSocket /path`` for a WebSocket."""
    return f"{scope.get('method', 'WebSocket')} {scope['path']}"


async def run_asgi(app: ASGIApp, scope: dict[str, Any], receive: Any, send: Any, channel: Any):
    """Runs the application for one request, then settles its response (for a
    WebSocket: 403 if it was not accepted, close 1000, or 1011 when the app raised)."""
    try:
        await app(scope, receive, send)
    except ClientDisconnected:
        channel.finish(None)
        error_logger.debug("client disconnected during %s", _describe(scope))
    except BaseException as exc:
        channel.finish(exc)
        if not isinstance(exc, Exception):
            raise
        error_logger.error("Exception in ASGI application", exc_info=exc)
    else:
        problem = channel.finish(None)
        if problem is not None:
            error_logger.error("%s (%s)", problem, _describe(scope))
