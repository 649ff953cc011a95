"""pyre.framework's ``@websocket`` endpoints on real servers, with the ``websockets``
client library: the same app (tests/apps/framework_ws_app.py) served by Pyre over
PSGI (picked automatically), by Pyre over ASGI (``--interface asgi``) and by uvicorn
(ASGI), with the same expectations. Then registration rules, which need no server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from pyre import framework
from pyre.framework import App, RegistrationError, WebSocket
from pyre.testing import TestClient
from tests.support import ServerProcess, serve, serve_uvicorn

APP = "tests.apps.framework_ws_app:app"
TIMEOUT = 5.0
SERVERS = ["pyre", "pyre-asgi", "uvicorn"]


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp(f"framework-ws-{request.param}")
    starter: AbstractContextManager[ServerProcess]
    if request.param == "pyre":
        starter = serve(APP, tmp=tmp)
    elif request.param == "pyre-asgi":
        starter = serve(APP, "--interface", "asgi", tmp=tmp)
    else:
        starter = serve_uvicorn(APP, tmp=tmp)
    with starter as running:
        yield running


def ws_url(server: ServerProcess, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def open_ws(server: ServerProcess, path: str, **options: Any) -> ClientConnection:
    return connect(ws_url(server, path), open_timeout=TIMEOUT, close_timeout=TIMEOUT, **options)


def denial(server: ServerProcess, path: str, **options: Any) -> Any:
    """The HTTP response that refused the WebSocket at ``path``."""
    with pytest.raises(InvalidStatus) as refused:
        with open_ws(server, path, **options):
            pass
    return refused.value.response


def closed_by_server(ws: ClientConnection) -> Any:
    """The close frame the server sent (the connection must close within TIMEOUT)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None, "the server dropped the connection without a close"
    return closed.value.rcvd


# ---------------------------------------------------------------- conversation


def test_echo_text_and_binary(server: ServerProcess) -> None:
    with open_ws(server, "/ws/echo") as ws:
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == "hello"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xffbinary"
        ws.send("é ✓ 😀")
        assert ws.recv(timeout=TIMEOUT) == "é ✓ 😀"
        ws.send("")
        assert ws.recv(timeout=TIMEOUT) == ""


def test_large_and_fragmented_messages(server: ServerProcess) -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB
    with open_ws(server, "/ws/echo", max_size=None) as ws:
        ws.send(payload)
        assert ws.recv(timeout=TIMEOUT) == payload
        ws.send(iter(["frag", "mented ", "text"]))  # one message in three frames
        assert ws.recv(timeout=TIMEOUT) == "fragmented text"


def test_json_echo(server: ServerProcess) -> None:
    with open_ws(server, "/ws/json") as ws:
        ws.send(json.dumps({"a": [1, 2.5, None, "ü"]}))
        reply = ws.recv(timeout=TIMEOUT)
        assert isinstance(reply, str)
        assert json.loads(reply) == {"got": {"a": [1, 2.5, None, "ü"]}}
        ws.send(b"[true]")  # binary JSON is read too
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"got": [True]}
    with open_ws(server, "/ws/json?binary=1") as ws:
        ws.send("7")
        reply = ws.recv(timeout=TIMEOUT)
        assert isinstance(reply, bytes)
        assert json.loads(reply) == {"got": 7}


def test_invalid_json_closes_1011(server: ServerProcess) -> None:
    with open_ws(server, "/ws/json") as ws:
        ws.send("{not json")
        assert closed_by_server(ws).code == 1011


def test_text_only_endpoint_closes_1003_on_binary(server: ServerProcess) -> None:
    with open_ws(server, "/ws/text") as ws:
        ws.send("shout")
        assert ws.recv(timeout=TIMEOUT) == "SHOUT"
        ws.send(b"bytes")
        close = closed_by_server(ws)
        assert close.code == 1003
        assert "binary" in close.reason


def test_many_connections_at_once(server: ServerProcess) -> None:
    def talk(n: int) -> list[str]:
        with open_ws(server, "/ws/echo") as ws:
            replies = []
            for i in range(20):
                ws.send(f"{n}:{i}")
                replies.append(ws.recv(timeout=TIMEOUT))
            return replies

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(talk, range(32)))
    assert results == [[f"{n}:{i}" for i in range(20)] for n in range(32)]


# ---------------------------------------------------------------- routing


def test_routing_with_converters_query_and_url(server: ServerProcess) -> None:
    with open_ws(server, "/ws/rooms/lobby/7?x=1&y=two") as ws:
        info = json.loads(ws.recv(timeout=TIMEOUT))
    assert info == {
        "room": "lobby",
        "seat": 7,
        "seat_type": "int",
        "path": "/ws/rooms/lobby/7",
        "query": {"x": "1", "y": "two"},
        "url": f"ws://127.0.0.1:{server.port}/ws/rooms/lobby/7?x=1&y=two",
        "name": "/ws/rooms/lobby/7",
    }


def test_annotation_conversion(server: ServerProcess) -> None:
    with open_ws(server, "/ws/day/2026-11-23") as ws:
        assert ws.recv(timeout=TIMEOUT) == "date 2026-11-23"


@pytest.mark.parametrize("path", ["/ws/rooms/lobby/seven", "/ws/day/yesterday", "/ws/nowhere"])
def test_no_matching_route_is_404(server: ServerProcess, path: str) -> None:
    assert denial(server, path).status_code == 404


def test_websocket_to_an_http_only_path_is_404(server: ServerProcess) -> None:
    assert denial(server, "/plain").status_code == 404


def test_http_request_to_a_websocket_path_is_426(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/ws/echo", timeout=TIMEOUT)
    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"
    assert response.headers["x-http-middleware"] == "ran"
    # A path served only by HTTP endpoints keeps its 405 (no WEBSOCKET in Allow).
    response = httpx.post(f"{server.url}/plain", timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_http_and_websocket_endpoints_share_a_path(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/both", timeout=TIMEOUT).text == "http"
    with open_ws(server, "/both") as ws:
        assert ws.recv(timeout=TIMEOUT) == "websocket"


# ---------------------------------------------------------------- handshake


def test_subprotocol_and_accept_headers(server: ServerProcess) -> None:
    with open_ws(server, "/ws/subprotocol", subprotocols=["x.v9", "chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v1"
        assert ws.response is not None
        assert ws.response.headers["x-accepted"] == "yes"
        info = json.loads(ws.recv(timeout=TIMEOUT))
    assert info == {"offered": ["x.v9", "chat.v1", "chat.v2"], "chosen": "chat.v1"}
    with open_ws(server, "/ws/subprotocol") as ws:
        assert ws.subprotocol is None
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"offered": [], "chosen": None}


@pytest.mark.parametrize(
    ("path", "status", "body", "header"),
    [
        ("/ws/deny", 401, b"go away", ("x-denied", "yes")),
        ("/ws/no-accept", 403, b"", None),
        ("/ws/http-exception", 418, b"short and stout", None),
        ("/ws/crash-before-accept", 500, b"Internal Server Error", None),
        ("/ws/middleware", 401, b"token required", ("www-authenticate", "Token")),
        ("/ws/echo?blocked=1", 403, b"blocked by middleware", None),
    ],
)
def test_denial_before_accept(
    server: ServerProcess, path: str, status: int, body: bytes, header: tuple[str, str] | None
) -> None:
    response = denial(server, path)
    assert response.status_code == status
    assert bytes(response.body) == body
    if header is not None:
        assert response.headers[header[0]] == header[1]


def test_error_before_accept_is_logged(server: ServerProcess) -> None:
    denial(server, "/ws/crash-before-accept")
    server.wait_for_log("RuntimeError: crash before accept")


# ---------------------------------------------------------------- closing


@pytest.mark.parametrize("code", [1000, 1001, 4000, 4999])
def test_server_close_code_and_reason(server: ServerProcess, code: int) -> None:
    with open_ws(server, f"/ws/close/{code}") as ws:
        close = closed_by_server(ws)
    assert (close.code, close.reason) == (code, f"closing with {code}")


def test_returning_closes_with_1000(server: ServerProcess) -> None:
    with open_ws(server, "/ws/return") as ws:
        assert ws.recv(timeout=TIMEOUT) == "bye"
        assert closed_by_server(ws).code == 1000


def test_handler_error_after_accept_closes_1011(server: ServerProcess) -> None:
    with open_ws(server, "/ws/crash") as ws:
        ws.send("boom")
        assert closed_by_server(ws).code == 1011
    server.wait_for_log("RuntimeError: crash after accept")


def test_client_close_code_reaches_the_handler(server: ServerProcess) -> None:
    with open_ws(server, "/ws/report-close") as ws:
        ws.send("anything")
        ws.close(4001, "done here")
    wait_for_call(server, "closed 4001 done here 4001")


def wait_for_call(server: ServerProcess, line: str) -> None:
    import time

    deadline = time.monotonic() + TIMEOUT
    while line not in server.calls():
        if time.monotonic() > deadline:
            raise AssertionError(f"{line!r} not recorded: {server.calls()}\n{server.log}")
        time.sleep(0.02)


# ---------------------------------------------------------------- middleware and state


def test_websocket_middleware_order_and_http_middleware_not_applied(
    server: ServerProcess,
) -> None:
    with open_ws(server, "/ws/middleware?token=secret") as ws:
        info = json.loads(ws.recv(timeout=TIMEOUT))
    assert info == {"order": ["global", "blueprint", "endpoint"], "http_middleware": False}


def test_session_and_cookies_are_readable(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        assert http.post("/login/ann").json() == {"logged_in": "ann"}
        session = http.cookies["session"]
    cookie = f"session={session}; flavour=oat"
    with open_ws(server, "/ws/session", additional_headers={"Cookie": cookie}) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"user": "ann", "flavour": "oat"}
    # A tampered cookie is an empty session, not an error.
    tampered = f"session={session[:-2]}xx"
    with open_ws(server, "/ws/session", additional_headers={"Cookie": tampered}) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"user": None, "flavour": None}


# ---------------------------------------------------------------- the example, in a TestClient


def test_the_chat_example_with_the_test_client() -> None:
    from examples.websocket_chat import app as chat_app

    test_client = TestClient(chat_app)
    with test_client as http:
        assert "<title>Pyre chat</title>" in http.get("/").text
        assert test_client.url is not None
        base = test_client.url.replace("http", "ws", 1)
        with connect(f"{base}/ws/lobby?name=ann", open_timeout=TIMEOUT) as ann:
            assert json.loads(ann.recv(timeout=TIMEOUT))["text"] == "ann joined lobby"
            with connect(f"{base}/ws/lobby?name=bob", open_timeout=TIMEOUT) as bob:
                assert json.loads(ann.recv(timeout=TIMEOUT))["text"] == "bob joined lobby"
                assert json.loads(bob.recv(timeout=TIMEOUT))["text"] == "bob joined lobby"
                bob.send("hello")
                for ws in (ann, bob):
                    assert json.loads(ws.recv(timeout=TIMEOUT)) == {"from": "bob", "text": "hello"}
            assert json.loads(ann.recv(timeout=TIMEOUT)) == {"from": "pyre", "text": "bob left"}
        with pytest.raises(InvalidStatus) as refused:
            with connect(f"{base}/ws/lobby", open_timeout=TIMEOUT):
                pass
        assert refused.value.response.status_code == 400


# ---------------------------------------------------------------- registration (no server)


def test_url_for_names_websocket_endpoints() -> None:
    class Chat(framework.Blueprint):
        prefix = "/chat"

        @framework.websocket("/{room}/{n:int}", name="chat")
        async def chat(self, ws: WebSocket, room: str, n: int) -> None:
            await ws.accept()

    app = App()
    app.add_blueprint(Chat())
    assert app.url_for("chat", room="a b", n=3) == "/chat/a%20b/3"


def test_websocket_registration_errors() -> None:
    class Sync(framework.Blueprint):
        @framework.websocket("/sync")
        def sync(self, ws: WebSocket) -> None:
            pass

    with pytest.raises(RegistrationError, match="must be `async def`"):
        App().add_blueprint(Sync())

    class Unfillable(framework.Blueprint):
        @framework.websocket("/u")
        async def handler(self, request: Any) -> None:
            pass

    with pytest.raises(RegistrationError, match="nor the WebSocket"):
        App().add_blueprint(Unfillable())

    class Twice(framework.Blueprint):
        @framework.websocket("/t/{a:int}")
        async def one(self, ws: WebSocket, a: int) -> None:
            pass

        @framework.websocket("/t/{b:int}")
        async def two(self, ws: WebSocket, b: int) -> None:
            pass

    with pytest.raises(RegistrationError, match="already served"):
        App().add_blueprint(Twice())

    with pytest.raises(ValueError, match="@websocket"):
        framework.endpoint("/x", methods=["WEBSOCKET"])


def test_extension_unload_removes_websocket_middleware(tmp_path: Path, monkeypatch: Any) -> None:
    import asyncio

    (tmp_path / "ws_ext.py").write_text(
        "async def mw(ws, call_next):\n"
        "    await call_next(ws)\n"
        "def setup(app):\n"
        "    app.add_websocket_middleware(mw)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app = App()

    async def cycle() -> tuple[int, int]:
        await app.load_extension("ws_ext")
        loaded = len(app._websocket_middleware)
        await app.unload_extension("ws_ext")
        return loaded, len(app._websocket_middleware)

    assert asyncio.run(cycle()) == (1, 0)
