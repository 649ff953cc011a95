"""Server-sent events (the ``text/event-stream`` format of the HTML standard):
``EventSourceResponse(events())`` streams what an async iterator yields.

    async def ticks():
        for n in range(3):
            yield ServerSentEvent(data={"n": n}, event="tick", id=str(n))
            await asyncio.sleep(1)

    return EventSourceResponse(ticks(), ping=15)

An item is a :class:`ServerSentEvent`, a ``dict`` of its fields (``data``,
``event``, ``id``, ``retry``, ``comment``), or a ``str`` (only data). Data that is not
a str is sent as JSON; a multi-line str becomes one ``data:`` line per line. While the
iterator yields nothing for ``ping`` seconds a comment line (``: ping``) is sent, so
that proxies and the browser keep the connection. The response carries
``Cache-Control: no-cache`` and ``X-Accel-Buffering: no`` (nginx would buffer it).
When the client goes away, the iterator is closed (its ``finally`` blocks run).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

import orjson

from pyre.framework.responses import StreamingResponse

#: Seconds of silence after which a keep-alive comment is sent (the default ``ping``).
DEFAULT_PING_SECONDS = 15.0

_LINES = re.compile(r"\r\n|\r|\n")


class ServerSentEvent:
    """One event. ``event``, ``id`` and ``comment`` may not contain line breaks
    (``id`` not NUL either); ``retry`` is the reconnection delay in milliseconds."""

    def __init__(
        self,
        data: Any = None,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        for name, value in (("event", event), ("id", id)):
            if value is not None and _LINES.search(value):
                raise ValueError(f"a server-sent event's {name} cannot hold a line break")
        if id is not None and "\x00" in id:
            raise ValueError("a server-sent event's id cannot hold NUL")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        lines = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _LINES.split(self.comment))
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        if self.data is not None:
            text = self.data if isinstance(self.data, str) else orjson.dumps(self.data).decode()
            lines.extend(f"data: {line}" for line in _LINES.split(text))
        return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode_event(item: Any) -> bytes:
    """The bytes of one item an event iterator yielded."""
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, Mapping):
        return ServerSentEvent(**item).encode()
    if isinstance(item, bytes):
        item = item.decode("utf-8")
    return ServerSentEvent(data=str(item)).encode()


class EventSourceResponse(StreamingResponse):
    """A stream of server-sent events from an async (or sync) iterator; ``ping``
    seconds of silence send a keep-alive comment (``None``: never)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        ping: float | None = DEFAULT_PING_SECONDS,
        background: Any = None,
    ) -> None:
        fields = {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
        super().__init__(content, status=status, headers=fields, background=background)
        self.ping = ping

    async def _pieces(self) -> AsyncIterator[bytes]:
        content = self.content
        events = content.__aiter__() if isinstance(content, AsyncIterable) else _as_async(content)
        finished = object()

        async def following() -> Any:
            try:
                return await events.__anext__()
            except StopAsyncIteration:
                return finished

        pending: asyncio.Task[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(following())
                done, _ = await asyncio.wait({pending}, timeout=self.ping)
                if not done:
                    yield b": ping\n\n"
                    continue
                item, pending = pending.result(), None
                if item is finished:
                    return
                yield encode_event(item)
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()


async def _as_async(content: Iterable[Any]) -> AsyncIterator[Any]:
    """A sync iterator, advanced in a worker thread."""
    iterator = iter(content)
    done = object()
    while (item := await asyncio.to_thread(next, iterator, done)) is not done:
        yield item
