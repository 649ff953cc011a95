"""The TechEmpower-style suite's ASGI app (benchmarks/tfb/asgi_app.py) with three
tests broken on purpose, for tests/test_bench_tfb.py: ``/json`` says the wrong thing,
``/fortunes`` does not escape the messages, ``/updates`` never writes the database."""

from __future__ import annotations

from random import randint, sample
from typing import Any

from benchmarks.tfb import asgi_app, common


async def _fortunes() -> bytes:
    async with common.pool().acquire() as connection:
        rows = await connection.fetch(common.SQL_FORTUNES)
    rows.append((0, common.ADDITIONAL))
    rows.sort(key=lambda row: row[1])
    cells = "".join(f"<tr><td>{row[0]}</td><td>{row[1]}</td></tr>\n" for row in rows)
    return (common.HEAD + cells + common.TAIL).encode()


async def _updates(count: int) -> bytes:
    row_ids = sample(range(1, 10001), count)
    async with common.pool().acquire() as connection:
        await connection.fetchmany(common.SQL_SELECT, [(i,) for i in row_ids])
    return common.dumps([{"id": i, "randomNumber": randint(1, 10000)} for i in row_ids])


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope.get("path")
    if scope["type"] != "http" or path not in ("/json", "/fortunes", "/updates"):
        await asgi_app.app(scope, receive, send)
        return
    content_type = asgi_app.JSON
    if path == "/json":
        body = common.dumps({"message": "Hello World"})
    elif path == "/fortunes":
        content_type, body = asgi_app.HTML, await _fortunes()
    else:
        body = await _updates(common.queries_count(scope["query_string"]))
    await send(asgi_app._start(content_type, body))
    await send({"type": "http.response.body", "body": body})
