"""A pyre.framework app wrapped in Starlette's CORSMiddleware and GZipMiddleware
(standard ASGI middleware) and with a ``lifespan=`` context manager, for
tests/test_framework_asgi_middleware.py."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from pyre import framework
from pyre.framework import App, Request


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, str]]:
    record("lifespan enter")
    yield {"greeting": "hello from lifespan"}
    record("lifespan exit")


class Views(framework.Blueprint):
    @framework.endpoint("/big")
    async def big(self):
        return "all work and no play " * 2000

    @framework.endpoint("/small")
    async def small(self):
        return "tiny"

    @framework.endpoint("/state")
    async def state(self, request: Request):
        return {"greeting": request.app.state.greeting}

    @framework.endpoint("/echo", methods=["POST"])
    async def echo(self, request: Request):
        return await request.body.bytes()

    @framework.endpoint("/stream")
    async def stream(self):
        async def pieces():
            for i in range(3):
                yield f"piece {i}\n"

        return pieces()


app = App(lifespan=lifespan)
app.add_blueprint(Views())
app.add_asgi_middleware(GZipMiddleware, minimum_size=500)
app.add_asgi_middleware(CORSMiddleware, allow_origins=["https://example.com"], allow_methods=["*"])
