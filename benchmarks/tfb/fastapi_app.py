"""The TechEmpower tests on FastAPI (``benchmarks.tfb.fastapi_app:app``, served by
uvicorn), shaped as TechEmpower's fastapi entry (frameworks/Python/fastapi/app.py): the pool
made in the lifespan, ``queries`` bound as a query parameter, the bodies returned as
responses (that entry returns ``ORJSONResponse``s; here the shared code's orjson
bytes go into a ``Response``, the same encoding without a second call)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from benchmarks.tfb import common
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse, Response


@asynccontextmanager
async def lifespan(app: FastAPI):
    await common.create_pool()
    yield
    await common.close_pool()


app = FastAPI(lifespan=lifespan)


def _json(body: bytes) -> Response:
    return Response(body, media_type=common.JSON)


@app.get("/json")
async def json_serialization():
    return _json(common.dumps(common.HELLO))


@app.get("/plaintext")
async def plaintext():
    return PlainTextResponse(common.PLAINTEXT)


@app.get("/db")
async def single_query():
    return _json(await common.db())


@app.get("/queries")
async def multiple_queries(queries: str | None = None):
    return _json(await common.queries(common.clamp(queries)))


@app.get("/fortunes")
async def fortunes():
    return HTMLResponse(await common.fortunes())


@app.get("/updates")
async def updates(queries: str | None = None):
    return _json(await common.updates(common.clamp(queries)))
