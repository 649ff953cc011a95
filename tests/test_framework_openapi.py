"""The OpenAPI 3.1 document of pyre.framework apps (validated with
openapi-spec-validator), its update when an extension is loaded, reloaded and
unloaded, and the /openapi.json and /docs endpoints on a real Pyre server."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from pyre import framework
from pyre.framework import App, openapi, validation
from tests.apps import typed_app
from tests.support import serve


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return typed_app.build().openapi()


def operation(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    return document["paths"][path][method]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Typed", "version": "1.2.3"}
    validate(document)


def test_the_document_is_valid_without_msgspec(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dataclasses and TypedDicts then get our own schemas (Structs need msgspec).
    monkeypatch.setattr(openapi, "msgspec_module", lambda: None)
    monkeypatch.setattr(validation, "msgspec_module", lambda: None)

    class Plain(framework.Blueprint):
        @framework.endpoint("/orders", methods=["POST"])
        async def create(
            self, order: typed_app.ItemData, notify: bool = False
        ) -> list[typed_app.ItemData]:
            return [order]

        @framework.endpoint("/counts", methods=["POST"])
        async def counts(
            self, item: typed_app.ItemDict, size: typed_app.Size = typed_app.Size.SMALL
        ):
            return item

    app = App()
    app.add_blueprint(Plain())
    document = app.openapi()
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["ItemData"]["required"] == ["name", "quantity"]
    assert schemas["ItemDict"]["properties"]["count"] == {"type": "integer"}
    responses = operation(document, "/orders", "post")["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ItemData"},
    }


def test_path_parameters_from_converters_and_annotations() -> None:
    class Paths(framework.Blueprint):
        @framework.endpoint("/a/{n:int}/{x:float}/{u:uuid}/{h:hex}/{rest:path}")
        async def a(self, n: int, x: float, u: uuid.UUID, h: str, rest: str):
            return n

        @framework.endpoint("/b/{flag}")
        async def b(self, flag: bool):
            return flag

    app = App()
    app.add_converter("hex", r"[0-9a-f]+")
    app.add_blueprint(Paths())
    document = app.openapi()
    validate(document)
    schemas = {
        p["name"]: p["schema"]
        for p in operation(document, "/a/{n}/{x}/{u}/{h}/{rest}")["parameters"]
    }
    assert schemas["n"] == {"type": "integer"}
    assert schemas["x"] == {"type": "number"}
    assert schemas["u"] == {"type": "string", "format": "uuid"}
    assert schemas["h"] == {"type": "string", "pattern": "^(?:[0-9a-f]+)$"}
    assert schemas["rest"]["type"] == "string"
    (flag,) = operation(document, "/b/{flag}")["parameters"]
    assert flag == {"name": "flag", "in": "path", "required": True, "schema": {"type": "boolean"}}


def test_query_header_and_cookie_parameters(document: dict[str, Any]) -> None:
    required = {p["name"]: p for p in operation(document, "/params/required")["parameters"]}
    assert required["page"] == {
        "name": "page",
        "in": "query",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    }
    assert required["per"]["schema"] == {"type": "integer", "default": 10}
    listed = {p["name"]: p for p in operation(document, "/params/list")["parameters"]}
    assert listed["ids"]["schema"] == {"type": "array", "items": {"type": "integer"}, "default": []}
    assert "the-key" in listed
    headers = operation(document, "/params/headers")["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in headers] == [
        ("x-token", "header", True),
        ("user-agent", "header", False),
        ("session", "cookie", False),
        ("count", "cookie", False),
    ]
    query = {p["name"]: p for p in operation(document, "/params/query")["parameters"]}
    assert query["size"]["schema"]["default"] == "s"
    assert document["components"]["schemas"]["Size"]["enum"] == ["l", "s"]


def test_bodies_and_responses(document: dict[str, Any]) -> None:
    struct = operation(document, "/body/struct", "post")
    assert struct["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemStruct"}}},
    }
    assert "422" in struct["responses"]
    model = operation(document, "/body/model", "post")["requestBody"]
    assert model["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ItemModel"
    }
    schemas = document["components"]["schemas"]
    assert schemas["ItemModel"]["properties"]["age"]["maximum"] == 150
    assert schemas["ItemStruct"]["properties"]["price"]["minimum"] == 0
    assert operation(document, "/body/optional", "post")["requestBody"]["required"] is False
    filtered = operation(document, "/out/filtered")["responses"]["200"]
    assert filtered["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PublicUser"
    }
    annotated = operation(document, "/out/annotated")["responses"]["200"]
    assert annotated["content"]["application/json"]["schema"]["type"] == "array"
    # No typed parameters: no 422 documented.
    assert set(operation(document, "/out/struct")["responses"]) == {"200"}


def test_tags_summaries_and_operation_ids(document: dict[str, Any]) -> None:
    assert [t["name"] for t in document["tags"]] == ["Params", "Bodies", "Returns", "Threads"]
    assert document["tags"][0]["description"] == "Query, header and cookie parameters."
    query = operation(document, "/params/query")
    assert query["tags"] == ["Params"]
    assert query["summary"] == "Scalars from the query string."
    assert query["description"] == "Each has a default, so each is optional."
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"\w+", i) for i in ids)


def test_built_once_and_again_after_a_route_change() -> None:
    app = typed_app.build()
    first = app.openapi()
    assert app.openapi() is first

    class More(framework.Blueprint):
        @framework.endpoint("/more")
        async def more(self):
            return "more"

    more = More()
    app.add_blueprint(more)
    second = app.openapi()
    assert second is not first and "/more" in second["paths"]
    app.remove_blueprint(more)
    assert "/more" not in app.openapi()["paths"]


EXTENSION = '''
from pyre import framework


class Version{version}(framework.Blueprint):
    """Version {version} of the extension."""

    @framework.endpoint("/ext/v{version}")
    async def get(self, q: int = {version}):
        return q


def setup(app):
    app.add_blueprint(Version{version}())
'''


@pytest.fixture
def extension_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("typed_openapi_ext", None)


def test_the_document_follows_extension_load_reload_unload(extension_dir: Path) -> None:
    module = extension_dir / "typed_openapi_ext.py"
    app = App(openapi_url="/openapi.json")

    async def run() -> list[dict[str, Any]]:
        seen = [app.openapi()]
        module.write_text(EXTENSION.format(version=1))
        await app.load_extension("typed_openapi_ext")
        seen.append(app.openapi())
        module.write_text(EXTENSION.format(version=2))
        await app.reload_extension("typed_openapi_ext")
        seen.append(app.openapi())
        await app.unload_extension("typed_openapi_ext")
        seen.append(app.openapi())
        return seen

    before, loaded, reloaded, unloaded = asyncio.run(run())
    for document in (before, loaded, reloaded, unloaded):
        validate(document)
    assert before["paths"] == {} and unloaded["paths"] == {}
    assert list(loaded["paths"]) == ["/ext/v1"]
    assert loaded["tags"] == [{"name": "Version1", "description": "Version 1 of the extension."}]
    assert list(reloaded["paths"]) == ["/ext/v2"]
    (q,) = reloaded["paths"]["/ext/v2"]["get"]["parameters"]
    assert q["schema"] == {"type": "integer", "default": 2}


# ------------------------------------------------------------------- served


def test_openapi_json_and_docs_on_pyre(tmp_path: Path) -> None:
    with serve("tests.apps.typed_app:app", tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            served = http.get("/openapi.json")
            assert served.status_code == 200
            assert served.headers["content-type"] == "application/json"
            validate(served.json())
            assert "/openapi.json" not in served.json()["paths"]  # the app's own
            assert "/docs" not in served.json()["paths"]
            docs = http.get("/docs")
            assert docs.status_code == 200
            assert docs.headers["content-type"] == "text/html; charset=utf-8"
            page = docs.text
            assert 'data-openapi-url="/openapi.json"' in page
            assert "<title>Typed - API docs</title>" in page
            # Self-contained: no external script, style or font.
            assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
            assert "Try it" in page


def test_docs_are_off_by_default() -> None:
    app = typed_app.build()

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return [(await http.get(p)).status_code for p in ("/openapi.json", "/docs")]

    assert asyncio.run(run()) == [404, 404]
    assert app.openapi()["paths"]  # the document itself is always there


def test_the_docs_page_is_in_the_package() -> None:
    page = openapi.docs_page("/spec.json", "<T>")
    assert 'data-openapi-url="/spec.json"' in page
    assert "&lt;T&gt;" in page
