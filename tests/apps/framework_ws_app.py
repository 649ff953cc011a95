"""A pyre.framework app with WebSocket endpoints, for tests/test_framework_websocket.py:
echo (any, JSON, text only), routing with converters, accept options, denials,
close codes, errors, middleware of each kind, sessions, and an HTTP endpoint
sharing a path with a WebSocket one. Events the client cannot see (the close code
the server received) are written to the file named by PYRE_TEST_CALLS."""

from __future__ import annotations

import datetime
import os

from pyre import framework
from pyre.framework import App, HTTPException, Request, WebSocket, WebSocketDisconnect


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a") as calls:
            calls.write(line + "\n")


async def tag_global(ws: WebSocket, call_next):
    if ws.query.get("blocked") == "1":
        raise HTTPException(403, "blocked by middleware")
    ws.state.order = ["global"]
    await call_next(ws)


async def tag_blueprint(ws: WebSocket, call_next):
    ws.state.order.append("blueprint")
    await call_next(ws)


async def require_token(ws: WebSocket, call_next):
    if ws.query.get("token") != "secret":
        await ws.deny(401, "token required", {"www-authenticate": "Token"})
        return
    ws.state.order.append("endpoint")
    await call_next(ws)


async def http_marker(request: Request, call_next):
    request.state.http_middleware = True
    response = await call_next(request)
    response.headers.append(("x-http-middleware", "ran"))
    return response


class Sockets(framework.Blueprint):
    websocket_middleware = (tag_blueprint,)

    @framework.websocket("/ws/echo")
    async def echo(self, ws: WebSocket):
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    @framework.websocket("/ws/json")
    async def json_echo(self, websocket: WebSocket):
        await websocket.accept()
        async for value in websocket.iter_json():
            await websocket.send_json({"got": value}, binary=websocket.query.get("binary") == "1")

    @framework.websocket("/ws/text")
    async def text_only(self, ws: WebSocket):
        await ws.accept()
        while True:
            await ws.send_text((await ws.receive_text()).upper())

    @framework.websocket("/ws/rooms/{room}/{seat:int}")
    async def room(self, ws: WebSocket, room: str, seat: int):
        await ws.accept()
        await ws.send_json(
            {
                "room": room,
                "seat": seat,
                "seat_type": type(seat).__name__,
                "path": ws.path,
                "query": dict(ws.query),
                "url": ws.url,
                "name": ws.app.url_for("Sockets.room", room=room, seat=seat),
            }
        )

    @framework.websocket("/ws/day/{day}")
    async def day(self, ws: WebSocket, day: datetime.date):
        await ws.accept()
        await ws.send_text(f"{type(day).__name__} {day.isoformat()}")

    @framework.websocket("/ws/close/{code:int}")
    async def close_with(self, ws: WebSocket, code: int):
        await ws.accept()
        await ws.close(code, f"closing with {code}")

    @framework.websocket("/ws/report-close")
    async def report_close(self, ws: WebSocket):
        await ws.accept()
        try:
            while True:
                await ws.receive()
        except WebSocketDisconnect as exc:
            record(f"closed {exc.code} {exc.reason} {ws.close_code}")
            raise

    @framework.websocket("/ws/deny")
    async def deny(self, ws: WebSocket):
        await ws.deny(401, "go away", {"x-denied": "yes"})

    @framework.websocket("/ws/no-accept")
    async def no_accept(self, ws: WebSocket):
        return None

    @framework.websocket("/ws/http-exception")
    async def http_exception(self, ws: WebSocket):
        raise HTTPException(418, "short and stout")

    @framework.websocket("/ws/crash-before-accept")
    async def crash_before_accept(self, ws: WebSocket):
        raise RuntimeError("crash before accept")

    @framework.websocket("/ws/crash")
    async def crash(self, ws: WebSocket):
        await ws.accept()
        await ws.receive()
        raise RuntimeError("crash after accept")

    @framework.websocket("/ws/return")
    async def return_after_one(self, ws: WebSocket):
        await ws.accept()
        await ws.send_text("bye")

    @framework.websocket("/ws/subprotocol")
    async def subprotocol(self, ws: WebSocket):
        chosen = next((p for p in ws.subprotocols if p in ("chat.v2", "chat.v1")), None)
        await ws.accept(subprotocol=chosen, headers={"x-accepted": "yes"})
        await ws.send_json({"offered": ws.subprotocols, "chosen": ws.subprotocol})

    @framework.websocket("/ws/middleware", middleware=[require_token])
    async def guarded(self, ws: WebSocket):
        await ws.accept()
        await ws.send_json(
            {
                "order": ws.state.order,
                "http_middleware": getattr(ws.state, "http_middleware", False),
            }
        )

    @framework.websocket("/ws/session")
    async def session(self, ws: WebSocket):
        await ws.accept()
        await ws.send_json({"user": ws.session.get("user"), "flavour": ws.cookies.get("flavour")})

    @framework.websocket("/both")
    async def both_ws(self, ws: WebSocket):
        await ws.accept()
        await ws.send_text("websocket")

    @framework.endpoint("/both")
    async def both_http(self):
        return "http"

    @framework.endpoint("/plain")
    async def plain(self):
        return "plain http"

    @framework.endpoint("/login/{user}", methods=["POST"])
    async def login(self, request: Request, user: str):
        request.session["user"] = user
        return {"logged_in": user}


app = App()
app.add_blueprint(Sockets())
app.add_middleware(http_marker)
app.add_websocket_middleware(tag_global)
app.enable_sessions("websocket-test-secret")
