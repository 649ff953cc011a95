"""The TechEmpower tests as a raw ASGI 3 application: Pyre's ASGI and uvicorn serve
this same object (``benchmarks.tfb.asgi_app:app``). The pool is made at lifespan
startup."""

from __future__ import annotations

from typing import Any

from benchmarks.tfb import common


def _start(content_type: str) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", content_type.encode())],
    }


JSON_START = _start(common.JSON)
HTML_START = _start(common.HTML)
TEXT_START = _start(common.TEXT)
NOT_FOUND = {"type": "http.response.start", "status": 404, "headers": TEXT_START["headers"]}


def _body(body: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body}


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
    if path == "/plaintext":
        start, body = TEXT_START, common.PLAINTEXT
    elif path == "/json":
        start, body = JSON_START, common.dumps(common.HELLO)
    elif path == "/db":
        start, body = JSON_START, await common.db()
    elif path == "/queries":
        start, body = JSON_START, await common.queries(common.queries_count(scope["query_string"]))
    elif path == "/fortunes":
        start, body = HTML_START, (await common.fortunes()).encode()
    elif path == "/updates":
        start, body = JSON_START, await common.updates(common.queries_count(scope["query_string"]))
    else:
        start, body = NOT_FOUND, b"Not found"
    await send(start)
    await send(_body(body))
