"""The typed scenarios on FastAPI (served by uvicorn): ``GET /typed/{user_id}?limit=5``
with a response model, and ``POST /items`` with a pydantic body; see
typed_framework.py for pyre.framework's."""

from __future__ import annotations

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field


class User(BaseModel):
    id: int
    name: str
    limit: int


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(ge=0)
    tags: list[str] = []


app = FastAPI()


@app.get("/typed/{user_id}", response_model=User)
async def typed(user_id: int, limit: int = Query(10, ge=1, le=100)) -> dict[str, object]:
    return {"id": user_id, "name": f"user {user_id}", "limit": limit, "secret": "x"}


@app.post("/items")
async def create(item: Item) -> Item:
    return item
