"""A Litestar application, for tests/test_frameworks_differential.py. Routes:

    /hello                  plain text
    /json                   a dict as JSON
    /items                  POST: a JSON body parsed into a msgspec Struct (400 if invalid)
    /users/{user_id:int}    a typed path parameter (a non-integer gets 404: no route matches)
    /query?limit=N          a typed query parameter (a bad value gets 400)
    /boom                   raises: 500
    /stream?n=N             Stream from an async generator
    /redirect               302 to /hello
    /cookie                 sets two cookies
    /multi                  repeated header values and a request header echoed
    /sync                   a sync handler (sync_to_thread)
    /started                whether the on_startup hook ran
anything else: 404; a known path with the wrong method: 405.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import Cookie, ResponseHeader
from litestar.response import Redirect, Stream

state = {"started": False}


def record(line: str) -> None:
    calls = os.environ.get("PYRE_TEST_CALLS")
    if calls:
        with open(calls, "a") as file:
            file.write(line + "\n")


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


@get("/hello", media_type="text/plain")
async def hello() -> str:
    return "hello, litestar"


@get("/json")
async def json_view() -> dict[str, object]:
    return {"framework": "litestar", "list": [1, 2, 3], "nested": {"ok": True}}


@post("/items")
async def create_item(data: Item) -> dict[str, object]:
    return {"name": data.name, "price": data.price, "tags": data.tags}


@get("/users/{user_id:int}")
async def user(user_id: int) -> dict[str, int]:
    return {"id": user_id}


@get("/query")
async def query(limit: int = 10, tag: str | None = None) -> dict[str, object]:
    return {"limit": limit, "tag": tag}


@get("/boom")
async def boom() -> str:
    raise RuntimeError("litestar boom")


@get("/stream")
async def stream(n: int = 3) -> Stream:
    async def pieces() -> AsyncIterator[bytes]:
        for i in range(n):
            yield f"piece {i}\n".encode()

    return Stream(pieces(), media_type="text/plain")


@get("/redirect", status_code=302)
async def redirect() -> Redirect:
    return Redirect(path="/hello", status_code=302)


@get(
    "/cookie",
    media_type="text/plain",
    response_cookies=[Cookie(key="flavour", value="oatmeal", max_age=3600, httponly=True)],
)
async def cookie() -> Response[str]:
    return Response("cookies set", cookies=[Cookie(key="second", value="two", path="/cookie")])


@get(
    "/multi",
    media_type="text/plain",
    response_headers=[ResponseHeader(name="Cache-Control", value="no-cache, no-store")],
)
async def multi(request: Request) -> Response[str]:
    return Response(
        "multi",
        headers={
            "Vary": "Accept-Encoding",
            "X-Request-Header": request.headers.get("x-custom", ""),
        },
    )


@get("/sync", media_type="text/plain", sync_to_thread=True)
def sync_view() -> str:
    return "sync, litestar"


@get("/started")
async def started() -> dict[str, bool]:
    return {"started": state["started"]}


def on_startup() -> None:
    state["started"] = True
    record("litestar startup")


app = Litestar(
    route_handlers=[
        hello,
        json_view,
        create_item,
        user,
        query,
        boom,
        stream,
        redirect,
        cookie,
        multi,
        sync_view,
        started,
    ],
    on_startup=[on_startup],
    debug=False,
    logging_config=None,
)
