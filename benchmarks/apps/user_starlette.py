"""The framework benchmark's endpoint on Starlette: ``GET /user/{id:int}`` returning
``{"id": id, "name": "user <id>"}`` as JSON (served by Pyre and by uvicorn)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def get_user(request: Request) -> JSONResponse:
    user_id = request.path_params["id"]
    return JSONResponse({"id": user_id, "name": f"user {user_id}"})


app = Starlette(routes=[Route("/user/{id:int}", get_user)])
