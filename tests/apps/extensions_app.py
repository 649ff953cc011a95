"""A pyre.framework app whose views come from extensions loaded at run time, for
tests/test_framework_extensions.py. ``POST /admin/{action}/{name}`` loads, unloads or
reloads extension module ``name`` and answers what happened as JSON; the extension
modules are written by the test into a directory on PYTHONPATH.
``$PYRE_TEST_EXTENSIONS`` (comma-separated) are loaded at startup; ``POST
/admin/reload-all`` asks every process serving the app to reload (SIGUSR1)."""

from __future__ import annotations

import os

from pyre import framework
from pyre.framework import App, ExtensionError


class Admin(framework.Blueprint):
    def __init__(self, app: App) -> None:
        self.app = app

    @framework.endpoint("/admin/{action}/{name}", methods=["POST"])
    async def admin(self, action: str, name: str):
        operation = {
            "load": self.app.load_extension,
            "unload": self.app.unload_extension,
            "reload": self.app.reload_extension,
        }.get(action)
        if operation is None:
            return {"error": "unknown action"}, 400
        try:
            await operation(name)
        except ExtensionError as exc:
            return {"error": type(exc).__name__, "message": str(exc)}, 409
        return {"ok": True, "loaded": sorted(self.app.extensions)}

    @framework.endpoint("/admin/reload-all", methods=["POST"])
    async def reload_all(self):
        self.app.signal_reload()
        return {"signalled": True, "pid": os.getpid()}

    @framework.endpoint("/admin/state")
    async def state(self):
        return {k: repr(v) for k, v in sorted(vars(self.app.state).items())}

    @framework.endpoint("/cookie/set", methods=["POST"])
    async def set_cookie(self, request: framework.Request):
        value = (await request.body.bytes()).decode()
        response = framework.responses.JSONResponse({"set": value})
        response.set_cookie("flavour", value, max_age=60, httponly=True)
        return response

    @framework.endpoint("/cookie/get")
    async def get_cookie(self, request: framework.Request):
        return {"flavour": request.cookies.get("flavour")}

    @framework.endpoint("/cookie/delete", methods=["POST"])
    async def delete_cookie(self):
        response = framework.responses.JSONResponse({"deleted": True})
        response.delete_cookie("flavour")
        return response


initial = [n for n in os.environ.get("PYRE_TEST_EXTENSIONS", "").split(",") if n]
app = App(extensions=initial)
app.state.preexisting = "before any extension"
app.add_blueprint(Admin(app))
