"""pyre.testing.TestClient: a real Pyre server in a thread, used sync and async,
with startup/shutdown hooks, cookies, streaming and server options."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from pyre import framework
from pyre.framework import App, Request
from pyre.testing import TestClient


def make_app(events: list[str]) -> App:
    class Views(framework.Blueprint):
        @framework.endpoint("/hello/{name}")
        async def hello(self, name: str):
            return f"Hello, {name}!"

        @framework.endpoint("/count", methods=["POST"])
        async def count(self, request: Request):
            request.session["n"] = request.session.get("n", 0) + 1
            return {"n": request.session["n"]}

        @framework.endpoint("/stream")
        async def stream(self):
            async def pieces():
                for i in range(3):
                    yield f"{i};"

            return pieces()

        @framework.endpoint("/upload", methods=["POST"])
        async def upload(self, request: Request):
            return {"size": len(await request.body.bytes())}

    app = App()
    app.add_blueprint(Views())
    app.enable_sessions("test-secret")
    app.on_startup(lambda: events.append("startup"))
    app.on_shutdown(lambda: events.append("shutdown"))
    return app


def test_sync_use_runs_hooks_keeps_cookies_and_streams() -> None:
    events: list[str] = []
    with TestClient(make_app(events)) as client:
        assert isinstance(client, httpx.Client)
        assert events == ["startup"]
        assert client.get("/hello/you").text == "Hello, you!"
        assert [client.post("/count").json()["n"] for _ in range(3)] == [1, 2, 3]
        with client.stream("GET", "/stream") as response:
            assert response.headers["transfer-encoding"] == "chunked"
            assert b"".join(response.iter_bytes()) == b"0;1;2;"
    assert events == ["startup", "shutdown"]


def test_async_use() -> None:
    events: list[str] = []

    async def scenario() -> None:
        async with TestClient(make_app(events)) as client:
            assert isinstance(client, httpx.AsyncClient)
            responses = await asyncio.gather(*(client.get(f"/hello/{i}") for i in range(20)))
            assert [r.text for r in responses] == [f"Hello, {i}!" for i in range(20)]

    asyncio.run(scenario())
    assert events == ["startup", "shutdown"]


def test_server_options_apply() -> None:
    with TestClient(make_app([]), limit_request_body=100) as client:
        assert client.post("/upload", content=b"x" * 50).json() == {"size": 50}
        assert client.post("/upload", content=b"x" * 500).status_code == 413


def test_a_failing_startup_is_reported() -> None:
    app = App()

    @app.on_startup
    def broken() -> None:
        raise RuntimeError("cannot start")

    with pytest.raises(RuntimeError, match="did not start"), TestClient(app):
        pass


def test_plain_asgi_apps_work_too() -> None:
    async def asgi_app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi"})

    with TestClient(asgi_app, lifespan="off") as client:
        assert client.get("/").text == "asgi"
