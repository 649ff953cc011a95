"""The TechEmpower tests on socketify's native API (uWebSockets), shaped as
TechEmpower's socketify.py entry: async handlers on ``App``, the pool made in the
``on_start`` hook, everything read from the request before the first ``await`` (the
request object is only valid until then). Run as ``python -m
benchmarks.tfb.socketify_app`` with ``TFB_PORT`` (and the database variables of
benchmarks/tfb/common.py); it listens on 127.0.0.1."""

from __future__ import annotations

import os
from typing import Any

from benchmarks.tfb import common
from socketify import App, AppListenOptions

# uWebSockets sends Date and "uWebSockets: 20" itself; TechEmpower requires Server.
SERVER = [("Server", "socketify")]
JSON = common.JSON.encode()
HTML = common.HTML.encode()
TEXT = common.TEXT.encode()


def json(res: Any, req: Any) -> None:
    res.send(common.dumps(common.HELLO), JSON, headers=SERVER)


def plaintext(res: Any, req: Any) -> None:
    res.send(common.PLAINTEXT, TEXT, headers=SERVER)


async def db(res: Any, req: Any) -> None:
    body = await common.db()
    res.cork_send(body, JSON, headers=SERVER)


async def queries(res: Any, req: Any) -> None:
    count = common.clamp(req.get_query("queries"))
    body = await common.queries(count)
    res.cork_send(body, JSON, headers=SERVER)


async def fortunes(res: Any, req: Any) -> None:
    body = await common.fortunes()
    res.cork_send(body, HTML, headers=SERVER)


async def updates(res: Any, req: Any) -> None:
    count = common.clamp(req.get_query("queries"))
    body = await common.updates(count)
    res.cork_send(body, JSON, headers=SERVER)


def not_found(res: Any, req: Any) -> None:
    res.send(b"Not found", TEXT, status=404, headers=SERVER)


def main() -> None:
    app = App()
    app.on_start(common.create_pool)
    app.on_shutdown(common.close_pool)
    app.get("/json", json)
    app.get("/plaintext", plaintext)
    app.get("/db", db)
    app.get("/queries", queries)
    app.get("/fortunes", fortunes)
    app.get("/updates", updates)
    app.any("/*", not_found)
    port = int(os.environ["TFB_PORT"])
    app.listen(AppListenOptions(port=port, host="127.0.0.1"), lambda config: None)
    app.run()


if __name__ == "__main__":
    main()
