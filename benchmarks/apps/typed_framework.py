"""The typed scenarios on pyre.framework (served by Pyre over PSGI):

- ``GET /typed/{id:int}?limit=5``: a path and a query parameter bound by annotation,
  the return value filtered through a response model (a msgspec Struct);
- ``POST /items``: a JSON body decoded and validated into a msgspec Struct, returned
  as JSON;
- ``POST /items-pydantic``: the same body as a pydantic model (what FastAPI uses).

Their FastAPI counterparts are in typed_fastapi.py."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pydantic

from pyre import framework
from pyre.framework import App, Query


class User(msgspec.Struct):
    id: int
    name: str
    limit: int


class Item(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    price: Annotated[float, msgspec.Meta(ge=0)]
    tags: list[str] = []


class ItemModel(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=1)
    price: float = pydantic.Field(ge=0)
    tags: list[str] = []


class Typed(framework.Blueprint):
    @framework.endpoint("/typed/{id:int}")
    async def typed(self, id: int, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> User:
        return {"id": id, "name": f"user {id}", "limit": limit, "secret": "x"}  # type: ignore[return-value]

    @framework.endpoint("/items", methods=["POST"])
    async def create(self, item: Item) -> Item:
        return item

    @framework.endpoint("/items-pydantic", methods=["POST"])
    async def create_pydantic(self, item: ItemModel) -> ItemModel:
        return item


app = App()
app.add_blueprint(Typed())
