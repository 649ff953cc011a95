"""The connection pool: connections per origin, kept alive for reuse within limits.

How it works: ``acquire`` takes the most recently used idle connection of the origin
(skipping ones the server closed, which the runtime marks, and ones idle longer
than ``keepalive_expiry``), else reserves a slot for a new connection if the limits
allow (closing another origin's idle connection to make room if the total is
reached), else waits until a connection is released or closed. ``release`` hands the
connection back to the runtime, which keeps it only if the exchange is complete and
both sides allow reuse (a response not read to its end is closed, unless its rest
was already received); a kept connection goes to the idle list. A timer, armed only
while idle connections exist, closes the expired ones.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable

from pyre._core import ClientCore
from pyre.client._config import Limits
from pyre.client._errors import PoolTimeout

# Connections are pooled per scheme, host, port and TLS settings (their key; None
# for http), so that a connection is only reused with the settings it was made with.
Origin = tuple[str, str, int, Hashable]

# How often expired idle connections are swept, at most (seconds).
SWEEP_INTERVAL = 1.0


class Pool:
    def __init__(self, core: ClientCore, loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
        self._core = core
        self._loop = loop
        self._limits = limits
        self._idle: dict[Origin, list[tuple[int, float]]] = {}
        self._open: dict[Origin, int] = {}
        self._total = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def total(self) -> int:
        """Open connections (idle, busy and connecting)."""
        return self._total

    def idle_count(self, origin: Origin | None = None) -> int:
        if origin is not None:
            return len(self._idle.get(origin, ()))
        return sum(len(v) for v in self._idle.values())

    def take_idle(self, origin: Origin) -> int | None:
        """A reusable idle connection to ``origin``, or None."""
        idle = self._idle.get(origin)
        if not idle:
            return None
        expiry = self._limits.keepalive_expiry
        now = time.monotonic()
        while idle:
            conn, since = idle.pop()
            if now - since <= expiry and self._core.is_reusable(conn):
                return conn
            self._core.close(conn)
            self._forget(origin)
        return None

    def _can_open(self, origin: Origin) -> bool:
        per_host = self._limits.max_connections_per_host
        if per_host is not None and self._open.get(origin, 0) >= per_host:
            return False
        if self._total < self._limits.max_connections:
            return True
        # At the total limit: make room by closing the oldest idle connection of
        # another origin, if any.
        oldest = None
        for other, idle in self._idle.items():
            if idle and (oldest is None or idle[0][1] < oldest[1]):
                oldest = (other, idle[0][1])
        if oldest is None:
            return False
        conn, _ = self._idle[oldest[0]].pop(0)
        self._core.close(conn)
        self._forget(oldest[0])
        return True

    async def acquire(self, origin: Origin, timeout: float | None) -> int | None:
        """An idle connection to reuse, or None after reserving a slot for a new
        one (the caller then calls ``opened`` or ``forget``)."""
        deadline = None if timeout is None else self._loop.time() + timeout
        while True:
            conn = self.take_idle(origin)
            if conn is not None:
                return conn
            if self._can_open(origin):
                self._open[origin] = self._open.get(origin, 0) + 1
                self._total += 1
                return None
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            remaining = None if deadline is None else deadline - self._loop.time()
            if remaining is not None and remaining <= 0:
                raise PoolTimeout(
                    f"no connection to {origin[1]}:{origin[2]} became free in {timeout}s"
                )
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                raise PoolTimeout(
                    f"no connection to {origin[1]}:{origin[2]} became free in {timeout}s"
                ) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self, origin: Origin, conn: int) -> None:
        """Ends an exchange on ``conn``: kept idle if reusable, else closed."""
        if self._core.release(conn):
            self._idle.setdefault(origin, []).append((conn, time.monotonic()))
            self._arm_sweeper()
        else:
            self._forget(origin)
        self._wake()

    def discard(self, origin: Origin, conn: int) -> None:
        """Closes a connection whose exchange failed or was abandoned."""
        self._core.close(conn)
        self._forget(origin)
        self._wake()

    def forget(self, origin: Origin) -> None:
        """Gives back a slot reserved by ``acquire`` for a connection that failed."""
        self._forget(origin)
        self._wake()

    def _forget(self, origin: Origin) -> None:
        self._total -= 1
        left = self._open.get(origin, 1) - 1
        if left:
            self._open[origin] = left
        else:
            self._open.pop(origin, None)
            self._idle.pop(origin, None)

    def _wake(self) -> None:
        # Every waiter checks again (its origin may still be at its limit).
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _arm_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        expiry = self._limits.keepalive_expiry
        for origin, idle in list(self._idle.items()):
            keep = []
            for conn, since in idle:
                if now - since <= expiry and self._core.is_reusable(conn):
                    keep.append((conn, since))
                else:
                    self._core.close(conn)
                    self._forget(origin)
            if origin in self._idle:
                self._idle[origin] = keep
        if self.idle_count():
            self._arm_sweeper()
        self._wake()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._idle.clear()
        self._open.clear()
        self._total = 0
        self._core.close_all()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()
