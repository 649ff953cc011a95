"""A pyre.framework application for tests/test_framework.py: the issue's example
blueprint verbatim (MyEndpoint and setup), plus blueprints exercising converters,
annotations, middleware, return values and errors. Served by Pyre (PSGI, picked
automatically) and by uvicorn (ASGI)."""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import uuid
from typing import Any

from pyre import framework
from pyre.framework import App, HTTPException, Request, responses

# ---- the example, verbatim -----------------------------------------------------------


class MyEndpoint(framework.Blueprint):
    def __init__(self, app: App):
        self._app = app

    @framework.endpoint("/hello/{name:string}", methods=["GET"])
    async def on_get_hello(self, name: str):
        return f"Hello, {name}!"

    @framework.endpoint("/hello/{name:string}", methods=["POST"])
    async def on_post_hello(self, request: Request, name: str):
        body = await request.body.json()
        return responses.JSONResponse(
            {"message": f"Hello, {name}! You are aged: {body['age']}"}, status=200
        )


def setup(app: App):
    app.add_blueprint(MyEndpoint(app))


# ---- the rest ------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Converters(framework.Blueprint):
    prefix = "/conv"

    @framework.endpoint("/int/{n:int}")
    async def int_(self, n: int):
        return {"value": n, "type": type(n).__name__}

    @framework.endpoint("/float/{x:float}")
    async def float_(self, x: float):
        return {"value": x, "type": type(x).__name__}

    @framework.endpoint("/uuid/{u:uuid}")
    async def uuid_(self, u: uuid.UUID):
        return {"value": str(u), "type": type(u).__name__}

    @framework.endpoint("/files/{rest:path}")
    async def path_(self, rest: str):
        return {"value": rest}

    @framework.endpoint("/str/{s:str}")
    async def str_(self, s: str):
        return {"value": s}

    @framework.endpoint("/hex/{h:hex}")
    async def hex_(self, h: str):
        return {"value": h, "route": "hex"}

    @framework.endpoint("/even/{n:even}")
    async def even(self, n: int):
        return {"value": n, "route": "even"}

    @framework.endpoint("/even/{n}")
    async def not_even(self, n: str):
        return {"value": n, "route": "fallback"}

    # Priority: static over typed over string over path.
    @framework.endpoint("/pick/me")
    async def pick_static(self):
        return {"route": "static"}

    @framework.endpoint("/pick/{n:int}")
    async def pick_int(self, n: int):
        return {"route": "int"}

    @framework.endpoint("/pick/{name}")
    async def pick_string(self, name: str):
        return {"route": "string"}

    @framework.endpoint("/pick/{rest:path}")
    async def pick_path(self, rest: str):
        return {"route": "path", "rest": rest}


class Annotations(framework.Blueprint):
    prefix = "/ann"

    @framework.endpoint("/int/{v}")
    async def a_int(self, v: int):
        return {"value": v, "type": type(v).__name__}

    @framework.endpoint("/float/{v}")
    async def a_float(self, v: float):
        return {"value": v, "type": type(v).__name__}

    @framework.endpoint("/bool/{v}")
    async def a_bool(self, v: bool):
        return {"value": v, "type": type(v).__name__}

    @framework.endpoint("/str/{v}")
    async def a_str(self, v: str):
        return {"value": v, "type": type(v).__name__}

    @framework.endpoint("/uuid/{v}")
    async def a_uuid(self, v: uuid.UUID):
        return {"value": str(v), "type": type(v).__name__}

    @framework.endpoint("/decimal/{v}")
    async def a_decimal(self, v: decimal.Decimal):
        return {"value": str(v), "type": type(v).__name__}

    @framework.endpoint("/date/{v}")
    async def a_date(self, v: datetime.date):
        return {"value": v.isoformat(), "type": type(v).__name__}

    @framework.endpoint("/datetime/{v}")
    async def a_datetime(self, v: datetime.datetime):
        return {"value": v.isoformat(), "type": type(v).__name__}

    @framework.endpoint("/enum/{v}")
    async def a_enum(self, v: Color):
        return {"value": v.value, "type": type(v).__name__}


async def tag_global(request: Request, call_next: Any) -> Any:
    request.state.trail = ["global"]
    response = await call_next(request)
    response.headers.append(("x-trail", ",".join([*request.state.trail, "global-out"])))
    return response


async def tag_blueprint(request: Request, call_next: Any) -> Any:
    request.state.trail.append("blueprint")
    return await call_next(request)


async def tag_endpoint(request: Request, call_next: Any) -> Any:
    request.state.trail.append("endpoint")
    return await call_next(request)


async def refuse(request: Request, call_next: Any) -> Any:
    if request.headers.get("x-let-in") != "yes":
        raise HTTPException(403, "not you")
    return await call_next(request)


class Misc(framework.Blueprint):
    middleware = (tag_blueprint,)

    @framework.endpoint("/trail", middleware=[tag_endpoint])
    async def trail(self, request: Request):
        request.state.trail.append("handler")
        return {"trail": request.state.trail}

    @framework.endpoint("/guarded", middleware=[refuse])
    async def guarded(self):
        return "in"

    @framework.endpoint("/ret/str")
    async def ret_str(self):
        return "text"

    @framework.endpoint("/ret/dict")
    async def ret_dict(self):
        return {"a": 1}

    @framework.endpoint("/ret/list")
    async def ret_list(self):
        return [1, 2]

    @framework.endpoint("/ret/bytes")
    async def ret_bytes(self):
        return b"\x00\x01"

    @framework.endpoint("/ret/none", methods=["GET", "DELETE"])
    async def ret_none(self):
        return None

    @framework.endpoint("/ret/tuple")
    async def ret_tuple(self):
        return "created", 201

    @framework.endpoint("/ret/tuple3")
    async def ret_tuple3(self):
        return {"ok": True}, 202, {"x-extra": "1"}

    @framework.endpoint("/ret/stream")
    async def ret_stream(self):
        async def pieces():
            for i in range(3):
                yield f"piece {i}\n"

        return pieces()

    @framework.endpoint("/ret/syncstream")
    async def ret_syncstream(self):
        def pieces():
            for i in range(3):
                yield f"sync {i}\n".encode()

        return responses.StreamingResponse(pieces(), media_type="text/plain")

    @framework.endpoint("/ret/html")
    async def ret_html(self):
        return responses.HTMLResponse("<p>hi</p>")

    @framework.endpoint("/ret/redirect")
    async def ret_redirect(self):
        return responses.RedirectResponse("/ret/str")

    @framework.endpoint("/ret/sync")
    def ret_sync(self):
        return "sync handler"

    @framework.endpoint("/teapot")
    async def teapot(self):
        raise HTTPException(418, "short and stout")

    @framework.endpoint("/custom-error")
    async def custom_error(self):
        raise LookupError("gone fishing")

    @framework.endpoint("/crash")
    async def crash(self):
        raise RuntimeError("secret internals")

    @framework.endpoint("/request/{item}", methods=["GET", "POST"])
    async def request_info(self, request: Request, item: str):
        body = await request.body.bytes()
        return {
            "method": request.method,
            "path": request.path,
            "url": request.url,
            "query_a": request.query.get("a"),
            "query_all_a": request.query.getlist("a"),
            "header": request.headers.get("x-thing"),
            "cookies": request.cookies,
            "client_is_tuple": isinstance(request.client, tuple),
            "path_params": request.path_params,
            "app_is_app": isinstance(request.app, App),
            "body": body.decode(),
            "text": await request.body.text(),
        }

    @framework.endpoint("/stream-upload", methods=["POST"])
    async def stream_upload(self, request: Request):
        sizes = [len(piece) async for piece in request.body]
        return {"total": sum(sizes), "pieces": len(sizes)}

    @framework.endpoint("/file", methods=["GET", "POST"])
    async def file(self, request: Request):
        return responses.FileResponse(request.query["path"], media_type="application/x-test")

    @framework.endpoint("/form", methods=["POST"])
    async def form(self, request: Request):
        limits = {k: int(v) for k, v in request.query.items()}
        form = await request.body.form(**limits)
        result: dict[str, Any] = {}
        for name, value in form.multi_items():
            if isinstance(value, str):
                result.setdefault(name, []).append(value)
            else:
                content = await value.read()
                result.setdefault(name, []).append(
                    {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": value.size,
                        "sha256": hashlib.sha256(content).hexdigest(),
                    }
                )
        await form.close()
        return result

    @framework.endpoint("/url")
    async def url(self, request: Request):
        return {
            "hello": request.app.url_for("MyEndpoint.on_get_hello", name="a b"),
            "file": request.app.url_for("Converters.path_", rest="x/y z"),
            "named": request.app.url_for("the-int", n=-5),
        }

    @framework.endpoint("/named/{n:int}", name="the-int")
    async def named(self, n: int):
        return {"n": n}


def make_app(debug: bool = False) -> App:
    app = App(debug=debug, redirect_slashes=True)
    app.add_converter("hex", r"[0-9a-f]+")

    def even(text: str) -> int:
        value = int(text)
        if value % 2:
            raise ValueError("odd")
        return value

    app.add_converter("even", even)
    setup(app)
    for blueprint in (Converters(), Annotations(), Misc()):
        app.add_blueprint(blueprint)
    app.add_middleware(tag_global)

    @app.exception_handler(LookupError)
    async def lookup(request: Request, exc: LookupError):
        return {"error": str(exc)}, 410

    return app


app = make_app()
debug_app = make_app(debug=True)
