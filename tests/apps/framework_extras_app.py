"""A pyre.framework app for tests/test_framework_static.py and
tests/test_framework_extras.py: files served from ``$PYRE_TEST_ROOT`` (StaticFiles
mounts and ``FileResponse.from_directory``), downloads, a mounted Starlette app,
background tasks, server-sent events, templates and body limits. Every
``HTTPException`` goes through an exception handler that tags the response with
``x-handled``, so a test can tell the error went through the app's handlers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pyre import framework
from pyre.framework import (
    App,
    BackgroundTasks,
    HTTPException,
    Request,
    ServerSentEvent,
    StaticFiles,
    responses,
)
from pyre.framework.sse import EventSourceResponse

ROOT = Path(os.environ.get("PYRE_TEST_ROOT", "/nonexistent"))
CALLS = os.environ.get("PYRE_TEST_CALLS")


def record(line: str) -> None:
    if CALLS:
        with open(CALLS, "a") as f:
            f.write(line + "\n")


class Files(framework.Blueprint):
    @framework.endpoint("/safe/{rest:path}")
    async def safe(self, rest: str):
        return responses.FileResponse.from_directory(ROOT / "root", rest)

    @framework.endpoint("/echo-path/{rest:path}")
    async def echo_path(self, rest: str):
        return {"rest": rest}

    @framework.endpoint("/missing")
    async def missing(self):
        return responses.FileResponse(ROOT / "root" / "no-such-file.txt")

    @framework.endpoint("/directory")
    async def directory(self):
        return responses.FileResponse(ROOT / "root")

    @framework.endpoint("/download")
    async def download(self, request: Request):
        return responses.FileResponse(ROOT / "root" / "hello.txt", filename=request.query["name"])


# Background tasks: /bg answers, then its task waits until /bg/release is called;
# /bg/state tells what the tasks did.
released = asyncio.Event()
done: list[str] = []


async def wait_for_release(tag: str) -> None:
    await asyncio.wait_for(released.wait(), 10)
    done.append(tag)
    record(f"background {tag}")


def sync_task(tag: str) -> None:
    done.append(tag)


def failing_task() -> None:
    raise RuntimeError("a background task fails")


class Background(framework.Blueprint):
    @framework.endpoint("/bg")
    async def bg(self, tasks: BackgroundTasks):
        released.clear()
        tasks.add_task(wait_for_release, "param")
        tasks.add_task(sync_task, "sync")
        return "sent before the task ran"

    @framework.endpoint("/bg/response")
    async def bg_response(self):
        released.clear()
        return responses.PlainTextResponse("sent", background=lambda: wait_for_release("attr"))

    @framework.endpoint("/bg/release", methods=["POST"])
    async def release(self):
        released.set()
        return {"released": True}

    @framework.endpoint("/bg/state")
    async def state(self):
        return {"done": done}

    @framework.endpoint("/bg/failing")
    async def failing(self, tasks: BackgroundTasks):
        tasks.add_task(failing_task)
        tasks.add_task(sync_task, "after-failure")
        return "ok"


class Events(framework.Blueprint):
    @framework.endpoint("/sse")
    async def sse(self, request: Request):
        count = int(request.query.get("count", "3"))
        pause = float(request.query.get("pause", "0"))

        async def events() -> Any:
            for n in range(count):
                if pause:
                    await asyncio.sleep(pause)
                if n == 0:
                    yield "plain data\nsecond line"
                elif n == 1:
                    yield {"event": "tick", "id": "2", "data": {"n": n}}
                else:
                    yield ServerSentEvent(data=f"event {n}", event="tick", id=str(n), retry=1500)

        return EventSourceResponse(events(), ping=float(request.query.get("ping", "15")))


class Limits(framework.Blueprint):
    @framework.endpoint("/echo/bytes", methods=["POST"])
    async def echo_bytes(self, request: Request):
        return {"size": len(await request.body.bytes())}

    @framework.endpoint("/echo/json", methods=["POST"])
    async def echo_json(self, request: Request):
        return {"keys": sorted(await request.body.json())}

    @framework.endpoint("/echo/form", methods=["POST"])
    async def echo_form(self, request: Request):
        limits = {k: int(v) for k, v in request.query.items()}
        form = await request.body.form(**limits)
        return {k: len(v) if isinstance(v, str) else v.size for k, v in form.items()}

    @framework.endpoint("/echo/stream", methods=["POST"])
    async def echo_stream(self, request: Request):
        return {"size": sum([len(piece) async for piece in request.body])}


class Pages(framework.Blueprint):
    @framework.endpoint("/page/{name}")
    async def page(self, name: str):
        from pyre.framework.templating import Templates

        templates = Templates(directory=ROOT / "templates")
        return templates.response("page.html", {"name": name, "items": ["a", "<b>"]})


app = App(max_body_size=64 * 1024)
app.add_blueprint(Files())
app.add_blueprint(Background())
app.add_blueprint(Events())
app.add_blueprint(Limits())
app.add_blueprint(Pages())
if (ROOT / "root").is_dir():
    app.mount("/static", StaticFiles(directory=ROOT / "root"))
    app.mount(
        "/site",
        StaticFiles(
            directory=ROOT / "root" / "site", html=True, cache_control="public, max-age=60"
        ),
    )


@app.exception_handler(HTTPException)
async def tag_errors(request: Request, exc: HTTPException):
    return responses.JSONResponse(
        {"detail": exc.detail}, status=exc.status, headers={**exc.headers, "x-handled": "yes"}
    )


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def where(request: StarletteRequest) -> JSONResponse:
        return JSONResponse(
            {
                "path": request.url.path,
                "root_path": request.scope.get("root_path"),
                "route": "where",
                "url_for": str(request.url_for("where")),
                "body": (await request.body()).decode(),
            }
        )

    return Starlette(routes=[Route("/where", where, methods=["GET", "POST"], name="where")])


app.mount("/starlette", _starlette_app())
