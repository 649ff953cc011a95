"""A raw ASGI application for the streaming tests: bodies both ways, backpressure,
files and trailers. It keeps counters in the process, served at /stats, so a test
can see from outside what the application experienced (a send that had to wait, a
disconnect raised into it, the tasks and file descriptors still open). Routes:

    /produce?total=N&piece=P  N pattern bytes in P-byte pieces, chunked; records every
                              send whose awaitable was still pending when returned
    /known?total=N&piece=P    the same with a declared Content-Length
    /oneshot?n=N              N bytes in one body message
    /trailers?pieces=K        K chunked pieces, then two trailer messages
    /file?path=F[&length=L]   http.response.pathsend of F (optionally declaring L)
    /slow-read?delay=S        reads one body message, sleeps S, reads the rest, answers
                              the size and sha256 of the body
    /drip?n=N&delay=S         N pieces S seconds apart
    /stats                    the counters as JSON
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any
from urllib.parse import parse_qs

from pyre import ClientDisconnected

STATS: dict[str, Any] = {
    "sent": 0,
    "pending_sends": 0,
    "waiting": False,
    "disconnected_sends": 0,
    "completed": 0,
    "log": [],
}


def pattern(offset: int, size: int) -> bytes:
    """Bytes offset..offset+size of the endless sequence 0, 1, ..., 250, 0, 1, ..."""
    start = offset % 251
    block = bytes(range(251)) * (size // 251 + 2)
    return block[start : start + size]


def open_connections(port: int) -> int:
    """This process's TCP sockets on `port` other than the listener: the connections
    the server holds (matched by inode between /proc/self/fd and /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            inodes.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            listening = fields[3] == "0A"
            if local_port == port and not listening and f"socket:[{fields[9]}]" in inodes:
                count += 1
    return count


def _query(scope: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}


async def _start(send: Any, status: int = 200, headers: list | None = None, **extra: Any) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or [], **extra})


async def _produce(send: Any, total: int, piece: int) -> None:
    sent = 0
    while sent < total:
        size = min(piece, total - sent)
        awaitable = send(
            {"type": "http.response.body", "body": pattern(sent, size), "more_body": True}
        )
        if not awaitable.done():
            STATS["pending_sends"] += 1
        STATS["waiting"] = True
        try:
            await awaitable
        except ClientDisconnected:
            STATS["disconnected_sends"] += 1
            raise
        finally:
            STATS["waiting"] = False
        sent += size
        STATS["sent"] += size
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    STATS["completed"] += 1


async def _read_all(receive: Any) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("client went away")
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    query = _query(scope)
    if path != "/stats":
        STATS["log"].append(f"start {path}")
    await _route(path, query, scope, receive, send)
    if path != "/stats":
        STATS["log"].append(f"end {path}")


async def _route(path: str, query: dict[str, str], scope: Any, receive: Any, send: Any) -> None:

    if path == "/produce":
        await _start(send)
        await _produce(send, int(query["total"]), int(query.get("piece", 16384)))
    elif path == "/known":
        total = int(query["total"])
        await _start(send, headers=[(b"content-length", str(total).encode())])
        await _produce(send, total, int(query.get("piece", 16384)))
    elif path == "/oneshot":
        await _start(send)
        await send({"type": "http.response.body", "body": pattern(0, int(query["n"]))})
    elif path == "/trailers":
        await _start(send, headers=[(b"trailer", b"x-checksum, x-count")], trailers=True)
        pieces = int(query.get("pieces", 3))
        digest = hashlib.sha256()
        for i in range(pieces):
            data = b"piece %d\n" % i
            digest.update(data)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        await send(
            {
                "type": "http.response.trailers",
                "headers": [(b"x-checksum", digest.hexdigest().encode())],
                "more_trailers": True,
            }
        )
        await send(
            {"type": "http.response.trailers", "headers": [(b"x-count", str(pieces).encode())]}
        )
    elif path == "/file":
        headers = [(b"content-type", b"application/octet-stream")]
        if "length" in query:
            headers.append((b"content-length", query["length"].encode()))
        await _start(send, headers=headers)
        await send({"type": "http.response.pathsend", "path": query["path"]})
        STATS["completed"] += 1
    elif path == "/slow-read":
        first = await receive()
        await asyncio.sleep(float(query.get("delay", 1.0)))
        rest = b"" if not first.get("more_body") else await _read_all(receive)
        body = first.get("body", b"") + rest
        answer = json.dumps({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        await _start(send, headers=[(b"content-type", b"application/json")])
        await send({"type": "http.response.body", "body": answer.encode()})
    elif path == "/drip":
        await _start(send)
        for i in range(int(query.get("n", 3))):
            await asyncio.sleep(float(query.get("delay", 0.1)))
            await send({"type": "http.response.body", "body": b"drip %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/stats":
        stats = {
            **STATS,
            "fds": len(os.listdir("/proc/self/fd")),
            "tasks": len(asyncio.all_tasks()),
            "connections": open_connections(scope["server"][1]),
        }
        await _start(send, headers=[(b"content-type", b"application/json")])
        await send({"type": "http.response.body", "body": json.dumps(stats).encode()})
    else:
        await _start(send, 404)
        await send({"type": "http.response.body", "body": b"not found"})
