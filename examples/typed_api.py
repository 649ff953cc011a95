"""A typed JSON API on pyre.framework: query parameters, a validated body, response
models, a sync handler in the thread pool, and the OpenAPI document with its /docs
page.

    pyre-http examples.typed_api:app
    curl -X POST -H 'content-type: application/json' \\
         -d '{"name": "pen", "price": 2.5}' http://127.0.0.1:8000/items
    curl 'http://127.0.0.1:8000/items?limit=5'
    curl -X POST -d '{"name": "pen", "price": -1}' http://127.0.0.1:8000/items   # 422
    open http://127.0.0.1:8000/docs
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec

from pyre import framework
from pyre.framework import App, Header, HTTPException, Query


class NewItem(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    price: Annotated[float, msgspec.Meta(ge=0)]
    tags: list[str] = []


class Item(msgspec.Struct):
    id: int
    name: str
    price: float
    tags: list[str] = []


class Items(framework.Blueprint):
    """A small in-memory catalogue."""

    def __init__(self) -> None:
        self._items: dict[int, Item] = {}

    @framework.endpoint("/items", methods=["POST"])
    async def create(self, new: NewItem) -> Item:
        """Add an item.

        The body is decoded and validated into ``NewItem`` in one step."""
        item = Item(len(self._items) + 1, new.name, new.price, new.tags)
        self._items[item.id] = item
        return item, 201  # type: ignore[return-value]

    @framework.endpoint("/items")
    async def list_items(
        self, limit: Annotated[int, Query(ge=1, le=100)] = 10, tag: str | None = None
    ) -> list[Item]:
        """List items, optionally with one tag."""
        found = [i for i in self._items.values() if tag is None or tag in i.tags]
        return found[:limit]

    @framework.endpoint("/items/{item_id:int}")
    async def get(self, item_id: int) -> Item:
        """One item."""
        if item_id not in self._items:
            raise HTTPException(404, "no such item")
        return self._items[item_id]

    @framework.endpoint("/checksum/{item_id:int}")
    def checksum(self, item_id: int, x_salt: str = Header("")):
        """A sync (CPU-bound) handler: it runs in the thread pool, not on the loop."""
        item = self.get_item(item_id)
        return {"sha256": hashlib.sha256((x_salt + item.name).encode()).hexdigest()}

    def get_item(self, item_id: int) -> Item:
        if item_id not in self._items:
            raise HTTPException(404, "no such item")
        return self._items[item_id]


app = App(title="Items", version="1.0.0", openapi_url="/openapi.json", docs_url="/docs")
app.add_blueprint(Items())
