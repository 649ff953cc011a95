"""The TechEmpower tests on Robyn, shaped as TechEmpower's robyn entry: async
route functions returning ``Response`` objects, the pool made by a startup handler.
Run as ``python -m benchmarks.tfb.robyn_app --processes 1 --workers 1`` with
``TFB_PORT`` (and the database variables of benchmarks/tfb/common.py) from its own
environment (.venv-tfb-robyn: robyn 0.88 pins uvloop 0.22, the other peers' is 0.23);
it listens on 127.0.0.1."""

from __future__ import annotations

import os
from typing import Any

from benchmarks.tfb import common
from robyn import Headers, Response, Robyn

app = Robyn(__file__)


def _headers(content_type: str) -> Headers:
    # Robyn sends no Server header of its own; TechEmpower requires one.
    return Headers({"Content-Type": content_type, "Server": "robyn"})


def _query(request: Any) -> int:
    return common.clamp(request.query_params.get("queries", None))


@app.get("/json")
async def json(request: Any) -> Response:
    return Response(200, _headers(common.JSON), common.dumps(common.HELLO))


@app.get("/plaintext")
async def plaintext(request: Any) -> Response:
    return Response(200, _headers(common.TEXT), common.PLAINTEXT)


@app.get("/db")
async def db(request: Any) -> Response:
    return Response(200, _headers(common.JSON), await common.db())


@app.get("/queries")
async def queries(request: Any) -> Response:
    return Response(200, _headers(common.JSON), await common.queries(_query(request)))


@app.get("/fortunes")
async def fortunes(request: Any) -> Response:
    return Response(200, _headers(common.HTML), await common.fortunes())


@app.get("/updates")
async def updates(request: Any) -> Response:
    return Response(200, _headers(common.JSON), await common.updates(_query(request)))


app.startup_handler(common.create_pool)
app.shutdown_handler(common.close_pool)

if __name__ == "__main__":
    app.start(host="127.0.0.1", port=int(os.environ["TFB_PORT"]))
