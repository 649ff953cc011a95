"""pyre.framework on real servers: the same app (tests/apps/framework_app.py) served
by Pyre (over PSGI, picked automatically) and by uvicorn (over ASGI), with the same
expectations; plus registration errors and route-table changes, which need no
server."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyre import framework
from pyre._psgi import is_psgi
from pyre.framework import App, RegistrationError
from tests.support import ServerProcess, serve, serve_uvicorn

APP = "tests.apps.framework_app:app"


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp(f"framework-{request.param}")
    starter = serve if request.param == "pyre" else serve_uvicorn
    with starter(APP, tmp=tmp) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            http.server = server  # type: ignore[attr-defined]
            yield http


def server_of(client: httpx.Client) -> ServerProcess:
    return client.server  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the example


def test_example_get(client: httpx.Client) -> None:
    response = client.get("/hello/World")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_example_post(client: httpx.Client) -> None:
    response = client.post("/hello/Ann", json={"age": 42})
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Ann! You are aged: 42"}


def test_an_app_speaks_psgi_so_pyre_picks_it() -> None:
    # --interface auto picks PSGI for objects with __psgi__ (tests/test_psgi.py shows
    # the choice on a live server); the App also stays an ASGI callable.
    app = App()
    assert is_psgi(app)
    assert callable(app)


def test_pyre_also_serves_the_app_over_asgi(tmp_path: Path) -> None:
    with serve(APP, "--interface", "asgi", tmp=tmp_path) as server:
        assert httpx.get(f"{server.url}/hello/x").text == "Hello, x!"
        assert httpx.get(f"{server.url}/conv/int/3").json() == {"value": 3, "type": "int"}


# ------------------------------------------------------------------ converters


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/conv/int/42", {"value": 42, "type": "int"}),
        ("/conv/int/-7", {"value": -7, "type": "int"}),
        ("/conv/float/2.5", {"value": 2.5, "type": "float"}),
        ("/conv/float/-3", {"value": -3.0, "type": "float"}),
        (
            "/conv/uuid/12345678-1234-5678-1234-567812345678",
            {"value": "12345678-1234-5678-1234-567812345678", "type": "UUID"},
        ),
        ("/conv/files/a/b/c.txt", {"value": "a/b/c.txt"}),
        ("/conv/str/x", {"value": "x"}),
        ("/conv/hex/beef", {"value": "beef", "route": "hex"}),
        ("/conv/even/4", {"value": 4, "route": "even"}),
        ("/conv/even/5", {"value": "5", "route": "fallback"}),
    ],
)
def test_converters(client: httpx.Client, path: str, expected: dict[str, Any]) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    "path",
    ["/conv/int/4x", "/conv/int/", "/conv/float/1.", "/conv/uuid/not-a-uuid", "/conv/hex/xyz"],
)
def test_converter_mismatch_is_404(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/conv/pick/me", "static"),
        ("/conv/pick/12", "int"),
        ("/conv/pick/bob", "string"),
        ("/conv/pick/a/b", "path"),
    ],
)
def test_static_beats_typed_beats_string_beats_path(
    client: httpx.Client, path: str, route: str
) -> None:
    assert client.get(path).json()["route"] == route


@pytest.mark.parametrize(
    ("path", "value", "kind"),
    [
        ("/ann/int/12", 12, "int"),
        ("/ann/float/1.5", 1.5, "float"),
        ("/ann/bool/yes", True, "bool"),
        ("/ann/bool/0", False, "bool"),
        ("/ann/str/hi", "hi", "str"),
        (
            "/ann/uuid/12345678123456781234567812345678",
            str(uuid.UUID("12345678123456781234567812345678")),
            "UUID",
        ),
        ("/ann/decimal/1.10", "1.10", "Decimal"),
        ("/ann/date/2026-11-22", "2026-11-22", "date"),
        ("/ann/datetime/2026-11-22T10:30:00", "2026-11-22T10:30:00", "datetime"),
        ("/ann/enum/red", "red", "Color"),
    ],
)
def test_annotation_conversion(client: httpx.Client, path: str, value: Any, kind: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == {"value": value, "type": kind}


@pytest.mark.parametrize(
    "path",
    ["/ann/int/x", "/ann/bool/maybe", "/ann/date/2026-13-01", "/ann/enum/green", "/ann/decimal/z"],
)
def test_annotation_conversion_failure_is_404(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 404


# ---------------------------------------------------------------- 404 / 405 / HEAD


def test_404(client: httpx.Client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.text == "Not Found"
    json_404 = client.get("/nowhere", headers={"accept": "application/json"})
    assert json_404.json() == {"detail": "Not Found"}


def test_405_lists_allowed_methods(client: httpx.Client) -> None:
    response = client.put("/hello/x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_head_is_served_by_get(client: httpx.Client) -> None:
    response = client.head("/hello/x")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len("Hello, x!"))


def test_trailing_slash_redirect(client: httpx.Client) -> None:
    response = client.get("/ret/str/?q=1")
    assert response.status_code == 308
    assert response.headers["location"] == "/ret/str?q=1"


# ------------------------------------------------------------------ middleware


def test_middleware_order(client: httpx.Client) -> None:
    response = client.get("/trail")
    assert response.json() == {"trail": ["global", "blueprint", "endpoint", "handler"]}
    assert response.headers["x-trail"] == "global,blueprint,endpoint,handler,global-out"


def test_global_middleware_sees_404s(client: httpx.Client) -> None:
    assert client.get("/nowhere").headers["x-trail"] == "global,global-out"


def test_endpoint_middleware_can_refuse(client: httpx.Client) -> None:
    assert client.get("/guarded").status_code == 403
    assert client.get("/guarded", headers={"x-let-in": "yes"}).text == "in"


# ------------------------------------------------------------- return values


@pytest.mark.parametrize(
    ("path", "status", "content_type", "body"),
    [
        ("/ret/str", 200, "text/plain; charset=utf-8", b"text"),
        ("/ret/dict", 200, "application/json", b'{"a":1}'),
        ("/ret/list", 200, "application/json", b"[1,2]"),
        ("/ret/bytes", 200, "application/octet-stream", b"\x00\x01"),
        ("/ret/tuple", 201, "text/plain; charset=utf-8", b"created"),
        ("/ret/html", 200, "text/html; charset=utf-8", b"<p>hi</p>"),
        ("/ret/sync", 200, "text/plain; charset=utf-8", b"sync handler"),
    ],
)
def test_return_values(
    client: httpx.Client, path: str, status: int, content_type: str, body: bytes
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert response.content == body


def test_none_is_204(client: httpx.Client) -> None:
    response = client.delete("/ret/none")
    assert response.status_code == 204
    assert response.content == b""


def test_three_tuple_sets_headers(client: httpx.Client) -> None:
    response = client.get("/ret/tuple3")
    assert response.status_code == 202
    assert response.headers["x-extra"] == "1"
    assert response.json() == {"ok": True}


def test_async_iterator_streams(client: httpx.Client) -> None:
    response = client.get("/ret/stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text == "piece 0\npiece 1\npiece 2\n"


def test_sync_iterator_streams(client: httpx.Client) -> None:
    response = client.get("/ret/syncstream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text == "sync 0\nsync 1\nsync 2\n"


def test_debug_mode_shows_the_traceback(tmp_path: Path) -> None:
    with serve("tests.apps.framework_app:debug_app", tmp=tmp_path) as server:
        response = httpx.get(f"{server.url}/crash")
    assert response.status_code == 500
    assert "Traceback (most recent call last)" in response.text
    assert "RuntimeError: secret internals" in response.text


def test_redirect(client: httpx.Client) -> None:
    response = client.get("/ret/redirect")
    assert response.status_code == 307
    assert response.headers["location"] == "/ret/str"


# ---------------------------------------------------------------------- errors


def test_http_exception(client: httpx.Client) -> None:
    response = client.get("/teapot")
    assert response.status_code == 418
    assert response.text == "short and stout"


def test_exception_handler(client: httpx.Client) -> None:
    response = client.get("/custom-error")
    assert response.status_code == 410
    assert response.json() == {"error": "gone fishing"}


def test_unhandled_error_is_500_without_traceback(client: httpx.Client) -> None:
    response = client.get("/crash")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert "secret internals" not in response.text
    # Logged (the log line may follow the response by a moment), not leaked.
    deadline = time.monotonic() + 5
    while "secret internals" not in server_of(client).log:
        assert time.monotonic() < deadline, server_of(client).log[-2000:]
        time.sleep(0.05)


# --------------------------------------------------------------------- request


def test_request_attributes(client: httpx.Client) -> None:
    response = client.post(
        "/request/thing?a=1&a=2",
        content=b"payload",
        headers={"x-thing": "yes", "cookie": 'sid=abc; theme="dark"'},
    )
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/request/thing"
    assert seen["url"].endswith("/request/thing?a=1&a=2")
    assert seen["query_a"] == "1"
    assert seen["query_all_a"] == ["1", "2"]
    assert seen["header"] == "yes"
    assert seen["cookies"] == {"sid": "abc", "theme": "dark"}
    assert seen["client_is_tuple"] is True
    assert seen["path_params"] == {"item": "thing"}
    assert seen["app_is_app"] is True
    assert seen["body"] == seen["text"] == "payload"


def test_streamed_request_body(client: httpx.Client) -> None:
    body = bytes(3 * 1024 * 1024)
    report = client.post("/stream-upload", content=body).json()
    assert report["total"] == len(body)
    assert report["pieces"] > 1


def test_url_for(client: httpx.Client) -> None:
    assert client.get("/url").json() == {
        "hello": "/hello/a%20b",
        "file": "/conv/files/x/y%20z",
        "named": "/named/-5",
    }


# ------------------------------------------------- registration, no server needed


class Good(framework.Blueprint):
    @framework.endpoint("/a/{n:int}")
    async def a(self, n: int):
        return n


def test_duplicate_route_and_method_is_refused() -> None:
    class Twin(framework.Blueprint):
        @framework.endpoint("/a/{m:int}")
        async def twin(self, m: int):
            return m

    app = App()
    app.add_blueprint(Good())
    with pytest.raises(RegistrationError, match=r"Twin\.twin .*already served by Good\.a"):
        app.add_blueprint(Twin())
    assert app.blueprints == [app.blueprints[0]]  # unchanged


def test_unknown_converter_is_refused() -> None:
    class Bad(framework.Blueprint):
        @framework.endpoint("/x/{v:nope}")
        async def bad(self, v: str):
            return v

    with pytest.raises(RegistrationError, match=r"Bad\.bad .*unknown converter 'nope'"):
        App().add_blueprint(Bad())


def test_unfillable_parameter_is_refused() -> None:
    class Bad(framework.Blueprint):
        @framework.endpoint("/x")
        async def bad(self, missing: int):
            return missing

    with pytest.raises(RegistrationError, match=r"Bad\.bad .*'missing'"):
        App().add_blueprint(Bad())


def test_converter_annotation_disagreement_is_refused() -> None:
    class Bad(framework.Blueprint):
        @framework.endpoint("/x/{v:int}")
        async def bad(self, v: str):
            return v

    with pytest.raises(RegistrationError, match=r"Bad\.bad .*annotated str .*'int'"):
        App().add_blueprint(Bad())


def test_remove_blueprint_and_table_swap() -> None:
    app = App()
    good = Good()
    app.add_blueprint(good)
    old = app._table
    app.remove_blueprint(good)
    assert app._table is not old
    assert old.router.resolve("GET", "/a/1") is not None  # a request in flight keeps it
    assert app._table.router.resolve("GET", "/a/1") is None
    with pytest.raises(KeyError):
        app.remove_blueprint(good)


def test_the_framework_example_app(tmp_path: Path) -> None:
    with serve("examples.framework_app.main:app", tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/hello/World").text == "Hello, World!"
            posted = client.post("/hello/Ann", json={"age": 42})
            assert posted.json() == {"message": "Hello, Ann! You are aged: 42"}
            assert "x-elapsed-ms" in posted.headers
            client.post("/account/login/ann")
            assert client.get("/account/me").json() == {"user": "ann"}
            assert client.post("/account/logout").status_code == 204
            assert client.get("/account/me").json() == {"user": None}
            reloaded = client.post("/admin/reload/blueprint")
            assert reloaded.json() == {
                "extensions": [
                    "examples.framework_app.accounts",
                    "examples.framework_app.blueprint",
                ]
            }
            assert client.get("/hello/again").text == "Hello, again!"
            assert client.post("/admin/unload/blueprint").status_code == 200
            assert client.get("/hello/World").status_code == 404


# ------------------------------------------------------------------------- forms


def test_urlencoded_form(client: httpx.Client) -> None:
    response = client.post("/form", data={"a": ["1", "2"], "name": "zoë & co"})
    assert response.json() == {"a": ["1", "2"], "name": ["zoë & co"]}


def test_multipart_form_with_files(client: httpx.Client) -> None:
    small = b"hello file"
    big = os.urandom(3 * 1024 * 1024 + 5)  # spooled to disk
    response = client.post(
        "/form",
        data={"title": "report", "tags": ["x", "y"]},
        files=[
            ("doc", ("notes.txt", small, "text/plain")),
            ("doc", ("blob.bin", big, "application/octet-stream")),
        ],
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["title"] == ["report"]
    assert seen["tags"] == ["x", "y"]
    assert seen["doc"] == [
        {
            "filename": "notes.txt",
            "content_type": "text/plain",
            "size": len(small),
            "sha256": hashlib.sha256(small).hexdigest(),
        },
        {
            "filename": "blob.bin",
            "content_type": "application/octet-stream",
            "size": len(big),
            "sha256": hashlib.sha256(big).hexdigest(),
        },
    ]


@pytest.mark.parametrize(
    ("query", "kwargs", "status"),
    [
        ("?max_fields=2", {"data": {"a": "1", "b": "2", "c": "3"}}, 400),
        ("?max_fields=2", {"data": {"a": "1"}, "files": {"f": ("f", b"x")}, "extra": 2}, 400),
        ("?max_files=1", {"files": [("f", ("a", b"1")), ("f", ("b", b"2"))]}, 400),
        ("?max_part_size=10", {"data": {"a": "x" * 11}, "files": {"f": ("f", b"x")}}, 413),
        ("", {"content": b"not a form", "headers": {"content-type": "text/plain"}}, 415),
        (
            "",
            {
                "content": b"--b\r\nno-disposition: x\r\n\r\nv\r\n--b--\r\n",
                "headers": {"content-type": "multipart/form-data; boundary=b"},
            },
            400,
        ),
    ],
    ids=[
        "too-many-fields",
        "too-many-fields-multipart",
        "too-many-files",
        "field-too-large",
        "not-a-form",
        "no-disposition",
    ],
)
def test_form_limits_and_errors(
    client: httpx.Client, query: str, kwargs: dict[str, Any], status: int
) -> None:
    extra = kwargs.pop("extra", 0)
    if extra:
        kwargs["data"] = {**kwargs["data"], **{f"x{i}": "v" for i in range(extra)}}
    assert client.post("/form" + query, **kwargs).status_code == status
