"""The framework benchmark's endpoint on FastAPI: ``GET /user/{id}`` with an ``int``
parameter, returning ``{"id": id, "name": "user <id>"}`` as JSON (served by
uvicorn)."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/user/{user_id}")
async def get_user(user_id: int) -> dict[str, object]:
    return {"id": user_id, "name": f"user {user_id}"}
