"""The application behind tests/conformance: it reads the whole request body, records
what it saw (one JSON object a line: method, path, query, HTTP version, headers, body, and
whether the body was received whole)
in the file named by ``PYRE_TEST_CALLS``, and answers with that record as JSON.

Query parameters shape the response:

    status=N    the status code (204 and 304 are sent without a body)
    delay=S     sleep S seconds before answering (pipelining order)
    stream=1    the record in two pieces without Content-Length (chunked on 1.1,
                close-delimited on 1.0)

For HEAD the body is still sent by the application, as many frameworks do: the
server must not put it on the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import parse_qs


def record(entry: dict[str, Any]) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body, complete = b"", False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            complete = True
            break
    entry = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "http_version": scope["http_version"],
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "body": body.decode("latin-1"),
        "complete": complete,  # False: http.disconnect came before the end of the body
    }
    record(entry)
    query = parse_qs(scope["query_string"].decode())
    status = int(query.get("status", ["200"])[0])
    await asyncio.sleep(float(query.get("delay", ["0"])[0]))
    payload = json.dumps(entry).encode()
    if status in (204, 304):
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif "stream" in query:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        half = len(payload) // 2
        await send({"type": "http.response.body", "body": payload[:half], "more_body": True})
        await send({"type": "http.response.body", "body": payload[half:]})
    else:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
