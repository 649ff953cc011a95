"""Starlette's FileResponse serving the file named by ``BENCH_FILE`` at /file: the
streaming benchmark's download peer on uvicorn (which has no pathsend, so Starlette
reads the file in a worker thread and sends it in pieces). ``/`` answers
``Hello, world!`` for the start-up check."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route


async def file(request: Request) -> Response:
    return FileResponse(os.environ["BENCH_FILE"], media_type="application/octet-stream")


async def hello(request: Request) -> Response:
    return PlainTextResponse("Hello, world!")


app = Starlette(routes=[Route("/file", file), Route("/", hello)])
