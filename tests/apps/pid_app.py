"""Answers every request with the serving process's pid (tests/test_workers.py);
``?sleep=S`` waits S seconds first, so that requests are in flight."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import parse_qs


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    sleep = parse_qs(scope["query_string"].decode()).get("sleep")
    if sleep:
        await asyncio.sleep(float(sleep[0]))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
