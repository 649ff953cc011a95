"""A chat room on pyre.framework WebSockets (docs/websocket.md): open
http://127.0.0.1:8000/ in two browser tabs, or talk to it from a terminal.

    .venv/bin/pyre-http examples.websocket_chat:app
    .venv/bin/python -m websockets ws://127.0.0.1:8000/ws/lobby?name=ann

Every text message sent to ``/ws/{room}`` goes to everyone in that room as JSON
(``{"from": name, "text": ...}``); joining and leaving are announced.
"""

from __future__ import annotations

from pyre import framework
from pyre.framework import App, WebSocket, responses

PAGE = """<!doctype html>
<meta charset="utf-8"><title>Pyre chat</title>
<input id="text" placeholder="say something" autofocus>
<pre id="log"></pre>
<script>
const name = "guest" + Math.floor(Math.random() * 1000);
const ws = new WebSocket(`ws://${location.host}/ws/lobby?name=${name}`);
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  document.getElementById("log").textContent += `${m.from}: ${m.text}\\n`;
};
document.getElementById("text").onkeydown = (e) => {
  if (e.key === "Enter") { ws.send(e.target.value); e.target.value = ""; }
};
</script>
"""


class Chat(framework.Blueprint):
    def __init__(self, app: App) -> None:
        self._app = app
        self.rooms: dict[str, set[WebSocket]] = {}

    @framework.endpoint("/")
    async def page(self):
        return responses.HTMLResponse(PAGE)

    @framework.websocket("/ws/{room}")
    async def chat(self, ws: WebSocket, room: str):
        name = ws.query.get("name")
        if not name:
            await ws.deny(400, "add ?name=...")
            return
        await ws.accept()
        members = self.rooms.setdefault(room, set())
        members.add(ws)
        await self.say(members, "pyre", f"{name} joined {room}")
        try:
            async for text in ws.iter_text():
                await self.say(members, name, text)
        finally:
            members.discard(ws)
            await self.say(members, "pyre", f"{name} left")

    async def say(self, members: set[WebSocket], sender: str, text: str) -> None:
        for member in list(members):
            try:
                await member.send_json({"from": sender, "text": text})
            except framework.WebSocketDisconnect:
                members.discard(member)


app = App()
app.add_blueprint(Chat(app))
