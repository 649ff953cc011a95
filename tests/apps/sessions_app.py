"""pyre.framework apps with sessions, for tests/test_framework_sessions.py: ``app``
keeps the session in a signed cookie (keys rotated: "old-key" still verifies,
"new-key" signs); ``store_app`` keeps it in a MemoryStore with only an id in the
cookie."""

from __future__ import annotations

from pyre import framework
from pyre.framework import App, MemoryStore, Request


class Account(framework.Blueprint):
    @framework.endpoint("/login/{user}", methods=["POST"])
    async def login(self, request: Request, user: str):
        request.session["user"] = user
        return {"logged_in": user}

    @framework.endpoint("/me")
    async def me(self, request: Request):
        return {"user": request.session.get("user")}

    @framework.endpoint("/count", methods=["POST"])
    async def count(self, request: Request):
        request.session["count"] = request.session.get("count", 0) + 1
        return {"count": request.session["count"]}

    @framework.endpoint("/logout", methods=["POST"])
    async def logout(self, request: Request):
        request.session.clear()
        return {"logged_out": True}

    @framework.endpoint("/plain")
    async def plain(self):
        return "no session here"


app = App()
app.add_blueprint(Account())
app.enable_sessions(["old-key", "new-key"], max_age=3600)

STORE = MemoryStore()
store_app = App()
store_app.add_blueprint(Account())
store_app.enable_sessions("store-key", store=STORE, cookie_name="sid")
