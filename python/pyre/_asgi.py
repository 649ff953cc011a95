"""What happens when an ASGI request's application ends badly: the log lines.

The Rust server builds the scope and the request's channel (``receive``/``send``) and
steps ``app(scope, receive, send)`` itself (a ``RequestTask``,
crates/pyre-py/src/stepping.rs, in place of an asyncio Task). When the application
returns or raises, the server settles the response (500 if nothing was sent, a closed
connection if a response was cut short) and calls :func:`report_asgi` to log what went
wrong, if anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

error_logger = logging.getLogger("pyre.error")

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _describe(scope: dict[str, Any]) -> str:
    """``GET /path`` for an HTTP request, ``WebSocket /path`` for a WebSocket."""
    return f"{scope.get('method', 'WebSocket')} {scope['path']}"


def report_asgi(event: str, detail: Any, scope: dict[str, Any]) -> None:
    """Logs how a request's application ended when it did not end well; the server
    (crates/pyre-py/src/stepping.rs) has already settled the response. ``event`` is
    ``"disconnected"`` (the client went away: debug), ``"raised"`` (``detail`` is the
    exception: 500 sent, or the response cut short) or ``"problem"`` (``detail`` says
    what the application left undone, such as a response never started)."""
    if event == "disconnected":
        error_logger.debug("client disconnected during %s", _describe(scope))
    elif event == "raised":
        error_logger.error("Exception in ASGI application", exc_info=detail)
    else:
        error_logger.error("%s (%s)", detail, _describe(scope))
