"""Background tasks: work done after the response was sent, as in Starlette.

    @framework.endpoint("/signup", methods=["POST"])
    async def signup(self, tasks: BackgroundTasks):
        tasks.add_task(send_welcome_mail, "ann@example.com")
        return {"ok": True}

A handler asks for a ``BackgroundTasks`` parameter (by annotation) or sets
``response.background`` (a callable, or a ``BackgroundTasks``). After the response
was handed to the server, the app runs the response's tasks, then the parameter's,
in order: ``async def`` ones on the loop, plain functions in a worker thread. A task
that raises is logged (``pyre.error``) and the next one runs; the client, which
already has its response, never sees it. On Pyre a graceful shutdown waits for
background tasks still running (``--timeout-graceful-shutdown``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("pyre.error")


class BackgroundTask:
    """One call, ``func(*args, **kwargs)``, to make after the response."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs

    async def __call__(self) -> None:
        if inspect.iscoroutinefunction(self.func):
            await self.func(*self.args, **self.kwargs)
            return
        result = await asyncio.to_thread(functools.partial(self.func, *self.args, **self.kwargs))
        if inspect.isawaitable(result):
            await result


class BackgroundTasks(BackgroundTask):
    """Calls to make after the response, in the order added."""

    def __init__(self, tasks: list[BackgroundTask] | None = None) -> None:
        self.tasks = list(tasks or [])

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        for task in self.tasks:
            await _run_one(task)


async def _run_one(task: Any) -> None:
    try:
        if isinstance(task, BackgroundTask):
            await task()
        else:
            result = task()
            if inspect.isawaitable(result):
                await result
    except Exception:
        logger.exception("Exception in background task %r", getattr(task, "func", task))


async def run_background(*tasks: Any) -> None:
    """Runs each of ``tasks`` that is not None (a callable or BackgroundTasks),
    logging what they raise. Called by the app once the response was sent."""
    # Let the server write the response out before the tasks take the loop.
    await asyncio.sleep(0)
    for task in tasks:
        if task is not None:
            await _run_one(task)
