"""The hello world on socketify's native API (uWebSockets, C), a peer of the HTTP
benchmark: ``python -m socketify benchmarks.apps.hello_socketify:run --interface
socketify``. Every request gets ``200``, ``content-type: text/plain`` and
``Hello, world!``, as from benchmarks/apps/hello_asgi.py (which socketify's ASGI
interface serves in the ``socketify-asgi`` target)."""

from __future__ import annotations

from typing import Any

BODY = b"Hello, world!"


def hello(res: Any, req: Any) -> None:
    res.write_header("content-type", "text/plain")
    res.end(BODY)


def run(app: Any) -> None:
    """socketify's CLI calls this with its ``App`` (``--interface socketify``)."""
    app.any("/*", hello)
