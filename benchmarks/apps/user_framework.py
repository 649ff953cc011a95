"""The framework benchmark's endpoint on pyre.framework: ``GET /user/{id:int}``
returning ``{"id": id, "name": "user <id>"}`` as JSON (served by Pyre over PSGI)."""

from __future__ import annotations

from pyre import framework
from pyre.framework import App


class Users(framework.Blueprint):
    @framework.endpoint("/user/{id:int}", methods=["GET"])
    async def get_user(self, id: int):
        return {"id": id, "name": f"user {id}"}


app = App()
app.add_blueprint(Users())
