"""Starlette and FastAPI WebSocket endpoints (tests/apps/ws_frameworks.py) run
unmodified on a real Pyre process (ASGI), talked to with the ``websockets`` client
library: echo, JSON, subprotocol and accept headers, query and path parameters,
close codes, denial before accept (a close, and a full response through the
``websocket.http.response`` extension), and an error after accept. uvicorn runs the
same apps with the same expectations, as the reference."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support import ServerProcess, serve, serve_uvicorn

TIMEOUT = 5.0
APPS = {
    "starlette": "tests.apps.ws_frameworks:starlette_app",
    "fastapi": "tests.apps.ws_frameworks:fastapi_app",
}


@pytest.fixture(
    scope="module",
    params=[(f, s) for f in APPS for s in ("pyre", "uvicorn")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    framework, server_name = request.param
    tmp = tmp_path_factory.mktemp(f"ws-{framework}-{server_name}")
    starter: AbstractContextManager[ServerProcess]
    if server_name == "pyre":
        starter = serve(APPS[framework], tmp=tmp)
    else:
        starter = serve_uvicorn(APPS[framework], tmp=tmp)
    with starter as running:
        running.framework = framework  # type: ignore[attr-defined]
        yield running


def open_ws(server: ServerProcess, path: str, **options: Any) -> ClientConnection:
    url = f"ws://127.0.0.1:{server.port}{path}"
    return connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **options)


def close_frame(ws: ClientConnection) -> Any:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None, "the server dropped the connection without a close"
    return closed.value.rcvd


def test_http_and_websocket_side_by_side(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/", timeout=TIMEOUT).status_code == 200
    with open_ws(server, "/ws/echo") as ws:
        ws.send("ping")
        assert ws.recv(timeout=TIMEOUT) == "ping"


def test_echo_text_and_binary(server: ServerProcess) -> None:
    with open_ws(server, "/ws/echo", max_size=None) as ws:
        for message in ["hello", b"\x00\x01\x02", "ünïcödé", b"x" * 100_000, ""]:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
        ws.ping(b"are you there")  # answered by the server, invisible to the app
        ws.send("after ping")
        assert ws.recv(timeout=TIMEOUT) == "after ping"


def test_json(server: ServerProcess) -> None:
    with open_ws(server, "/ws/json") as ws:
        for value in [{"a": 1}, [1, "two", None], "text", 3.5]:
            ws.send(json.dumps(value))
            assert json.loads(ws.recv(timeout=TIMEOUT)) == {"got": value}


def test_subprotocol_and_accept_headers(server: ServerProcess) -> None:
    with open_ws(server, "/ws/subprotocol", subprotocols=["graphql-ws", "other"]) as ws:
        assert ws.subprotocol == "graphql-ws"
        assert ws.response is not None
        assert ws.response.headers["x-accepted"] == server.framework  # type: ignore[attr-defined]
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"offered": ["graphql-ws", "other"]}
        assert close_frame(ws).code == 1000
    with open_ws(server, "/ws/subprotocol", subprotocols=["other"]) as ws:
        assert ws.subprotocol is None
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"offered": ["other"]}


def test_query_path_parameters_and_headers(server: ServerProcess) -> None:
    path = "/ws/query/lobby?name=ann&tag=a&tag=b%20c"
    with open_ws(server, path, additional_headers={"X-Client": "tests"}) as ws:
        info = json.loads(ws.recv(timeout=TIMEOUT))
    assert info == {"name": "ann", "tags": ["a", "b c"], "room": "lobby", "header": "tests"}


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4242])
def test_close_code_and_reason(server: ServerProcess, code: int) -> None:
    with open_ws(server, f"/ws/close/{code}") as ws:
        close = close_frame(ws)
    assert (close.code, close.reason) == (code, "custom close")


def test_denial_before_accept_is_403(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with open_ws(server, "/ws/denied"):
            pass
    assert refused.value.response.status_code == 403


def test_denial_response_extension(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with open_ws(server, "/ws/denied?response=1"):
            pass
    assert refused.value.response.status_code == 401
    assert bytes(refused.value.response.body) == b"not you"


def test_unknown_path_is_refused(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with open_ws(server, "/ws/nowhere"):
            pass
    assert refused.value.response.status_code in (403, 404)


def test_error_after_accept_closes_1011(server: ServerProcess) -> None:
    """Pyre closes with 1011 (internal error) when the application raises after the
    handshake; uvicorn drops the TCP connection without a close frame."""
    with open_ws(server, "/ws/crash") as ws:
        ws.send("boom")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=TIMEOUT)
    received = closed.value.rcvd
    if server.process.args[2] == "uvicorn":  # type: ignore[index]
        assert received is None
    else:
        assert received is not None and received.code == 1011
    server.wait_for_log("websocket crash")


def test_missing_query_parameter(server: ServerProcess) -> None:
    """FastAPI validates ``name: str`` before the endpoint runs and refuses the
    connection (close 1008 before accept, so 403); Starlette leaves it to the code."""
    if server.framework == "fastapi":  # type: ignore[attr-defined]
        # FastAPI closes with `reason` set to a list (its validation errors), not the
        # str the ASGI spec asks for; before accept nothing of it reaches the wire,
        # and Pyre, like uvicorn, answers 403 all the same.
        with pytest.raises(InvalidStatus) as refused:
            with open_ws(server, "/ws/query/lobby"):
                pass
        assert refused.value.response.status_code == 403
    else:
        with open_ws(server, "/ws/query/lobby") as ws:
            assert json.loads(ws.recv(timeout=TIMEOUT))["name"] is None
