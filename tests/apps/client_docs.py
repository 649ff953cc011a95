"""The API that the examples of docs/client.md call (tests/test_client_docs.py runs
each of them against it): users, events as lines, a moved path, a login form, an
upload, and a session cookie."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

USERS = [{"id": 1, "name": "ada"}]


async def users(request: Request) -> Response:
    if request.method == "POST":
        USERS.append({"id": len(USERS) + 1, **(await request.json())})
        return JSONResponse(USERS[-1], 201)
    return JSONResponse(USERS)


async def user(request: Request) -> Response:
    return JSONResponse({"error": "no such user"}, 404)


async def events(request: Request) -> Response:
    return PlainTextResponse("event: one\r\nevent: two\n")


async def old_path(request: Request) -> Response:
    return RedirectResponse("/users", 301)


async def form(request: Request) -> Response:
    async with request.form() as parsed:
        fields: dict[str, Any] = {}
        for name, value in parsed.multi_items():
            fields.setdefault(name, []).append(getattr(value, "filename", value))
    return JSONResponse(fields)


async def login(request: Request) -> Response:
    response = JSONResponse({"logged_in": request.path_params["user"]})
    response.set_cookie("session", request.path_params["user"])
    return response


async def me(request: Request) -> Response:
    return JSONResponse({"user": request.cookies.get("session")})


app = Starlette(
    routes=[
        Route("/users", users, methods=["GET", "POST"]),
        Route("/users/{id}", user),
        Route("/events", events),
        Route("/old-path", old_path),
        Route("/login", form, methods=["POST"]),
        Route("/upload", form, methods=["POST"]),
        Route("/account/login/{user}", login, methods=["POST"]),
        Route("/account/me", me),
    ]
)
