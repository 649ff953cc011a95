"""The TechEmpower tests on RSGI, granian's native interface
(``benchmarks.tfb.rsgi_app:app``), shaped as TechEmpower's granian entry
(frameworks/Python/granian/app_rsgi.py): the pool is made in ``__rsgi_init__``."""

from __future__ import annotations

from typing import Any

from benchmarks.tfb import common

# granian sends no Server header of its own; TechEmpower requires one.
JSON = [("content-type", common.JSON), ("server", "granian")]
HTML = [("content-type", common.HTML), ("server", "granian")]
TEXT = [("content-type", common.TEXT), ("server", "granian")]


class App:
    def __rsgi_init__(self, loop: Any) -> None:
        loop.run_until_complete(common.create_pool())

    def __rsgi_del__(self, loop: Any) -> None:
        loop.run_until_complete(common.close_pool())

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        path = scope.path
        if path == "/plaintext":
            proto.response_bytes(200, TEXT, common.PLAINTEXT)
        elif path == "/json":
            proto.response_bytes(200, JSON, common.dumps(common.HELLO))
        elif path == "/db":
            proto.response_bytes(200, JSON, await common.db())
        elif path == "/queries":
            count = common.queries_count(scope.query_string)
            proto.response_bytes(200, JSON, await common.queries(count))
        elif path == "/fortunes":
            proto.response_str(200, HTML, await common.fortunes())
        elif path == "/updates":
            count = common.queries_count(scope.query_string)
            proto.response_bytes(200, JSON, await common.updates(count))
        else:
            proto.response_bytes(404, TEXT, b"Not found")


app = App()
