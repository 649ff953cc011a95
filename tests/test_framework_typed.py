"""Typed parameters, validated bodies, structured return values and the thread pool
of pyre.framework, on real servers: tests/apps/typed_app.py served by Pyre (PSGI) and
by uvicorn (ASGI), with the same expectations. Registration errors, the plain fast
path and the decoder used without msgspec need no server."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypedDict

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyre import framework
from pyre.framework import App, Body, Cookie, Query, RegistrationError, validation
from pyre.framework.routing import Endpoint
from tests.apps.typed_app import ItemModel, ItemStruct, Params
from tests.support import serve, serve_uvicorn

APP = "tests.apps.typed_app:app"


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp(f"typed-{request.param}")
    starter = serve if request.param == "pyre" else serve_uvicorn
    with starter(APP, tmp=tmp) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            yield http


# ------------------------------------------------------------------- good input


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "expected"),
    [
        ("GET", "/params/query", {}, {"q": 5, "flag": False, "size": "s", "name": None}),
        (
            "GET",
            "/params/query?q=9&flag=yes&size=l&name=zoe",
            {},
            {"q": 9, "flag": True, "size": "l", "name": "zoe"},
        ),
        ("GET", "/params/required?page=3", {}, {"page": 3, "per": 10}),
        ("GET", "/params/required?page=100&per=7", {}, {"page": 100, "per": 7}),
        ("GET", "/params/list?ids=1&ids=2&ids=-3", {}, {"ids": [1, 2, -3], "alias": "x"}),
        ("GET", "/params/list?the-key=k", {}, {"ids": [], "alias": "k"}),
        (
            "GET",
            "/params/headers",
            {"headers": {"x-token": "t", "user-agent": "ua", "cookie": "session=s; count=3"}},
            {"x_token": "t", "user_agent": "ua", "session": "s", "n": 3},
        ),
        ("GET", "/params/user/4?verbose=1", {}, {"user_id": 4, "verbose": True}),
        (
            "POST",
            "/body/struct",
            {"json": {"name": "pen", "price": 1.5}},
            {"name": "pen", "price": 1.5, "tags": []},
        ),
        (
            "POST",
            "/body/dataclass",
            {"json": {"name": "cup", "quantity": 2}},
            {"name": "cup", "quantity": 2, "type": "ItemData"},
        ),
        (
            "POST",
            "/body/typeddict",
            {"json": {"name": "a", "count": 1}},
            {"item": {"name": "a", "count": 1}},
        ),
        (
            "POST",
            "/body/model?dry_run=true",
            {"json": {"name": "ann", "age": 42}},
            {"name": "ann", "age": 42, "dry_run": True},
        ),
        ("POST", "/body/models", {"json": [{"name": "a", "age": 1}]}, {"names": ["a"]}),
        ("POST", "/body/structs", {"json": [{"name": "b", "price": 0}]}, {"names": ["b"]}),
        ("POST", "/body/optional", {}, {"item": None}),
        ("POST", "/body/optional", {"json": {"name": "n", "quantity": 1}}, {"item": "n"}),
    ],
)
def test_bound_parameters(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, Any], expected: Any
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == 200, response.text
    assert response.json() == expected


# -------------------------------------------------------------------- bad input

STRUCT, MODEL, DATACLASS = "/body/struct", "/body/model", "/body/dataclass"
BAD_INPUT = [
    # (id, method, path, kwargs, a loc the 422 must name)
    ("query-wrong-type", "GET", "/params/query?q=nine", {}, ["query", "q"]),
    ("query-float-for-int", "GET", "/params/query?q=1.5", {}, ["query", "q"]),
    ("query-bad-bool", "GET", "/params/query?flag=maybe", {}, ["query", "flag"]),
    ("query-bad-enum", "GET", "/params/query?size=xl", {}, ["query", "size"]),
    ("query-missing", "GET", "/params/required", {}, ["query", "page"]),
    ("query-below-range", "GET", "/params/required?page=0", {}, ["query", "page"]),
    ("query-above-range", "GET", "/params/required?page=101", {}, ["query", "page"]),
    ("query-list-item", "GET", "/params/list?ids=1&ids=x", {}, ["query", "ids"]),
    ("header-missing", "GET", "/params/headers", {}, ["header", "x-token"]),
    (
        "cookie-wrong-type",
        "GET",
        "/params/headers",
        {"headers": {"x-token": "t", "cookie": "count=many"}},
        ["cookie", "count"],
    ),
    ("struct-malformed", "POST", STRUCT, {"content": b'{"name": "a"'}, ["body"]),
    ("struct-wrong-type", "POST", STRUCT, {"json": {"name": 1, "price": 1}}, ["body", "name"]),
    ("struct-missing-field", "POST", STRUCT, {"json": {"price": 1}}, ["body", "name"]),
    ("struct-out-of-range", "POST", STRUCT, {"json": {"name": "a", "price": -1}},
     ["body", "price"]),
    ("struct-empty-body", "POST", STRUCT, {}, ["body"]),
    ("struct-bad-utf8", "POST", STRUCT, {"content": b'{"name": "\xff", "price": 1}'}, ["body"]),
    ("struct-empty-object", "POST", STRUCT, {"json": {}}, ["body", "name"]),
    ("struct-array", "POST", STRUCT, {"json": [1]}, ["body"]),
    ("struct-nested-item", "POST", STRUCT, {"json": {"name": "a", "price": 1, "tags": [1]}},
     ["body", "tags", 0]),
    ("dataclass-wrong-type", "POST", DATACLASS, {"json": {"name": "a", "quantity": "x"}},
     ["body", "quantity"]),
    ("dataclass-empty-object", "POST", DATACLASS, {"json": {}}, ["body", "name"]),
    ("dataclass-array", "POST", DATACLASS, {"json": [1]}, ["body"]),
    ("typeddict-missing", "POST", "/body/typeddict", {"json": {"name": "a"}}, ["body", "count"]),
    ("model-malformed", "POST", MODEL, {"content": b"{nope"}, ["body"]),
    ("model-wrong-type", "POST", MODEL, {"json": {"name": "a", "age": "old"}}, ["body", "age"]),
    ("model-missing", "POST", MODEL, {"json": {"name": "a"}}, ["body", "age"]),
    ("model-out-of-range", "POST", MODEL, {"json": {"name": "a", "age": 200}}, ["body", "age"]),
    ("model-empty-body", "POST", MODEL, {}, ["body"]),
    ("model-bad-utf8", "POST", MODEL, {"content": b'{"name": "\xff", "age": 1}'}, ["body"]),
    ("model-empty-object", "POST", MODEL, {"json": {}}, ["body", "name"]),
    ("model-array", "POST", MODEL, {"json": [1]}, ["body"]),
    ("models-item", "POST", "/body/models", {"json": [{"name": "a", "age": 1}, {"name": "b"}]},
     ["body", 1, "age"]),
    ("structs-item", "POST", "/body/structs", {"json": [{"name": "a", "price": 1}, {"price": 1}]},
     ["body", 1, "name"]),
    ("model-and-query", "POST", MODEL + "?dry_run=perhaps", {"json": {"name": "a", "age": 1}},
     ["query", "dry_run"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "loc"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_422_naming_the_field(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, Any], loc: list[Any]
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["detail"]
    assert loc in [e["loc"] for e in errors], errors
    for entry in errors:
        assert entry["msg"] and entry["type"]


def test_every_failing_field_is_named(client: httpx.Client) -> None:
    response = client.post("/body/model?dry_run=perhaps", json={"age": -1})
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert locs == [["query", "dry_run"], ["body", "name"], ["body", "age"]]


def test_a_failing_text_value_is_quoted(client: httpx.Client) -> None:
    (entry,) = client.get("/params/required?page=500").json()["detail"]
    assert entry == {
        "type": "less_than_equal",
        "loc": ["query", "page"],
        "msg": "Input should be <= 100",
        "input": "500",
    }


def test_a_large_invalid_value_is_not_echoed_whole(client: httpx.Client) -> None:
    response = client.post("/body/model", json={"name": "a", "age": "9" * 5000 + "x"})
    assert response.status_code == 422
    assert len(response.content) < 1000


def test_validation_errors_go_through_exception_handlers() -> None:
    from tests.apps.typed_app import custom

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=custom)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.post("/body/model?dry_run=x", json={"name": "a"})

    response = asyncio.run(run())
    assert response.status_code == 400
    assert response.json() == {"invalid": ["query.dry_run", "body.age"]}


def test_a_websocket_with_bad_query_is_denied_with_422(client: httpx.Client) -> None:
    upgrade = {
        "connection": "upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    response = client.get("/ws/double?n=x", headers=upgrade)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "n"]


# ---------------------------------------------------------------- return values


@pytest.mark.parametrize(
    ("method", "path", "status", "expected"),
    [
        ("GET", "/out/struct", 200, {"id": 1, "name": "ann"}),
        ("GET", "/out/dataclass", 200, {"x": 1, "y": 2}),
        ("GET", "/out/model", 200, {"name": "bob", "age": 3}),
        ("GET", "/out/list", 200, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]),
        (
            "GET",
            "/out/mixed",
            200,
            {"user": {"id": 3, "name": "c"}, "model": {"id": 4}, "point": {"x": 5, "y": 6}},
        ),
        # A response model drops what it does not declare.
        ("GET", "/out/filtered", 200, {"id": 7, "name": "dee"}),
        ("GET", "/out/annotated", 200, [{"id": 8, "name": "eve"}]),
        ("GET", "/out/pydantic-filtered", 200, {"id": 9}),
        ("POST", "/out/created", 201, {"x": 1, "y": 2}),
    ],
)
def test_structured_return_values(
    client: httpx.Client, method: str, path: str, status: int, expected: Any
) -> None:
    response = client.request(method, path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected


def test_a_value_the_response_model_does_not_describe_is_500(client: httpx.Client) -> None:
    response = client.get("/out/wrong")
    assert response.status_code == 500
    assert "not a number" not in response.text


# ------------------------------------------------------------------ thread pool


def test_sync_handlers_run_in_parallel_threads(client: httpx.Client) -> None:
    # Each request waits on a barrier of three: it passes only if all three handlers
    # are inside at once (served one after another, the barrier times out: 500).
    base = str(client.base_url)

    def one(_: int) -> httpx.Response:
        return httpx.get(f"{base}/threads/together?timeout=5", timeout=15)

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(one, range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    assert all(r.json() == {"thread": True} for r in responses)


def test_sync_handlers_see_the_requests_contextvars(client: httpx.Client) -> None:
    response = client.get("/threads/context", headers={"x-request-id": "abc"})
    assert response.json() == {"request_id": "abc"}


# ------------------------------------------------- registration, no server needed


@dataclasses.dataclass
class Point:
    x: int


class Unsupported:
    pass


def _blueprint(handler: Any, template: str = "/x", methods: tuple[str, ...] = ("GET",)) -> Any:
    class Bad(framework.Blueprint):
        pass

    Bad.bad = framework.endpoint(template, methods=methods)(handler)  # type: ignore[attr-defined]
    return Bad()


async def _default_dict(self: Any, options: dict = {}):  # type: ignore[type-arg]  # noqa: B006
    return options


async def _two_bodies(self: Any, a: Point, b: Point):
    return a


async def _cookie_list(self: Any, c: list[str] = Cookie([])):
    return c


async def _class_query(self: Any, u: Unsupported = Query()):
    return u


async def _class_body(self: Any, u: Unsupported = Body()):
    return u


async def _typo(self: Any, user_idd: int):
    return user_idd


@pytest.mark.parametrize(
    ("handler", "template", "message"),
    [
        (_default_dict, "/x", r"Bad\.bad .*'options' is annotated dict"),
        (_two_bodies, "/x", r"Bad\.bad .*'a' and 'b' both want the body"),
        (_cookie_list, "/x", r"Bad\.bad .*'c': a cookie holds one value"),
        (_class_query, "/x", r"Bad\.bad .*'u' is annotated Unsupported"),
        (_class_body, "/x", r"Bad\.bad .*'u'"),
        (_typo, "/x/{user_id}", r"Bad\.bad .*'user_idd' is neither a path parameter"),
    ],
    ids=["dict-default", "two-bodies", "cookie-list", "class-query", "class-body", "typo"],
)
def test_unbindable_parameters_are_refused(handler: Any, template: str, message: str) -> None:
    app = App()
    with pytest.raises(RegistrationError, match=message):
        app.add_blueprint(_blueprint(handler, template))
    assert app.blueprints == []


def test_a_websocket_has_no_body() -> None:
    class Bad(framework.Blueprint):
        @framework.websocket("/ws")
        async def bad(self, ws: framework.WebSocket, item: Point):
            pass

    with pytest.raises(RegistrationError, match=r"Bad\.bad .*'item': a WebSocket has no body"):
        App().add_blueprint(Bad())


def test_a_parameter_with_a_default_is_never_ignored() -> None:
    class Good(framework.Blueprint):
        @framework.endpoint("/x")
        async def good(self, q=5, name="x"):  # type: ignore[no-untyped-def]
            return q

    app = App()
    app.add_blueprint(Good())
    (endpoint,) = app._table.endpoints
    assert [(b.name, b.location, b.annotation) for b in endpoint.plan.params] == [
        ("q", "query", int),
        ("name", "query", str),
    ]


def test_path_only_handlers_keep_the_plain_invoker() -> None:
    class Plain(framework.Blueprint):
        @framework.endpoint("/a/{n:int}")
        async def a(self, n: int, request: framework.Request):
            return {"n": n}

        @framework.endpoint("/b")
        async def b(self, q: int = 1):
            return q

    app = App()
    app.add_blueprint(Plain())
    plain, typed = app._table.endpoints
    assert "invoke" not in vars(plain)  # Endpoint.invoke, unchanged
    assert plain.invoke.__func__ is Endpoint.invoke  # type: ignore[attr-defined]
    assert not plain.plan
    assert "invoke" in vars(typed)


# ------------------------------------------------------- without msgspec installed


class Record(TypedDict):
    name: str
    tags: list[int]


@dataclasses.dataclass
class Order:
    id: int
    record: Record
    note: str | None = None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b"", ["body"]),
        (b"{", ["body"]),
        (b"\xff", ["body"]),
        (b"[1]", ["body"]),
        (b"{}", ["body", "id"]),
        (b'{"id": "1", "record": {"name": "a", "tags": []}}', ["body", "id"]),
        (b'{"id": true, "record": {"name": "a", "tags": []}}', ["body", "id"]),
        (b'{"id": 1, "record": {"name": "a"}}', ["body", "record", "tags"]),
        (b'{"id": 1, "record": {"name": "a", "tags": [1, "x"]}}', ["body", "record", "tags", 1]),
        (b'{"id": 1, "record": {"name": "a", "tags": []}, "note": 3}', ["body", "note"]),
    ],
)
def test_the_fallback_decoder(body: bytes, loc: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "msgspec_module", lambda: None)
    decode = validation.body_decoder(Order)
    with pytest.raises(validation.RequestValidationError) as caught:
        decode(body)
    assert [e["loc"] for e in caught.value.errors] == [loc]


def test_the_fallback_decoder_builds_the_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "msgspec_module", lambda: None)
    decode = validation.body_decoder(Order)
    order = decode(b'{"id": 1, "record": {"name": "a", "tags": [2]}}')
    assert order == Order(1, {"name": "a", "tags": [2]})


def test_the_typed_example_app(tmp_path: Path) -> None:
    with serve("examples.typed_api:app", tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            created = http.post("/items", json={"name": "pen", "price": 2.5})
            assert created.status_code == 201, created.text
            assert created.json() == {"id": 1, "name": "pen", "price": 2.5, "tags": []}
            assert http.get("/items?limit=5").json() == [created.json()]
            bad = http.post("/items", json={"name": "pen", "price": -1})
            assert bad.status_code == 422
            assert bad.json()["detail"][0]["loc"] == ["body", "price"]
            assert http.get("/openapi.json").json()["info"]["title"] == "Items"
            assert http.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b"", b"a=1&a=2&b", b"x=%C3%A9+y&&c=", b"k%20ey=v=w", b"=v", b"a=%zz", b"\xe9=\xe9", b"&&"],
)
def test_the_query_is_read_as_request_query_reads_it(raw: bytes) -> None:
    from urllib.parse import parse_qsl

    from pyre.framework.params import parse_query

    expected: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        expected.setdefault(key, []).append(value)
    assert parse_query(raw) == expected


# ---------------------------------------------------------------------- fuzz


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.sampled_from([b"{}", b"[1]", b"null", b'{"name": 1}']))
def test_fuzz_body_decoders_only_raise_validation_errors(body: bytes) -> None:
    for model in (ItemStruct, Order, ItemModel):
        try:
            validation.body_decoder(model)(body)
        except validation.RequestValidationError as exc:
            assert exc.errors and all(e["loc"][0] == "body" for e in exc.errors)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_query_binding_only_raises_validation_errors(raw: bytes) -> None:
    app = App()
    app.add_blueprint(Params())
    plans = [e.plan for e in app._table.endpoints]

    class Fake:
        query_string = raw
        headers = httpx.Headers({"x-token": "t"})
        cookies: ClassVar[dict[str, str]] = {}

    for plan in plans:
        try:
            asyncio.run(plan.bind(Fake(), {}))
        except validation.RequestValidationError as exc:
            assert all(e["loc"][0] == "query" for e in exc.errors)


def test_response_models_without_msgspec(monkeypatch: pytest.MonkeyPatch) -> None:
    import orjson

    from pyre.framework import serialization
    from tests.apps.typed_app import ItemDict, PublicPoint

    monkeypatch.setattr(serialization, "msgspec_module", lambda: None)
    point = serialization.response_encoder(PublicPoint)
    assert orjson.loads(point({"x": 1, "y": 2, "z": 3})) == {"x": 1, "y": 2}
    assert orjson.loads(point(PublicPoint(3, 4))) == {"x": 3, "y": 4}
    many = serialization.response_encoder(list[ItemDict])
    rows = [{"name": "a", "count": 1, "secret": "s"}]
    assert orjson.loads(many(rows)) == [{"name": "a", "count": 1}]
    with pytest.raises(serialization.ResponseValidationError):
        point(object())
