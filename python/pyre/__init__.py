"""Pyre: a fast, strict HTTP/1.1 server for Python web applications.

The core (HTTP/1.1 codec, sockets, flow control) is Rust, reached only through
``pyre._core``. Run an ASGI application with ``pyre.run(app)`` or the ``pyre-http``
command; both take the same options (see ``pyre.config.Config``).
"""

from __future__ import annotations

from typing import Any

from pyre._core import ClientDisconnected, ProtocolError, __version__

__all__ = ["ClientDisconnected", "ProtocolError", "__version__", "run"]


def run(app: Any, **options: Any) -> None:
    """Serves ``app`` (an ASGI or PSGI application, or a ``"module:attribute"`` string) until
    SIGINT or SIGTERM. ``options`` are the fields of ``pyre.config.Config``, e.g.
    ``pyre.run(app, port=9000, limit_concurrency=1000)``."""
    from pyre.config import Config
    from pyre.serve import run_config

    status = run_config(Config(app=app, **options))
    if status:
        raise SystemExit(status)
