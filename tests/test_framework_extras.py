"""Body limits (413, not 500), background tasks (after the response), a mounted
Starlette app, server-sent events and Jinja2 templates, over a real socket
(tests/apps/framework_extras_app.py on Pyre, and on uvicorn for the ASGI path)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyre.framework.sse import ServerSentEvent, encode_event
from tests.support import ServerProcess, serve, serve_uvicorn
from tests.test_framework_static import make_tree

APP = "tests.apps.framework_extras_app:app"
LIMIT = 64 * 1024  # the app's max_body_size


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp(f"extras-{request.param}")
    make_tree(base)
    os.environ["PYRE_TEST_ROOT"] = str(base)
    try:
        starter = serve if request.param == "pyre" else serve_uvicorn
        with starter(APP, tmp=base) as running:
            yield running
    finally:
        os.environ.pop("PYRE_TEST_ROOT", None)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


# -- body limits ------------------------------------------------------------------------


def chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    """A body without Content-Length (chunked): the limit is found while reading."""
    sent = 0
    while sent < total:
        piece = b"x" * min(size, total - sent)
        sent += len(piece)
        yield piece


@pytest.mark.parametrize("path", ["/echo/bytes", "/echo/json"])
def test_bodies_over_the_limit_are_413(client: httpx.Client, path: str) -> None:
    declared = client.post(path, content=b"x" * (LIMIT + 1))
    assert declared.status_code == 413
    assert declared.headers["x-handled"] == "yes"
    streamed = client.post(path, content=chunks(LIMIT + 1))
    assert streamed.status_code == 413


def test_bodies_within_the_limit_are_read(client: httpx.Client) -> None:
    assert client.post("/echo/bytes", content=b"x" * LIMIT).json() == {"size": LIMIT}
    assert client.post("/echo/bytes", content=chunks(LIMIT)).json() == {"size": LIMIT}
    body = json.dumps({"a": "y" * 1000, "b": 1}).encode()
    assert client.post("/echo/json", content=body).json() == {"keys": ["a", "b"]}


def test_streaming_is_not_limited_by_max_body_size(client: httpx.Client) -> None:
    size = LIMIT * 4
    assert client.post("/echo/stream", content=chunks(size)).json() == {"size": size}


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b""])
def test_malformed_json_is_400(client: httpx.Client, body: bytes) -> None:
    response = client.post("/echo/json", content=body)
    assert response.status_code == 400
    assert response.headers["x-handled"] == "yes"


def test_urlencoded_limits(client: httpx.Client) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    ok = client.post("/echo/form", content=b"a=" + b"y" * 100 + b"&b=2", headers=form)
    assert ok.json() == {"a": 100, "b": 1}
    # One field over max_part_size (the per-field limit the docs promise): 413.
    field = client.post(
        "/echo/form", params={"max_part_size": 50}, content=b"a=" + b"y" * 51, headers=form
    )
    assert field.status_code == 413
    assert "'a'" in field.json()["detail"]
    # The whole body over the app's max_body_size: 413 too.
    whole = client.post("/echo/form", content=b"a=" + b"y" * LIMIT, headers=form)
    assert whole.status_code == 413
    # Over max_fields: 400.
    many = client.post("/echo/form", params={"max_fields": 2}, content=b"a=1&b=2&c=3", headers=form)
    assert many.status_code == 400


def test_multipart_files_are_not_bound_by_max_body_size(client: httpx.Client) -> None:
    upload = b"z" * (LIMIT * 2)
    response = client.post("/echo/form", files={"f": ("f.bin", upload)}, data={"t": "abc"})
    assert response.json() == {"f": len(upload), "t": 3}
    too_big = client.post("/echo/form", params={"max_size": LIMIT}, files={"f": ("f.bin", upload)})
    assert too_big.status_code == 413


# -- background tasks -------------------------------------------------------------------


def wait_for_state(client: httpx.Client, wanted: str) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = client.get("/bg/state").json()["done"]
        if wanted in done:
            return done
        time.sleep(0.02)
    raise AssertionError(f"{wanted} never done: {done}")


@pytest.mark.parametrize(("path", "tag"), [("/bg", "param"), ("/bg/response", "attr")])
def test_the_response_arrives_before_the_task_completes(
    server: ServerProcess, path: str, tag: str
) -> None:
    # The task waits until /bg/release is called, which is only called once the
    # response arrived: had the response waited for the task, this would time out.
    with httpx.Client(base_url=server.url, timeout=10) as first:
        response = first.get(path)
        assert response.status_code == 200
    with httpx.Client(base_url=server.url, timeout=10) as second:
        before = second.get("/bg/state").json()["done"]
        count = before.count(tag)
        assert second.post("/bg/release").json() == {"released": True}
        deadline = time.monotonic() + 10
        while second.get("/bg/state").json()["done"].count(tag) == count:
            assert time.monotonic() < deadline, "the background task never ran"
            time.sleep(0.02)
        if tag == "param":
            # Tasks run in order: the sync one after the awaited one.
            done = wait_for_state(second, "sync")
            assert done.index("param") < done.index("sync")


def test_a_failing_task_is_logged_and_the_next_runs(
    server: ServerProcess, client: httpx.Client
) -> None:
    assert client.get("/bg/failing").text == "ok"
    wait_for_state(client, "after-failure")
    server.wait_for_log("Exception in background task")
    server.wait_for_log("RuntimeError: a background task fails")
    assert client.get("/bg/state").status_code == 200


# -- a mounted Starlette app -------------------------------------------------------------


def test_mounted_starlette_app(client: httpx.Client) -> None:
    response = client.get("/starlette/where")
    assert response.status_code == 200
    assert response.json() == {
        "path": "/starlette/where",
        "root_path": "/starlette",
        "route": "where",
        "url_for": str(client.base_url).rstrip("/") + "/starlette/where",
        "body": "",
    }
    posted = client.post("/starlette/where", content=b"through the mount")
    assert posted.json()["body"] == "through the mount"
    assert client.get("/starlette/nowhere").status_code == 404
    assert client.get("/starletteish").status_code == 404  # not under the prefix


# -- server-sent events -----------------------------------------------------------------


def read_events(text: str) -> list[dict[str, str]]:
    """Parses an event stream the way a browser's EventSource does (enough of it)."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            events.append(fields)
    return events


def test_server_sent_events(client: httpx.Client) -> None:
    with client.stream("GET", "/sse", params={"count": 3}) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        text = "".join(response.iter_text())
    assert read_events(text) == [
        {"data": "plain data\nsecond line"},
        {"event": "tick", "id": "2", "data": '{"n":1}'},
        {"event": "tick", "id": "2", "retry": "1500", "data": "event 2"},
    ]


def test_keep_alive_comments_while_idle(client: httpx.Client) -> None:
    params = {"count": 2, "pause": 0.3, "ping": 0.05}
    with client.stream("GET", "/sse", params=params) as response:
        text = "".join(response.iter_text())
    assert text.count(": ping\n\n") >= 2
    assert len(read_events(text)) == 2


@pytest.mark.parametrize(
    ("item", "wire"),
    [
        ("a", b"data: a\n\n"),
        ("a\r\nb\rc", b"data: a\ndata: b\ndata: c\n\n"),
        ({"data": [1], "event": "e"}, b"event: e\ndata: [1]\n\n"),
        (ServerSentEvent(comment="hi"), b": hi\n\n"),
        (ServerSentEvent(data="", id="7"), b"id: 7\ndata: \n\n"),
    ],
)
def test_event_encoding_table(item: object, wire: bytes) -> None:
    assert encode_event(item) == wire


@pytest.mark.parametrize("fields", [{"event": "a\nb"}, {"id": "1\r2"}, {"id": "x\x00"}])
def test_bad_event_fields_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ServerSentEvent(data="x", **fields)


# -- templates --------------------------------------------------------------------------


def test_templates(client: httpx.Client) -> None:
    pytest.importorskip("jinja2")
    response = client.get("/page/<Ann>")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<p>&lt;Ann&gt;</p><i>a</i><i>&lt;b&gt;</i>"


def test_templates_missing_template_is_an_error(tmp_path: Path) -> None:
    jinja2 = pytest.importorskip("jinja2")
    from pyre.framework.templating import Templates

    with pytest.raises(jinja2.TemplateNotFound):
        Templates(directory=tmp_path).render("absent.html")
