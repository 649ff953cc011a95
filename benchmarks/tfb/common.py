"""What every TechEmpower-style implementation shares: the database pool, the SQL,
the ``queries`` parameter's rules and the fortunes page.

The implementations (one module per interface, beside this one) differ only in how
they speak to their server; the work behind each test is the same code, so the suite
compares servers and interfaces, not six ways to write a loop. The database is the
suite's own PostgreSQL (benchmarks/techempower.py starts it) on a Unix socket named by
``TFB_PG_HOST`` (its directory) and ``TFB_PG_PORT``.
"""

from __future__ import annotations

import asyncio
import os
from html import escape
from operator import itemgetter
from random import randint, sample
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson

# One pool per worker process, as TechEmpower's Python entries have (granian's: 4).
POOL_SIZE = int(os.environ.get("TFB_POOL_SIZE", "4"))
SQL_SELECT = 'SELECT "randomnumber", "id" FROM "world" WHERE id = $1'
SQL_UPDATE = 'UPDATE "world" SET "randomnumber"=$1 WHERE id=$2'
SQL_FORTUNES = 'SELECT "id", "message" FROM "fortune"'
ADDITIONAL = "Additional fortune added at request time."
HELLO = {"message": "Hello, World!"}
PLAINTEXT = b"Hello, World!"
JSON = "application/json"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
dumps = orjson.dumps


class NoResetConnection(asyncpg.Connection):
    """No ``RESET ALL`` when a connection goes back to the pool (TechEmpower's granian
    entry does the same: nothing here changes session state)."""

    __slots__ = ()

    def get_reset_query(self) -> str:
        return ""


_pool: asyncpg.Pool | None = None
_lock = asyncio.Lock()


async def create_pool() -> asyncpg.Pool:
    global _pool
    async with _lock:
        if _pool is None:
            _pool = await asyncpg.create_pool(
                host=os.environ["TFB_PG_HOST"],
                port=int(os.environ.get("TFB_PG_PORT", "5432")),
                user=os.environ.get("TFB_PG_USER", "benchmarkdbuser"),
                database=os.environ.get("TFB_PG_DATABASE", "hello_world"),
                min_size=POOL_SIZE,
                max_size=POOL_SIZE,
                connection_class=NoResetConnection,
            )
    return _pool


def pool() -> asyncpg.Pool:
    assert _pool is not None, "create_pool() runs at startup"
    return _pool


async def close_pool() -> None:
    global _pool
    if _pool is not None:
        await _pool.close()
        _pool = None


def queries_count(query_string: bytes | str) -> int:
    """TechEmpower's rule for ``queries``: an integer clamped to 1..500; missing or
    not an integer is 1."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    return clamp(parse_qs(query_string).get("queries", [None])[0])


def clamp(value: str | None) -> int:
    """The ``queries`` value as a count: 1..500, 1 when missing or no integer."""
    try:
        count = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1
    return 1 if count < 1 else 500 if count > 500 else count


# --------------------------------------------------------------------------- tests


async def db() -> bytes:
    row_id = randint(1, 10000)
    async with pool().acquire() as connection:
        number = await connection.fetchval(SQL_SELECT, row_id)
    return dumps({"id": row_id, "randomNumber": number})


async def queries(count: int) -> bytes:
    row_ids = sample(range(1, 10001), count)
    async with pool().acquire() as connection:
        rows = await connection.fetchmany(SQL_SELECT, [(i,) for i in row_ids])
    return dumps([{"id": i, "randomNumber": row[0]} for i, row in zip(row_ids, rows, strict=True)])


_by_message = itemgetter(1)
HEAD = (
    "<!DOCTYPE html>\n<html>\n<head><title>Fortunes</title></head>\n<body>\n<table>\n"
    "<tr><th>id</th><th>message</th></tr>\n"
)
TAIL = "</table>\n</body>\n</html>"


def render_fortunes(rows: list[Any]) -> str:
    """TechEmpower's fortunes template (frameworks/Python/uvicorn's fortune.html, as
    Jinja renders it), messages HTML-escaped."""
    return (
        HEAD
        + "".join(f"<tr><td>{row[0]}</td><td>{escape(row[1])}</td></tr>\n" for row in rows)
        + TAIL
    )


async def fortunes() -> str:
    async with pool().acquire() as connection:
        rows = await connection.fetch(SQL_FORTUNES)
    rows.append((0, ADDITIONAL))
    rows.sort(key=_by_message)
    return render_fortunes(rows)


async def updates(count: int) -> bytes:
    row_ids = sample(range(1, 10001), count)
    # Sorted by id: concurrent updates then lock rows in one order (no deadlocks).
    row_ids.sort()
    new = [(randint(1, 10000), i) for i in row_ids]
    async with pool().acquire() as connection:
        # Every row is read, one statement per row, before it is updated.
        await connection.fetchmany(SQL_SELECT, [(i,) for i in row_ids])
        await connection.executemany(SQL_UPDATE, new)
    return dumps([{"id": i, "randomNumber": n} for n, i in new])
