"""The hello-world ASGI app of the balance benchmark (benchmarks/balance.py), counting
the requests each worker process serves.

Every HTTP request is answered like apps/hello_asgi.py (``200``, ``text/plain``,
``Hello, world!``); requests for ``/`` are counted, others (the benchmark's readiness
checks use ``/ready``) are not. At lifespan shutdown the process writes ``pid count``
to a file named after its pid in the directory given by the ``PYRE_BENCH_COUNT_DIR``
environment variable (nothing is written without it). With a shared listener the
benchmark cannot choose which worker answers, so the counts are collected this way,
once the workers have stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BODY = b"Hello, world!"
COUNT_DIR_ENV = "PYRE_BENCH_COUNT_DIR"

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
_BODY = {"type": "http.response.body", "body": BODY}
_count = 0


def _write_count() -> None:
    directory = os.environ.get(COUNT_DIR_ENV)
    if directory:
        pid = os.getpid()
        path = Path(directory) / str(pid)
        path.write_text(f"{pid} {_count}\n")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _count
    kind = scope["type"]
    if kind == "http":
        if scope["path"] == "/":
            _count += 1
        await send(_START)
        await send(_BODY)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                _write_count()
                await send({"type": "lifespan.shutdown.complete"})
                return
