"""The ASGI lifespan protocol: startup before serving, shutdown after.

``mode`` is ``"on"`` (a failure to start is fatal), ``"off"`` (never sent), or
``"auto"`` (like uvicorn: an application that raises on the lifespan scope is taken
not to support it, and serving goes on). The ``state`` dict the application fills
during startup is shallow-copied into every request's scope.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger("pyre.error")


class Lifespan:
    def __init__(self, app: Any, mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()
        self._startup_failed = False
        self._shutdown_failed = False
        self._unsupported = False
        self._error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def error(self) -> str | None:
        """Why startup failed, when it did."""
        return self._error

    async def startup(self) -> bool:
        """Runs startup; returns False when serving must not begin."""
        if self.mode == "off":
            return True
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._queue.put({"type": "lifespan.startup"})
        await self._started.wait()
        if self._startup_failed:
            return False
        if self._unsupported and self.mode == "on":
            return False
        return True

    async def shutdown(self) -> None:
        if self.mode == "off" or self._unsupported or self._task is None:
            return
        await self._queue.put({"type": "lifespan.shutdown"})
        await self._stopped.wait()
        if self._shutdown_failed:
            logger.error("Application shutdown failed: %s", self._error or "no message")

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            self._unsupported = not (self._startup_failed or self._shutdown_failed)
            if self.mode == "auto" and self._unsupported:
                logger.info("ASGI 'lifespan' protocol appears unsupported.")
            else:
                self._error = f"{type(exc).__name__}: {exc}"
                logger.error("Exception in 'lifespan' protocol", exc_info=exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._started.set()
            self._stopped.set()

    async def _receive(self) -> dict[str, Any]:
        return await self._queue.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            self._started.set()
        elif kind == "lifespan.startup.failed":
            self._startup_failed = True
            self._error = message.get("message") or "startup failed"
            logger.error("Application startup failed: %s", self._error)
            self._started.set()
        elif kind == "lifespan.shutdown.complete":
            self._stopped.set()
        elif kind == "lifespan.shutdown.failed":
            self._shutdown_failed = True
            self._error = message.get("message") or "shutdown failed"
            self._stopped.set()
        else:
            raise RuntimeError(f"unexpected lifespan message type {kind!r}")
