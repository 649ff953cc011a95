"""The hello world on robyn (a Python framework on a Rust runtime), a peer of the HTTP
benchmark: ``python benchmarks/apps/hello_robyn.py --port N --processes 1 --workers 1
--log-level WARN`` (its fastest single-core settings; robyn reads its own options
from the command line, this script only ``--host`` and ``--port``). A sync handler:
robyn runs those without an event-loop round trip. Every request gets ``200``,
``content-type: text/plain`` and ``Hello, world!``."""

from __future__ import annotations

import argparse

from robyn import Response, Robyn

BODY = "Hello, world!"
app = Robyn(__file__)


@app.get("/")
def hello() -> Response:
    return Response(status_code=200, headers={"content-type": "text/plain"}, description=BODY)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args, _robyn_options = parser.parse_known_args()
    app.start(host=args.host, port=args.port)
