"""Applications for tests/test_stepping.py: what asyncio gives a request's coroutine
when Pyre steps it from Rust (crates/pyre-py/src/stepping.rs) instead of wrapping it
in an asyncio Task. ``app`` is ASGI, ``psgi`` the same routes in PSGI. Routes answer
JSON; lines go to the ``PYRE_TEST_CALLS`` file (see tests/apps/probe.py). Routes:

    /task            current_task(): one object before and after a foreign await,
                     and what it offers (cancelling(), get_coro(), done())
    /context?v=X     a ContextVar set to X, read back after a foreign await
    /sleep0          a bare yield (asyncio.sleep(0)) between two reads of the task
    /timeout         asyncio.timeout around a long sleep: TimeoutError
    /timeout-receive asyncio.timeout around a receive() the client never satisfies
                     (ASGI; PSGI: request.body()), then the body read again
    /taskgroup       a TaskGroup of three children; their results
    /taskgroup-error a TaskGroup whose child fails while the parent sleeps
    /self-cancel     current_task().cancel(), caught, uncancel()
    /wait-for        asyncio.wait_for on a pending future: TimeoutError
    /raise           raises from a nested function after a foreign await
    /disconnect      a TaskGroup: a sleeper and a watcher of the client's disconnect;
                     the watcher cancels the sleeper (recorded)
    /forever         sleeps until cancelled (shutdown), recording the cancellation
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
from typing import Any
from urllib.parse import parse_qs

request_value: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_value", default="unset"
)


def record(line: str) -> None:
    path = os.environ.get("PYRE_TEST_CALLS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def nested_failure() -> None:
    raise ValueError("raised from nested_failure")


async def fails_after_sleep() -> None:
    await asyncio.sleep(0.01)
    nested_failure()


async def route(path: str, query: dict[str, str], read_body: Any, wait_disconnect: Any) -> Any:
    """The JSON answer of a route (``read_body`` and ``wait_disconnect`` are the
    interface's own awaitables)."""
    if path == "/task":
        before = asyncio.current_task()
        await asyncio.sleep(0.01)
        after = asyncio.current_task()
        return {
            "present": before is not None,
            "same": before is after,
            "type": type(before).__name__,
            "cancelling": before.cancelling() if before else None,
            "coro": before.get_coro() is not None if before else None,
            "done": before.done() if before else None,
            "id": id(before),
        }
    if path == "/context":
        seen_before = request_value.get()
        request_value.set(query["v"])
        await asyncio.sleep(0.05)
        return {"before": seen_before, "after": request_value.get()}
    if path == "/sleep0":
        before = asyncio.current_task()
        await asyncio.sleep(0)
        return {"same": before is asyncio.current_task()}
    if path == "/timeout":
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(10)
        except TimeoutError:
            return {"timed_out": True, "cancelling": asyncio.current_task().cancelling()}
        return {"timed_out": False}
    if path == "/timeout-receive":
        try:
            async with asyncio.timeout(0.1):
                await read_body()
        except TimeoutError:
            timed_out = True
        else:
            timed_out = False
        body = await read_body()
        return {"timed_out": timed_out, "body": body.decode()}
    if path == "/taskgroup":

        async def child(i: int) -> int:
            await asyncio.sleep(0.01 * i)
            return i * i

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(child(i)) for i in range(3)]
        return {"results": [t.result() for t in tasks]}
    if path == "/taskgroup-error":
        caught: list[str] = []
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(fails_after_sleep())
                await asyncio.sleep(10)
        except Exception as group_error:  # an ExceptionGroup (Python 3.11+)
            caught = [str(e) for e in getattr(group_error, "exceptions", [group_error])]
        return {"caught": caught, "cancelling": asyncio.current_task().cancelling()}
    if path == "/self-cancel":
        task = asyncio.current_task()
        task.cancel()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            remaining = task.uncancel()
            return {"cancelled": True, "remaining": remaining}
        return {"cancelled": False}
    if path == "/wait-for":
        never = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(never, 0.05)
        except TimeoutError:
            return {"timed_out": True, "future_cancelled": never.cancelled()}
        return {"timed_out": False}
    if path == "/raise":
        await fails_after_sleep()
    if path == "/disconnect":

        async def sleeper() -> None:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                record("sleeper cancelled")
                raise

        async with asyncio.TaskGroup() as group:
            sleeping = group.create_task(sleeper())
            await wait_disconnect()
            record("client gone")
            sleeping.cancel()
        record("group done")
        return {}
    if path == "/forever":
        record("forever started")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            record("forever cancelled")
            raise
        return {}
    return {"path": path}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}

    async def read_body() -> bytes:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                return body

    async def wait_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    answer = await route(scope["path"], query, read_body, wait_disconnect)
    body = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def psgi(request: Any, responder: Any) -> None:
    query = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
    answer = await route(request.path, query, request.body, request.disconnected)
    responder.respond(200, [("content-type", "application/json")], json.dumps(answer))


def not_async(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app written with ``def`` where ``async def`` was meant (lifespan off)."""
    return None


class RaisesOnCall:
    """An ASGI app whose call raises before any coroutine exists (lifespan off)."""

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        raise ValueError("raised by the call itself")


raises_on_call = RaisesOnCall()
