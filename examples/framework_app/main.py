"""The framework example application (docs/framework.md): ``make serve-framework``.

curl http://127.0.0.1:8000/hello/World
curl -X POST -d '{"age": 42}' http://127.0.0.1:8000/hello/Ann
curl -c jar -X POST http://127.0.0.1:8000/account/login/ann
curl -b jar http://127.0.0.1:8000/account/me
curl -X POST http://127.0.0.1:8000/admin/reload/blueprint   # reload views live
"""

from __future__ import annotations

import os
import time

from pyre import framework
from pyre.framework import App, ExtensionError, Request


async def timing(request: Request, call_next):
    """A global middleware: how long each request took, in a response header."""
    started = time.perf_counter()
    response = await call_next(request)
    response.headers.append(("x-elapsed-ms", f"{(time.perf_counter() - started) * 1000:.2f}"))
    return response


class Admin(framework.Blueprint):
    """Loads, unloads and reloads the extensions while the server runs (keep such
    an endpoint behind authentication in a real application)."""

    def __init__(self, app: App):
        self._app = app

    @framework.endpoint("/admin/{action}/{name}", methods=["POST"])
    async def manage(self, action: str, name: str):
        operation = {
            "load": self._app.load_extension,
            "unload": self._app.unload_extension,
            "reload": self._app.reload_extension,
        }.get(action)
        if operation is None:
            return {"error": f"unknown action {action!r}"}, 404
        try:
            await operation(f"examples.framework_app.{name}")
        except ExtensionError as exc:
            return {"error": str(exc)}, 409
        return {"extensions": sorted(self._app.extensions)}


app = App(
    extensions=["examples.framework_app.blueprint", "examples.framework_app.accounts"],
    debug=os.environ.get("PYRE_DEBUG") == "1",
)
app.add_blueprint(Admin(app))
app.add_middleware(timing)
app.enable_sessions(os.environ.get("SESSION_SECRET", "change-me-in-production"))
