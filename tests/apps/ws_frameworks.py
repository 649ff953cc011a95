"""Starlette and FastAPI WebSocket endpoints, ordinary framework code, for
tests/test_websocket_frameworks.py: ``starlette_app`` and ``fastapi_app`` serve the
same paths (echo, JSON, subprotocol, query parameters, a chosen close code, a denial
before accept, an error after accept)."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query, WebSocketException, status
from fastapi import WebSocket as FastAPIWebSocket
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

# --- Starlette ----------------------------------------------------------------------


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


async def json_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for value in websocket.iter_json():
        await websocket.send_json({"got": value})


async def subprotocol(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols", [])
    chosen = "graphql-ws" if "graphql-ws" in offered else None
    await websocket.accept(subprotocol=chosen, headers=[(b"x-accepted", b"starlette")])
    await websocket.send_json({"offered": offered})
    await websocket.close()


async def query(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "name": websocket.query_params.get("name"),
            "tags": websocket.query_params.getlist("tag"),
            "room": websocket.path_params.get("room"),
            "header": websocket.headers.get("x-client"),
        }
    )
    await websocket.close()


async def close_code(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(code=int(websocket.path_params["code"]), reason="custom close")


async def denied(websocket: WebSocket) -> None:
    # Before accept: a plain 403 (Starlette closes, the server answers 403) or, with
    # the websocket.http.response extension, a full response.
    if websocket.query_params.get("response") == "1":
        await websocket.send_denial_response(PlainTextResponse("not you", status_code=401))
    else:
        await websocket.close(code=1008)


async def crash(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("starlette websocket crash")


async def home(request: object) -> PlainTextResponse:
    return PlainTextResponse("http still works")


starlette_app = Starlette(
    routes=[
        Route("/", home),
        WebSocketRoute("/ws/echo", echo),
        WebSocketRoute("/ws/json", json_echo),
        WebSocketRoute("/ws/subprotocol", subprotocol),
        WebSocketRoute("/ws/query/{room}", query),
        WebSocketRoute("/ws/close/{code:int}", close_code),
        WebSocketRoute("/ws/denied", denied),
        WebSocketRoute("/ws/crash", crash),
    ]
)

# --- FastAPI ------------------------------------------------------------------------

fastapi_app = FastAPI()


@fastapi_app.get("/")
async def fastapi_home() -> dict[str, str]:
    return {"http": "still works"}


@fastapi_app.websocket("/ws/echo")
async def fastapi_echo(websocket: FastAPIWebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


@fastapi_app.websocket("/ws/json")
async def fastapi_json(websocket: FastAPIWebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            value = await websocket.receive_json()
            await websocket.send_json({"got": value})
    except WebSocketDisconnect:
        return


@fastapi_app.websocket("/ws/subprotocol")
async def fastapi_subprotocol(websocket: FastAPIWebSocket) -> None:
    offered = websocket.scope.get("subprotocols", [])
    chosen = "graphql-ws" if "graphql-ws" in offered else None
    await websocket.accept(subprotocol=chosen, headers=[(b"x-accepted", b"fastapi")])
    await websocket.send_json({"offered": offered})
    await websocket.close()


@fastapi_app.websocket("/ws/query/{room}")
async def fastapi_query(
    websocket: FastAPIWebSocket,
    room: str,
    name: str,
    tag: Annotated[list[str] | None, Query()] = None,
) -> None:
    await websocket.accept()
    await websocket.send_json(
        {"name": name, "tags": tag or [], "room": room, "header": websocket.headers.get("x-client")}
    )
    await websocket.close()


@fastapi_app.websocket("/ws/close/{code}")
async def fastapi_close(websocket: FastAPIWebSocket, code: int) -> None:
    await websocket.accept()
    await websocket.close(code=code, reason="custom close")


@fastapi_app.websocket("/ws/denied")
async def fastapi_denied(websocket: FastAPIWebSocket) -> None:
    if websocket.query_params.get("response") == "1":
        await websocket.send_denial_response(PlainTextResponse("not you", status_code=401))
        return
    raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)


@fastapi_app.websocket("/ws/crash")
async def fastapi_crash(websocket: FastAPIWebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("fastapi websocket crash")
