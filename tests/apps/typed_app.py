"""A pyre.framework application with typed parameters, bodies and return values, for
tests/test_framework_typed.py and tests/test_framework_openapi.py: served by Pyre
(PSGI) and by uvicorn (ASGI)."""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import threading
from typing import Annotated, TypedDict

import msgspec
import pydantic

from pyre import framework
from pyre.framework import App, Body, Cookie, Header, Query, RequestValidationError, responses


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


class ItemStruct(msgspec.Struct):
    name: str
    price: Annotated[float, msgspec.Meta(ge=0)]
    tags: list[str] = []


@dataclasses.dataclass
class ItemData:
    name: str
    quantity: int


class ItemDict(TypedDict):
    name: str
    count: int


class ItemModel(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0, le=150)


class PublicUser(msgspec.Struct):
    id: int
    name: str


@dataclasses.dataclass
class PublicPoint:
    x: int
    y: int


class PublicModel(pydantic.BaseModel):
    id: int


class Params(framework.Blueprint):
    """Query, header and cookie parameters."""

    prefix = "/params"

    @framework.endpoint("/query")
    async def query(
        self,
        q: int = 5,
        flag: bool = False,
        size: Size = Size.SMALL,
        name: str | None = None,
    ):
        """Scalars from the query string.

        Each has a default, so each is optional."""
        return {"q": q, "flag": flag, "size": size.value, "name": name}

    @framework.endpoint("/required")
    async def required(self, page: Annotated[int, Query(ge=1, le=100)], per: int = Query(10)):
        return {"page": page, "per": per}

    @framework.endpoint("/list")
    async def many(self, ids: list[int] = Query([]), alias_: str = Query("x", alias="the-key")):
        return {"ids": ids, "alias": alias_}

    @framework.endpoint("/headers")
    async def headers(
        self,
        x_token: str = Header(),
        user_agent: str = Header("none"),
        session: str | None = Cookie(None),
        n: int = Cookie(0, alias="count"),
    ):
        return {"x_token": x_token, "user_agent": user_agent, "session": session, "n": n}

    @framework.endpoint("/user/{user_id:int}")
    async def user(self, user_id: int, verbose: bool = False):
        return {"user_id": user_id, "verbose": verbose}


class Bodies(framework.Blueprint):
    """JSON bodies decoded into types."""

    prefix = "/body"

    @framework.endpoint("/struct", methods=["POST"])
    async def struct(self, item: ItemStruct):
        return {"name": item.name, "price": item.price, "tags": item.tags}

    @framework.endpoint("/dataclass", methods=["POST"])
    async def dataclass_(self, item: ItemData):
        return {"name": item.name, "quantity": item.quantity, "type": type(item).__name__}

    @framework.endpoint("/typeddict", methods=["POST"])
    async def typeddict(self, item: ItemDict):
        return {"item": item}

    @framework.endpoint("/model", methods=["POST"])
    async def model(self, person: ItemModel, dry_run: bool = False):
        return {"name": person.name, "age": person.age, "dry_run": dry_run}

    @framework.endpoint("/models", methods=["POST"])
    async def models(self, people: list[ItemModel] = Body()):
        return {"names": [p.name for p in people]}

    @framework.endpoint("/structs", methods=["POST"])
    async def structs(self, items: list[ItemStruct] = Body()):
        return {"names": [i.name for i in items]}

    @framework.endpoint("/optional", methods=["POST"])
    async def optional(self, item: ItemData | None = Body(None)):
        return {"item": None if item is None else item.name}


class Returns(framework.Blueprint):
    """Structured return values and response models."""

    prefix = "/out"

    @framework.endpoint("/struct")
    async def struct(self):
        return PublicUser(1, "ann")

    @framework.endpoint("/dataclass")
    async def dataclass_(self):
        return PublicPoint(1, 2)

    @framework.endpoint("/model")
    async def model(self):
        return ItemModel(name="bob", age=3)

    @framework.endpoint("/list")
    async def many(self):
        return [PublicUser(1, "a"), PublicUser(2, "b")]

    @framework.endpoint("/mixed")
    async def mixed(self):
        return {"user": PublicUser(3, "c"), "model": PublicModel(id=4), "point": PublicPoint(5, 6)}

    @framework.endpoint("/filtered", response_model=PublicUser)
    async def filtered(self):
        return {"id": 7, "name": "dee", "password": "secret"}

    @framework.endpoint("/annotated")
    async def annotated(self) -> list[PublicUser]:
        return [{"id": 8, "name": "eve", "password": "secret"}]  # type: ignore[list-item]

    @framework.endpoint("/pydantic-filtered", response_model=PublicModel)
    async def pydantic_filtered(self):
        return ItemModel(name="hidden", age=1).model_dump() | {"id": 9}

    @framework.endpoint("/created", methods=["POST"], response_model=PublicPoint)
    async def created(self):
        return {"x": 1, "y": 2, "z": 3}, 201

    @framework.endpoint("/wrong", response_model=PublicUser)
    async def wrong(self):
        return {"id": "not a number"}


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def set_request_id(request, call_next):  # type: ignore[no-untyped-def]
    REQUEST_ID.set(request.headers.get("x-request-id") or "none")
    return await call_next(request)


class Threads(framework.Blueprint):
    """Sync handlers run in the thread pool: three of them are inside at once."""

    prefix = "/threads"

    def __init__(self) -> None:
        self.barrier = threading.Barrier(3)

    @framework.endpoint("/together")
    def together(self, timeout: float = 5.0):
        # Passes only when three requests are in handlers at the same time; served
        # one after another, the first waits out the timeout and fails (a 500).
        self.barrier.wait(timeout=timeout)
        return {"thread": threading.current_thread() is not threading.main_thread()}

    @framework.endpoint("/context", middleware=[set_request_id])
    def context(self):
        return {"request_id": REQUEST_ID.get()}


class Sockets(framework.Blueprint):
    """A WebSocket endpoint with a typed query parameter."""

    @framework.websocket("/ws/double")
    async def double(self, ws: framework.WebSocket, n: int = Query()):
        await ws.accept()
        await ws.send_text(str(2 * n))


def build(**options: object) -> App:
    app = App(title="Typed", version="1.2.3", **options)  # type: ignore[arg-type]
    app.add_converter("hex", r"[0-9a-f]+")
    for blueprint in (Params(), Bodies(), Returns(), Threads(), Sockets()):
        app.add_blueprint(blueprint)
    return app


app = build(openapi_url="/openapi.json", docs_url="/docs")

# The same app with its own answer to validation errors.
custom = build()


@custom.exception_handler(RequestValidationError)
def _validation(request: object, exc: RequestValidationError) -> responses.Response:
    fields = [".".join(str(part) for part in e["loc"]) for e in exc.errors]
    return responses.JSONResponse({"invalid": fields}, status=400)
