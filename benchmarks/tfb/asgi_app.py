"""The TechEmpower tests as a raw ASGI 3 application: Pyre's ASGI and uvicorn serve
this same object (``benchmarks.tfb.asgi_app:app``). The pool is made at lifespan
startup."""

from __future__ import annotations

from typing import Any

from benchmarks.tfb import common

# Content-Length is the app's to send in raw ASGI (uvicorn sends a body without one
# chunked; TechEmpower requires Content-Length).
JSON = (b"content-type", common.JSON.encode())
HTML = (b"content-type", common.HTML.encode())
TEXT = (b"content-type", common.TEXT.encode())


def _start(content_type: tuple[bytes, bytes], body: bytes, status: int = 200) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [content_type, (b"content-length", str(len(body)).encode())],
    }


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await common.create_pool()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await common.close_pool()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        return
    path = scope["path"]
    content_type, status = JSON, 200
    if path == "/plaintext":
        content_type, body = TEXT, common.PLAINTEXT
    elif path == "/json":
        body = common.dumps(common.HELLO)
    elif path == "/db":
        body = await common.db()
    elif path == "/queries":
        body = await common.queries(common.queries_count(scope["query_string"]))
    elif path == "/fortunes":
        content_type, body = HTML, (await common.fortunes()).encode()
    elif path == "/updates":
        body = await common.updates(common.queries_count(scope["query_string"]))
    else:
        content_type, body, status = TEXT, b"Not found", 404
    await send(_start(content_type, body, status))
    await send({"type": "http.response.body", "body": body})
