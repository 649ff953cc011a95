"""Sessions: log in, see who you are, log out (an extension like blueprint.py)."""

from pyre import framework
from pyre.framework import App, Request


class Accounts(framework.Blueprint):
    prefix = "/account"

    def __init__(self, app: App):
        self._app = app

    @framework.endpoint("/login/{user}", methods=["POST"])
    async def login(self, request: Request, user: str):
        request.session["user"] = user
        return {"logged_in": user}

    @framework.endpoint("/me")
    async def me(self, request: Request):
        return {"user": request.session.get("user")}

    @framework.endpoint("/logout", methods=["POST"])
    async def logout(self, request: Request):
        request.session.clear()
        return None  # 204


def setup(app: App):
    app.add_blueprint(Accounts(app))
