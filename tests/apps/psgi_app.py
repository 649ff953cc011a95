"""A PSGI application (docs/psgi.md) with one route per behaviour the PSGI tests need.
It is an object with ``__psgi__`` (so ``--interface auto`` picks PSGI) and startup and
shutdown hooks; ``handler`` is the same thing as a plain function, for
``--interface psgi``. Events are recorded in the file named by ``PYRE_TEST_CALLS``,
and counters are served at /stats. Routes:

    /request            the request's attributes and headers API results, as JSON
    /echo               the body read whole with body(), echoed back
    /slow-stream?delay=S  reads one piece, sleeps S, reads the rest; answers the size
    /pieces             the sizes of the pieces stream() gave, as JSON
    /stream?n=N         N pieces, chunked
    /known?total=N      N bytes in 1000-byte pieces with a known length
    /long, /short       a stream longer / shorter than its length (ProtocolError)
    /file?path=P[&offset=O&count=C]   respond_file
    /trailers           a chunked body with trailers
    /twice              respond() twice (the second raises ProtocolError)
    /after-finish       write() after finish() (raises ProtocolError)
    /error/before       raises before responding
    /error/after        raises after a streamed response started
    /noresponse         returns without responding
    /produce?total=N    a fast producer: counts writes that had to wait
    /disconnect         awaits request.disconnected(), then records it
    /str                a str body
    /stats              counters as JSON
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import parse_qs

from pyre import ClientDisconnected
from pyre.psgi import ProtocolError

STATS: dict[str, Any] = {"sent": 0, "pending_writes": 0, "waiting": False, "disconnected": 0}
PIECE = bytes(range(256)) * 64  # 16 KiB


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def _query(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}


def _json(responder: Any, value: Any, status: int = 200) -> None:
    responder.respond(status, [("content-type", "application/json")], json.dumps(value))


async def handler(request: Any, responder: Any) -> None:
    record(f"{request.method} {request.path}")
    path = request.path
    query = _query(request)
    if path == "/request":
        headers = request.headers
        _json(
            responder,
            {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path.decode("latin-1"),
                "query_string": request.query_string.decode("latin-1"),
                "http_version": request.http_version,
                "scheme": request.scheme,
                "client": list(request.client) if request.client else None,
                "server": list(request.server),
                "x_multi": headers.get_all("X-Multi"),
                "x_first": headers.get("X-MULTI"),
                "missing": headers.get("x-missing", "default"),
                "has_host": "host" in headers,
                "has_missing": "x-missing" in headers,
                "items": headers.items(),
                "names": list(headers),
                "len": len(headers),
                "raw_first": [bytes(p).decode("latin-1") for p in headers.raw[0]],
            },
        )
    elif path == "/echo":
        try:
            body = await request.body()
        except ClientDisconnected:
            record("body: ClientDisconnected")
            raise
        responder.respond(200, [(b"content-type", b"application/octet-stream")], body)
    elif path == "/slow-stream":
        # One piece, a pause (the client's writes must block meanwhile), the rest.
        size = 0
        pieces = request.stream()
        async for piece in pieces:
            size += len(piece)
            break
        await asyncio.sleep(float(query.get("delay", 2)))
        async for piece in pieces:
            size += len(piece)
        _json(responder, {"size": size})
    elif path == "/pieces":
        sizes = [len(piece) async for piece in request.stream()]
        _json(responder, {"sizes": sizes, "total": sum(sizes)})
    elif path == "/stream":
        stream = responder.start(200, [("content-type", "text/plain")])
        for i in range(int(query.get("n", 3))):
            await stream.write(f"piece {i}\n")
            await asyncio.sleep(0.01)
        await stream.finish()
    elif path == "/known":
        total = int(query["total"])
        stream = responder.start(200, [], length=total)
        for start in range(0, total, 1000):
            await stream.write(b"k" * min(1000, total - start))
        await stream.finish()
    elif path in ("/long", "/short"):
        stream = responder.start(200, [], length=10)
        try:
            await stream.write(b"x" * (20 if path == "/long" else 5))
            await stream.finish()
        except ProtocolError as exc:
            record(f"ProtocolError {exc}")
            raise
    elif path == "/file":
        count = int(query["count"]) if "count" in query else None
        await responder.respond_file(
            200, [], query["path"], offset=int(query.get("offset", 0)), count=count
        )
    elif path == "/trailers":
        stream = responder.start(200, [("trailer", "x-sum")])
        await stream.write(b"abc")
        await stream.write(b"def")
        await stream.finish(trailers=[("x-sum", "6")])
    elif path == "/twice":
        responder.respond(200, [], b"first")
        try:
            responder.respond(200, [], b"second")
        except ProtocolError as exc:
            record(f"ProtocolError {exc}")
    elif path == "/after-finish":
        stream = responder.start(200, [])
        await stream.write(b"done")
        await stream.finish()
        try:
            await stream.write(b"more")
        except ProtocolError as exc:
            record(f"ProtocolError {exc}")
    elif path == "/error/before":
        raise ValueError("boom before")
    elif path == "/error/after":
        stream = responder.start(200, [])
        await stream.write(b"partial")
        raise ValueError("boom after")
    elif path == "/noresponse":
        return
    elif path == "/produce":
        total = int(query["total"])
        stream = responder.start(200, [])
        sent = 0
        while sent < total:
            awaitable = stream.write(PIECE)
            if not awaitable.done():
                STATS["pending_writes"] += 1
            STATS["waiting"] = True
            try:
                await awaitable
            except ClientDisconnected:
                STATS["disconnected"] += 1
                raise
            finally:
                STATS["waiting"] = False
            sent += len(PIECE)
            STATS["sent"] += len(PIECE)
        await stream.finish()
    elif path == "/disconnect":
        await request.disconnected()
        record("disconnected")
    elif path == "/str":
        responder.respond(200, [("content-type", "text/plain; charset=utf-8")], "héllo")
    elif path == "/stats":
        _json(responder, STATS)
    else:
        responder.respond(404, [], b"not found")


class App:
    """The PSGI application object: ``__psgi__`` plus the optional hooks."""

    async def __psgi_startup__(self) -> None:
        record("startup")

    async def __psgi_shutdown__(self) -> None:
        record("shutdown")

    async def __psgi__(self, request: Any, responder: Any) -> None:
        await handler(request, responder)


app = App()
