"""An ordinary FastAPI application, written as a user would, for tests/test_frameworks.py.

Events the tests look for (background work, dependency cleanup, cancellation, lifespan)
are recorded, one line each, in the file named by ``PYRE_TEST_CALLS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import (
    BackgroundTasks,
    Depends,
    FastAPI,
    Form,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
    record("lifespan startup")
    yield {"settings": {"name": "pyre-test", "version": 3}}
    record("lifespan shutdown")


app = FastAPI(lifespan=lifespan)


class ItemIn(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []
    secret: str = "hidden"


class ItemOut(BaseModel):
    name: str
    price: float
    tags: list[str]
    price_with_tax: float


def settings(request: Request) -> dict[str, object]:
    return request.state.settings


def require_token(x_token: Annotated[str, Header()]) -> str:
    if x_token != "let-me-in":
        raise HTTPException(status_code=401, detail="bad token")
    return x_token


def session(x_session: Annotated[str, Header()] = "anonymous") -> Iterator[str]:
    """A dependency with cleanup (yield)."""
    record(f"session open {x_session}")
    yield x_session
    record(f"session closed {x_session}")


@app.get("/items/{item_id}")
async def read_item(
    item_id: Annotated[int, Path(ge=1)],
    q: Annotated[str | None, Query(max_length=5)] = None,
    limit: int = 10,
) -> dict[str, object]:
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/items", response_model=ItemOut, status_code=201)
async def create_item(item: ItemIn) -> dict[str, object]:
    return {**item.model_dump(), "price_with_tax": round(item.price * 1.2, 2)}


@app.post("/form")
async def submit_form(
    name: Annotated[str, Form()],
    age: Annotated[int, Form()],
    upload: UploadFile,
) -> dict[str, object]:
    content = await upload.read()
    return {
        "name": name,
        "age": age,
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


@app.get("/protected")
async def protected(
    token: Annotated[str, Depends(require_token)],
    user: Annotated[str, Depends(session)],
    config: Annotated[dict[str, object], Depends(settings)],
) -> dict[str, object]:
    return {"token": token, "user": user, "app": config["name"]}


@app.get("/state")
async def state(request: Request) -> dict[str, object]:
    return {"settings": request.state.settings}


@app.get("/stream")
async def stream(n: int = 5, delay: float = 0.05) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(n):
            yield f"part {i}\n".encode()
            await asyncio.sleep(delay)

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/forever")
async def forever() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        record("forever started")
        i = 0
        try:
            while True:
                yield f"tick {i}\n".encode()
                i += 1
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            record("forever cancelled")
            raise
        finally:
            record("forever finally")

    return StreamingResponse(chunks(), media_type="text/plain")


def write_note(token: str) -> None:
    """A sync background task (FastAPI runs it in the threadpool) that waits, bounded,
    for the file the test creates once it has the response."""
    record(f"background started {token}")
    go = f"{os.environ['PYRE_TEST_CALLS']}.go-{token}"
    deadline = time.monotonic() + 10
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            record(f"background gave up {token}")
            return
        time.sleep(0.02)
    main = threading.current_thread() is threading.main_thread()
    record(f"background done {token} main_thread={main}")


async def async_note(token: str) -> None:
    await asyncio.sleep(0.01)
    record(f"async background {token}")


@app.post("/notify", status_code=202)
async def notify(token: str, tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(write_note, token)
    tasks.add_task(async_note, token)
    return {"queued": token}


@app.get("/sync")
def sync_endpoint(n: int = 1) -> dict[str, object]:
    time.sleep(0.01)
    return {"main_thread": threading.current_thread() is threading.main_thread(), "double": n * 2}


@app.get("/async")
async def async_endpoint() -> dict[str, object]:
    current = asyncio.current_task()
    return {
        "has_task": current is not None,
        "main_thread": threading.current_thread() is threading.main_thread(),
    }
