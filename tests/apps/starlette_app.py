"""An ordinary Starlette application, written as a user would, for tests/test_frameworks.py.

Events the tests look for (background work, cancellation, lifespan) are recorded, one
line each, in the file named by ``PYRE_TEST_CALLS``. Routes:

    /                       plain text
    /users/{id:int}         JSON with the converted path parameter
    /items/{name}           404 through the HTTPException handler unless name is "known"
    /form                   POST: urlencoded or multipart form (with an uploaded file)
    /stream?n=N&delay=S     StreamingResponse from an async generator
    /file?path=P            FileResponse of P (sent by pathsend on Pyre)
    /bigstream?total=N      StreamingResponse of N bytes in 64 KiB pieces (sync iterator)
    /forever                streams a chunk every 50 ms until cancelled (records finally)
    /background?token=T     JSON, then a BackgroundTask that waits for the test's go file
    /state                  lifespan state through request.state
    /disconnect             polls request.is_disconnected() until the client leaves
    /connected              request.is_disconnected() three times while the client is there
    /task                   asyncio.current_task() and the middleware's contextvar
    /taskgroup              two sub-tasks in an anyio task group
    /leak                   a contextvar set by one request must not reach the next
    /sync                   a sync endpoint (run in a thread)
    /boom                   raises: 500 from ServerErrorMiddleware
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
leaky: contextvars.ContextVar[str | None] = contextvars.ContextVar("leaky", default=None)


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    record("lifespan startup")
    yield {"greeting": "hello from the lifespan"}
    record("lifespan shutdown")


class TagMiddleware(BaseHTTPMiddleware):
    """Sets the request-id contextvar and tags every response."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request_id.set(request.headers.get("x-request-id", "none"))
        response = await call_next(request)
        response.headers["x-middleware"] = "tagged"
        client = request.client
        response.headers["x-client-port"] = str(client.port if client else 0)
        return response


async def homepage(request: Request) -> Response:
    return PlainTextResponse("hello, starlette")


async def user(request: Request) -> Response:
    user_id = request.path_params["id"]
    return JSONResponse({"id": user_id, "type": type(user_id).__name__})


async def item(request: Request) -> Response:
    name = request.path_params["name"]
    if name != "known":
        raise HTTPException(status_code=404, detail=f"no item named {name}")
    return JSONResponse({"name": name})


async def form(request: Request) -> Response:
    async with request.form() as data:
        fields: dict[str, object] = {}
        for key in data:
            values = data.getlist(key)
            out = []
            for value in values:
                if isinstance(value, UploadFile):
                    content = await value.read()
                    out.append(
                        {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "size": len(content),
                            "sha256": hashlib.sha256(content).hexdigest(),
                        }
                    )
                else:
                    out.append(value)
            fields[key] = out
    return JSONResponse({"content_type": request.headers.get("content-type", ""), "fields": fields})


async def stream(request: Request) -> Response:
    n = int(request.query_params.get("n", "5"))
    delay = float(request.query_params.get("delay", "0.05"))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(n):
            yield f"chunk {i}\n".encode()
            await asyncio.sleep(delay)

    return StreamingResponse(chunks(), media_type="text/plain")


async def file(request: Request) -> Response:
    return FileResponse(request.query_params["path"])


async def bigstream(request: Request) -> Response:
    total = int(request.query_params["total"])
    piece = bytes(range(256)) * 256

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, total, len(piece)):
            yield piece[: min(len(piece), total - start)]

    return StreamingResponse(pieces(), media_type="application/octet-stream")


async def forever(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        record("forever started")
        i = 0
        try:
            while True:
                yield f"tick {i}\n".encode()
                i += 1
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            record("forever cancelled")
            raise
        finally:
            record("forever finally")

    return StreamingResponse(chunks(), media_type="text/plain")


async def wait_for_go(token: str) -> None:
    """The background task: proves it runs after the response reached the client by
    waiting (bounded) for a file the test creates once it has the response."""
    record(f"background started {token}")
    go = f"{os.environ['PYRE_TEST_CALLS']}.go-{token}"
    deadline = time.monotonic() + 10
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            record(f"background gave up {token}")
            return
        await asyncio.sleep(0.02)
    record(f"background done {token}")


async def background(request: Request) -> Response:
    token = request.query_params["token"]
    return JSONResponse({"queued": token}, background=BackgroundTask(wait_for_go, token))


async def state(request: Request) -> Response:
    return JSONResponse({"greeting": request.state.greeting})


async def disconnect(request: Request) -> Response:
    record("disconnect polling")
    deadline = time.monotonic() + 10
    while not await request.is_disconnected():
        if time.monotonic() > deadline:
            record("disconnect never seen")
            return PlainTextResponse("still connected")
        await asyncio.sleep(0.02)
    record("disconnect seen")
    return PlainTextResponse("gone")


async def connected(request: Request) -> Response:
    first = await request.is_disconnected()
    await asyncio.sleep(0.01)
    second = await request.is_disconnected()
    await asyncio.sleep(0.01)
    third = await request.is_disconnected()
    return JSONResponse({"first": first, "second": second, "third": third})


async def task(request: Request) -> Response:
    current = asyncio.current_task()
    return JSONResponse(
        {
            "has_task": current is not None,
            "task_running": current is not None and not current.done(),
            "anyio_task": anyio.get_current_task().id == id(current),
            "request_id": request_id.get(),
            "main_thread": threading.current_thread() is threading.main_thread(),
        }
    )


async def taskgroup(request: Request) -> Response:
    results: dict[str, object] = {}

    async def worker(name: str, delay: float) -> None:
        await anyio.sleep(delay)
        results[name] = {
            "request_id": request_id.get(),
            "has_task": asyncio.current_task() is not None,
        }

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, "slow", 0.05)
        tg.start_soon(worker, "fast", 0.01)
    return JSONResponse({"order": list(results), "results": results})


async def leak(request: Request) -> Response:
    seen = leaky.get()
    leaky.set(request.query_params.get("set", "x"))
    return JSONResponse({"seen": seen})


def sync_endpoint(request: Request) -> Response:
    return JSONResponse(
        {
            "main_thread": threading.current_thread() is threading.main_thread(),
            "id": request_id.get(),
        }
    )


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


main = Starlette(
    routes=[
        Route("/", homepage),
        Route("/users/{id:int}", user),
        Route("/items/{name}", item),
        Route("/form", form, methods=["POST"]),
        Route("/stream", stream),
        Route("/file", file),
        Route("/bigstream", bigstream),
        Route("/forever", forever),
        Route("/background", background, methods=["POST"]),
        Route("/state", state),
        Route("/task", task),
        Route("/taskgroup", taskgroup),
        Route("/leak", leak),
        Route("/sync", sync_endpoint),
        Route("/boom", boom),
    ],
    middleware=[Middleware(TagMiddleware)],
    exception_handlers={HTTPException: http_exception},
    lifespan=lifespan,
)

# request.is_disconnected() hangs under BaseHTTPMiddleware once the client has gone,
# on uvicorn as on Pyre (the middleware's call_next task never finishes), so the
# disconnect routes live in an app without it.
disconnect_app = Starlette(
    routes=[Route("/disconnect", disconnect), Route("/connected", connected)],
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] in ("/disconnect", "/connected"):
        await disconnect_app(scope, receive, send)
    else:
        await main(scope, receive, send)
