"""The TechEmpower tests on pyre.framework (``benchmarks.tfb.framework_app:app``,
served by Pyre over PSGI): a blueprint of six endpoints, the pool made by an
``on_startup`` hook. ``/json`` returns a dict and ``/plaintext`` a str, as a
framework user would write them; the database tests return the shared code's JSON
bytes and the fortunes page as an ``HTMLResponse``."""

from __future__ import annotations

from benchmarks.tfb import common

from pyre import framework
from pyre.framework import App, Request
from pyre.framework.responses import HTMLResponse, Response


class TechEmpower(framework.Blueprint):
    @framework.endpoint("/json")
    async def json(self):
        return {"message": "Hello, World!"}

    @framework.endpoint("/plaintext")
    async def plaintext(self):
        return "Hello, World!"

    @framework.endpoint("/db")
    async def db(self):
        return Response(await common.db(), media_type=common.JSON)

    @framework.endpoint("/queries")
    async def queries(self, request: Request):
        count = common.queries_count(request.query_string)
        return Response(await common.queries(count), media_type=common.JSON)

    @framework.endpoint("/fortunes")
    async def fortunes(self):
        return HTMLResponse(await common.fortunes())

    @framework.endpoint("/updates")
    async def updates(self, request: Request):
        count = common.queries_count(request.query_string)
        return Response(await common.updates(count), media_type=common.JSON)


app = App()
app.add_blueprint(TechEmpower())
app.on_startup(common.create_pool)
app.on_shutdown(common.close_pool)
