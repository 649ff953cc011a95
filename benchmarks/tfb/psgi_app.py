"""The TechEmpower tests on PSGI, Pyre's native interface
(``benchmarks.tfb.psgi_app:app``). The pool is made in the startup hook."""

from __future__ import annotations

from typing import Any

from benchmarks.tfb import common

JSON = [(b"content-type", common.JSON.encode())]
HTML = [(b"content-type", common.HTML.encode())]
TEXT = [(b"content-type", common.TEXT.encode())]


class App:
    async def __psgi_startup__(self) -> None:
        await common.create_pool()

    async def __psgi_shutdown__(self) -> None:
        await common.close_pool()

    async def __psgi__(self, request: Any, responder: Any) -> None:
        path = request.path
        if path == "/plaintext":
            responder.respond(200, TEXT, common.PLAINTEXT)
        elif path == "/json":
            responder.respond(200, JSON, common.dumps(common.HELLO))
        elif path == "/db":
            responder.respond(200, JSON, await common.db())
        elif path == "/queries":
            count = common.queries_count(request.query_string)
            responder.respond(200, JSON, await common.queries(count))
        elif path == "/fortunes":
            responder.respond(200, HTML, await common.fortunes())
        elif path == "/updates":
            count = common.queries_count(request.query_string)
            responder.respond(200, JSON, await common.updates(count))
        else:
            responder.respond(404, TEXT, b"Not found")


app = App()
