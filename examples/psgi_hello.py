"""Hello world on PSGI, Pyre's native interface (docs/psgi.md).

    pyre-http examples.psgi_hello:app            # --interface auto picks PSGI

GET /            -> "Hello, world!"
GET /hello/NAME  -> "Hello, NAME!"
POST /echo       -> the request body, streamed back piece by piece
GET /count?n=N   -> N lines, streamed (chunked) with backpressure
"""

from __future__ import annotations

from pyre.psgi import Request, Responder

TEXT = [("content-type", "text/plain; charset=utf-8")]


class App:
    async def __psgi_startup__(self) -> None:
        self.greeting = "Hello"

    async def __psgi__(self, request: Request, responder: Responder) -> None:
        path = request.path
        if path == "/":
            responder.respond(200, TEXT, f"{self.greeting}, world!")
        elif path.startswith("/hello/"):
            responder.respond(200, TEXT, f"{self.greeting}, {path[len('/hello/') :]}!")
        elif path == "/echo" and request.method == "POST":
            stream = responder.start(200, [("content-type", "application/octet-stream")])
            async for piece in request.stream():
                await stream.write(piece)
            await stream.finish()
        elif path == "/count":
            n = int(request.query_string.decode().partition("=")[2] or 10)
            stream = responder.start(200, TEXT)
            for i in range(n):
                await stream.write(f"line {i}\n")
            await stream.finish()
        else:
            responder.respond(404, TEXT, "Not Found")


app = App()
