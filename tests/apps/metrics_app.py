"""Routes for tests/test_metrics.py:

/status/N   an empty response with status N
/pid        the serving process's pid
/echo       the request body, read whole, echoed back
/hold       no response until the client goes away (a request held in flight)
"""

from __future__ import annotations

import os
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    path = scope["path"]
    if path == "/hold":
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    status, body = 200, b""
    if path.startswith("/status/"):
        status = int(path.rpartition("/")[2])
    elif path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/echo":
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})
