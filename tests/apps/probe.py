"""A raw ASGI application with one route per behaviour the server tests need.

Every request is recorded (method and path, one line each) in the file named by the
``PYRE_TEST_CALLS`` environment variable, so a test can prove the application was or
was not called. Routes:

    /scope              the scope as JSON (bytes shown as latin-1 strings)
    /echo               the request body, read whole, echoed back (with its length)
    /chunks             the sizes of the http.request messages received, as JSON
    /stream?n=N         N chunks of b"chunk i\\n" without Content-Length (chunked)
    /length?n=N         N bytes in pieces with a declared Content-Length
    /long, /short       a body longer / shorter than the declared Content-Length
    /error/before       raises before http.response.start
    /error/after        raises after the first body piece
    /noresponse         returns without sending anything
    /incomplete         sends start and part of a body, then returns
    /slow?t=S           sleeps S seconds, then answers
    /disconnect         waits for http.disconnect and records it
    /after-complete     sends the response, then records what receive() gives
    /twice              sends http.response.start twice
    /badheaders         sends a header value with CRLF in it
    /state              the lifespan state seen by the request
anything else: 200 "ok".
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import parse_qs


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


async def start(send: Any, status: int = 200, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})


async def text(send: Any, body: bytes, status: int = 200) -> None:
    await start(send, status, [(b"content-type", b"text/plain")])
    await send({"type": "http.response.body", "body": body})


async def read_all(receive: Any) -> tuple[bytes, list[int]]:
    body, sizes = b"", []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body, sizes
        sizes.append(len(message.get("body", b"")))
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, sizes


def jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


async def lifespan(receive: Any, send: Any, scope: dict[str, Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("PYRE_TEST_FAIL_STARTUP"):
                await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
                return
            scope["state"]["greeting"] = "hello from lifespan"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            record("lifespan.shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, scope)
        return
    path = scope["path"]
    query = parse_qs(scope["query_string"].decode())
    record(f"{scope['method']} {path}")
    if path == "/scope":
        data = {k: v for k, v in scope.items() if k not in ("state", "extensions")}
        data["state_keys"] = sorted(scope.get("state", {}))
        data["extensions"] = sorted(scope.get("extensions", {}))
        await text(send, json.dumps(jsonable(data)).encode())
    elif path == "/echo":
        body, _ = await read_all(receive)
        await text(send, body)
    elif path == "/chunks":
        body, sizes = await read_all(receive)
        await text(send, json.dumps({"sizes": sizes, "total": len(body)}).encode())
    elif path == "/stream":
        n = int(query.get("n", ["3"])[0])
        await start(send, 200, [(b"content-type", b"text/plain")])
        for i in range(n):
            await send(
                {"type": "http.response.body", "body": f"chunk {i}\n".encode(), "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})
    elif path == "/length":
        n = int(query.get("n", ["10"])[0])
        await start(send, 200, [(b"content-length", str(n).encode())])
        for _ in range(n):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/long":
        await start(send, 200, [(b"content-length", b"3")])
        try:
            await send({"type": "http.response.body", "body": b"toolong"})
        except RuntimeError as exc:
            record(f"RuntimeError: {exc}")
    elif path == "/short":
        await start(send, 200, [(b"content-length", b"10")])
        try:
            await send({"type": "http.response.body", "body": b"short"})
        except RuntimeError as exc:
            record(f"RuntimeError: {exc}")
    elif path == "/error/before":
        raise ValueError("boom before start")
    elif path == "/error/after":
        await start(send, 200)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("boom after start")
    elif path == "/noresponse":
        return
    elif path == "/incomplete":
        await start(send, 200)
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    elif path == "/slow":
        await asyncio.sleep(float(query.get("t", ["1"])[0]))
        await text(send, b"slow done")
    elif path == "/disconnect":
        message = await receive()
        while message["type"] != "http.disconnect":
            message = await receive()
        record("saw http.disconnect")
    elif path == "/after-complete":
        await text(send, b"done")
        message = await receive()
        record(f"after complete: {message['type']}")
    elif path == "/twice":
        await start(send, 200)
        try:
            await start(send, 200)
        except RuntimeError as exc:
            record(f"RuntimeError: {exc}")
            await send({"type": "http.response.body", "body": b"second start refused"})
    elif path == "/badheaders":
        await start(send, 200, [(b"x-evil", b"a\r\nset-cookie: pwned=1")])
        await send({"type": "http.response.body", "body": b"should not be sent"})
    elif path == "/state":
        await text(send, json.dumps(scope.get("state", {})).encode())
    else:
        await text(send, b"ok")


# Added for tests/test_http.py: a wrapper in front of the routes above, so they stay
# unchanged.
#
#   .../inspect         (any prefix, so it also answers under --root-path) the scope as
#                       JSON, with the Python type of every value
#   /state-mutate       changes scope["state"], to show the next request gets a fresh copy
#   /long-streamed, /short-streamed
#                       like /long and /short, but the body comes in two pieces, so the
#                       head is already on the wire when the mismatch shows
#   /send-after-disconnect
#                       waits for http.disconnect, then tries to send; records what
#                       send raised and whether it is an OSError
_routes = app


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].endswith("/inspect"):
        record(f"{scope['method']} {scope['path']}")
        await read_all(receive)
        report = {
            "scope": jsonable({k: v for k, v in scope.items() if k not in ("state", "extensions")}),
            "types": {k: type(v).__name__ for k, v in scope.items()},
            "header_types": sorted(
                {f"{type(n).__name__},{type(v).__name__}" for n, v in scope["headers"]}
            ),
            "client_types": [type(v).__name__ for v in scope.get("client") or ()],
            "server_types": [type(v).__name__ for v in scope.get("server") or ()],
            "asgi_types": {k: type(v).__name__ for k, v in scope["asgi"].items()},
            "state": sorted(scope.get("state", {})),
            "extensions": jsonable(scope.get("extensions")),
        }
        await text(send, json.dumps(report).encode())
        return
    if scope["type"] == "http" and scope["path"] == "/state-mutate":
        record(f"{scope['method']} {scope['path']}")
        scope["state"]["mutated"] = True
        await text(send, b"mutated")
        return
    if scope["type"] == "http" and scope["path"] in ("/long-streamed", "/short-streamed"):
        record(f"{scope['method']} {scope['path']}")
        long = scope["path"] == "/long-streamed"
        await start(send, 200, [(b"content-length", b"3" if long else b"10")])
        await send({"type": "http.response.body", "body": b"to", "more_body": True})
        try:
            await send({"type": "http.response.body", "body": b"olong" if long else b"o"})
        except RuntimeError as exc:
            record(f"RuntimeError: {exc}")
        return
    if scope["type"] == "http" and scope["path"] == "/send-after-disconnect":
        record(f"{scope['method']} {scope['path']}")
        while (await receive())["type"] != "http.disconnect":
            pass
        try:
            await start(send, 200)
            await send({"type": "http.response.body", "body": b"too late"})
        except Exception as exc:
            record(f"send raised {type(exc).__name__} oserror={isinstance(exc, OSError)}")
            raise
        record("send did not raise")
        return
    if scope["type"] == "http" and scope["path"] == "/misuse":
        record(f"{scope['method']} {scope['path']}")
        await misuse(send)
        return
    await _routes(scope, receive, send)


async def misuse(send: Any) -> None:
    """Sends malformed messages (each must raise a clear error, recorded), then a
    valid response, then one message too many."""
    bad_messages = [
        "not a dict",
        {"status": 200},
        {"type": "http.response.start", "status": "200"},
        {"type": "http.response.start", "status": 99},
        {"type": "http.unknown"},
        {"type": "http.response.body", "body": b"before start"},
    ]
    for message in bad_messages:
        try:
            await send(message)
        except (TypeError, ValueError, RuntimeError) as exc:
            record(f"{type(exc).__name__}: {exc}")
    await send({"type": "http.response.start", "status": 200, "headers": [("x", "str")]})
    try:
        await send({"type": "http.response.body", "body": b"ok"})
    except TypeError as exc:
        record(f"{type(exc).__name__}: {exc}")
    try:
        await send({"type": "http.response.body", "body": "str body"})
    except TypeError as exc:
        record(f"{type(exc).__name__}: {exc}")
    await send({"type": "http.response.body", "body": b"fine"})
    try:
        await send({"type": "http.response.body", "body": b"one too many"})
    except RuntimeError as exc:
        record(f"{type(exc).__name__}: {exc}")
