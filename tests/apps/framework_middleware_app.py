"""pyre.framework apps with the built-in CORS and GZip middleware, for
tests/test_framework_middleware.py. ``app`` allows one origin with credentials;
``open_app`` allows every origin, method and header, without credentials."""

from __future__ import annotations

import asyncio

from pyre import framework
from pyre.framework import App, CORSMiddleware, EventSourceResponse, GZipMiddleware, responses

BIG = "compress me please " * 300


class Views(framework.Blueprint):
    @framework.endpoint("/big", methods=["GET", "POST", "PUT"])
    async def big(self):
        response = responses.PlainTextResponse(BIG)
        response.headers["x-total"] = "300"
        return response

    @framework.endpoint("/small")
    async def small(self):
        return "tiny"

    @framework.endpoint("/stream")
    async def stream(self):
        async def pieces():
            for n in range(3):
                yield f"piece {n} " * 100
                await asyncio.sleep(0.01)

        return responses.StreamingResponse(pieces(), media_type="text/plain")

    @framework.endpoint("/encoded")
    async def encoded(self):
        return responses.Response(
            b"already-encoded" * 100,
            headers={"content-encoding": "x-precompressed"},
            media_type="text/plain",
        )

    @framework.endpoint("/events")
    async def events(self):
        async def ticks():
            for n in range(2):
                yield {"data": "x" * 600, "id": str(n)}

        return EventSourceResponse(ticks())

    @framework.endpoint("/file")
    async def file(self):
        return responses.FileResponse(__file__, media_type="text/plain")

    @framework.endpoint("/error")
    async def error(self):
        raise framework.HTTPException(418, "teapot " * 100)

    @framework.endpoint("/headers")
    async def headers(self):
        response = responses.PlainTextResponse("h", headers={"X-One": "1"})
        response.headers["x-one"] = "replaced"
        response.headers.append("set-cookie", "a=1")
        response.set_cookie("b", "2")
        response.headers["X-Gone"] = "soon"
        del response.headers["x-gone"]
        response.headers.setdefault("x-default", "d")
        return response


app = App()
app.add_middleware(
    CORSMiddleware(
        allow_origins=["https://good.example"],
        allow_origin_regex=r"https://[a-z]+\.trusted\.example",
        allow_methods=["GET", "POST"],
        allow_headers=["X-Token"],
        allow_credentials=True,
        expose_headers=["x-total"],
        max_age=123,
    )
)
app.add_middleware(GZipMiddleware(minimum_size=500))
app.add_blueprint(Views())

open_app = App()
open_app.add_middleware(
    CORSMiddleware(allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
)
open_app.add_blueprint(Views())
