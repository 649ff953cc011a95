"""Running an ASGI application (the framework wrapped in ASGI middleware) on PSGI.

How it works: the PSGI request becomes an ASGI scope, ``receive`` reads the body
through ``request.stream()`` (so read backpressure still holds) and then waits for
the client to leave, and ``send`` turns the response messages into responder calls:
a body sent whole becomes ``respond``, a body in pieces a stream (known-length when
the application declared Content-Length), and ``http.response.pathsend`` becomes
``respond_file``.
"""

from __future__ import annotations

from typing import Any

ASGI = {"version": "3.0", "spec_version": "2.4"}


async def serve_asgi_on_psgi(
    app: Any, request: Any, responder: Any, *, root_path: str = ""
) -> None:
    """Runs ASGI ``app`` on one PSGI request; ``root_path`` is where it is mounted
    (``path`` stays the whole path, as Starlette's Mount does)."""
    headers = request.headers.raw
    scope = {
        "type": "http",
        "asgi": ASGI,
        "http_version": request.http_version,
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path,
        "query_string": request.query_string,
        "root_path": root_path,
        "headers": headers,
        "client": request.client,
        "server": request.server,
        "extensions": {"http.response.pathsend": {}},
    }
    pieces = request.stream()
    body_done = False

    async def receive() -> dict[str, Any]:
        nonlocal body_done
        if not body_done:
            try:
                piece = await pieces.__anext__()
                return {"type": "http.request", "body": piece, "more_body": True}
            except StopAsyncIteration:
                body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
        await request.disconnected()
        return {"type": "http.disconnect"}

    start: dict[str, Any] | None = None
    stream: Any = None

    async def send(message: dict[str, Any]) -> None:
        nonlocal start, stream
        kind = message["type"]
        if kind == "http.response.start":
            start = message
            return
        if start is None:
            raise RuntimeError(f"{kind!r} before 'http.response.start'")
        status = start["status"]
        fields = list(start.get("headers", []))
        if kind == "http.response.pathsend":
            await responder.respond_file(status, fields, message["path"])
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unsupported ASGI message {kind!r}")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if stream is None and not more:
            responder.respond(status, fields, body)
            return
        if stream is None:
            length = next((int(v) for k, v in fields if k.lower() == b"content-length"), None)
            kept = [(k, v) for k, v in fields if k.lower() != b"content-length"]
            stream = responder.start(status, kept, length=length)
        if body:
            await stream.write(body)
        if not more:
            await stream.finish()

    await app(scope, receive, send)
