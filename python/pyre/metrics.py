"""``--metrics-port``: Prometheus metrics of every worker, summed, on a separate listener.

How it works:

- Counting happens in Rust, on the hot path, with plain integer increments
  (``pyre_net::metrics``: one worker is one thread). ``Server.metrics()`` copies the
  counters and the current gauges out as a snapshot: a fixed layout of u64 words, so
  snapshots from different processes add up word by word.
- The process that owns the listener (the supervisor with ``--workers N``, else the
  single server process) makes a :class:`Board` before it forks: an anonymous
  ``MAP_SHARED`` mmap, so the children share it, with one fixed-size slot per worker.
  A slot is a sequence number and a snapshot.
- Each server publishes its snapshot into its slot from the event loop every
  :data:`PUBLISH_SECONDS` (:class:`Publisher`: a microsecond or two each time) and
  once more when it stops. So a scrape sees values at most that old.
- A publication is a seqlock: the sequence number goes odd, the snapshot is copied
  in, the number goes even. A reader copies the slot and retries while the number was
  odd or changed, so it never adds up half of one snapshot and half of the next. That
  relies on stores and loads staying in program order, which x86-64 guarantees;
  Python has no memory barriers, so on a weakly ordered CPU (ARM) a scrape may rarely
  mix words of two consecutive snapshots (each word still a value that was counted).
- The exposition server (:class:`Exposition`, ``http.server`` in a thread of the
  owning process) answers ``GET /metrics`` by adding up the live slots and the
  retired total and rendering them in Rust (``_core.render_metrics``, format 0.0.4).
- When a worker exits, the supervisor folds its slot's last snapshot into the
  retired total, counters only (its gauges describe nothing any more), and frees the
  slot: totals never go backwards when a worker is replaced. What a worker counted
  after its last publication is lost if it is killed (at most PUBLISH_SECONDS' worth);
  one that stops gracefully publishes on its way out.

The supervisor's part is three calls: :meth:`Metrics.claim` a slot before forking a
worker (the worker publishes into it), :meth:`Metrics.assign` it to the worker's pid
after, and :meth:`Metrics.retire` the pid once the worker has been reaped. The board
has twice as many slots as workers, so that replacements started while old workers
still drain (a rolling restart) find a free one.

Why a thread in a process that forks: the thread only waits in ``accept``/``select``
or renders under the board's lock; a forked child never touches that lock, the
thread's sockets or its handler, so the locks a fork copies in a held state cannot
block it.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import socket
import struct
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyre import _core
from pyre.config import Config, ConfigError

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

__all__ = ["CONTENT_TYPE", "PUBLISH_SECONDS", "Board", "Exposition", "Metrics", "Publisher"]

logger = logging.getLogger("pyre.error")

#: How often each server publishes its counters: the most a scrape lags behind.
PUBLISH_SECONDS = 0.25
#: The Prometheus text exposition format's media type.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: A reader that keeps finding a slot mid-write (its writer died between the two
#: halves of a publication) takes the slot as it is after this many tries.
READ_TRIES = 100

_SEQUENCE = struct.Struct("=Q")


class Board:
    """Shared memory with one slot per server process: ``slots`` of
    (sequence number, snapshot). Made before forking; children inherit it."""

    def __init__(self, slots: int) -> None:
        self.snapshot_size = _core.METRICS_SNAPSHOT_BYTES
        self.stride = _SEQUENCE.size + self.snapshot_size
        # fileno -1: anonymous memory; MAP_SHARED is mmap's default on Unix.
        self.memory = mmap.mmap(-1, slots * self.stride, flags=mmap.MAP_SHARED)

    def publish(self, slot: int, snapshot: bytes) -> None:
        """Writes a snapshot into ``slot`` (the slot's single writer calls this)."""
        at = slot * self.stride
        sequence = _SEQUENCE.unpack_from(self.memory, at)[0]
        _SEQUENCE.pack_into(self.memory, at, sequence + 1)  # odd: being written
        start = at + _SEQUENCE.size
        self.memory[start : start + self.snapshot_size] = snapshot
        _SEQUENCE.pack_into(self.memory, at, sequence + 2)

    def read(self, slot: int) -> bytes:
        """The snapshot in ``slot``, whole (see the module's docstring)."""
        at = slot * self.stride
        start = at + _SEQUENCE.size
        data = b""
        for _ in range(READ_TRIES):
            before = _SEQUENCE.unpack_from(self.memory, at)[0]
            data = self.memory[start : start + self.snapshot_size]
            if before % 2 == 0 and _SEQUENCE.unpack_from(self.memory, at)[0] == before:
                return data
        return data

    def clear(self, slot: int) -> None:
        """Zeroes ``slot`` (no writer may be using it)."""
        at = slot * self.stride
        self.memory[at : at + self.stride] = bytes(self.stride)

    def close(self) -> None:
        self.memory.close()


@dataclass(frozen=True)
class Slot:
    """Where one server publishes: a board and a slot in it."""

    board: Board
    index: int

    def publish_from(self, loop: asyncio.AbstractEventLoop, server: Any) -> Publisher:
        """Publishes ``server.metrics()`` now and every PUBLISH_SECONDS."""
        return Publisher(loop, server, self)


class Publisher:
    """Publishes a server's snapshot every PUBLISH_SECONDS from its event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Any, slot: Slot) -> None:
        self.loop = loop
        self.server = server
        self.slot = slot
        self.handle: asyncio.TimerHandle | None = None
        self.run()

    def run(self) -> None:
        try:
            self.slot.board.publish(self.slot.index, self.server.metrics())
        finally:
            self.handle = self.loop.call_later(PUBLISH_SECONDS, self.run)

    def stop(self) -> None:
        """Stops publishing, after a last publication of the final counts."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.slot.board.publish(self.slot.index, self.server.metrics())


class Metrics:
    """The owner's side: the board, which slot each worker has, the counters of
    workers that exited, and the exposition server."""

    def __init__(self, config: Config, slots: int) -> None:
        self.config = config
        self.board = Board(slots)
        self.lock = threading.Lock()
        self.free = list(range(slots))
        self.live: set[int] = set()  # claimed slots, read at every scrape
        self.pids: dict[int, int] = {}  # worker pid -> slot
        self.retired = bytes(self.board.snapshot_size)
        self.exposition: Exposition | None = None

    @classmethod
    def for_workers(cls, config: Config) -> Metrics | None:
        """For a supervisor of ``config.workers`` workers, or None without
        ``--metrics-port``."""
        if config.metrics_port is None:
            return None
        return cls(config, slots=2 * config.workers)

    def serve(self) -> None:
        """Starts the exposition server; raises ConfigError if it cannot listen."""
        host, port = self.config.metrics_host, self.config.metrics_port
        assert port is not None
        try:
            self.exposition = Exposition(host, port, self)
        except OSError as exc:
            raise ConfigError("metrics_port", f"cannot listen on {host}:{port}: {exc}") from None
        logger.info("Pyre metrics on %s", self.exposition.url)

    def claim(self) -> Slot | None:
        """A cleared slot for a server about to start (None if all are taken: that
        server's counts are then not shown)."""
        with self.lock:
            if not self.free:
                logger.warning("No free metrics slot: a worker's counts will be missing")
                return None
            index = self.free.pop(0)
            self.board.clear(index)
            self.live.add(index)
        return Slot(self.board, index)

    def assign(self, slot: Slot | None, pid: int) -> None:
        """Records that worker ``pid`` publishes into ``slot``."""
        if slot is not None:
            self.pids[pid] = slot.index

    def retire(self, pid: int) -> None:
        """Worker ``pid`` exited: keep its counters, free its slot."""
        index = self.pids.pop(pid, None)
        if index is None:
            return
        with self.lock:
            self.retired = _core.retire_metrics(self.retired, self.board.read(index))
            self.live.discard(index)
            self.free.append(index)

    def render(self) -> str:
        """The Prometheus text of all live servers plus the retired counters."""
        with self.lock:
            snapshots = [self.retired] + [self.board.read(i) for i in sorted(self.live)]
        return _core.render_metrics(snapshots)

    def close(self) -> None:
        if self.exposition is not None:
            self.exposition.close()
            self.exposition = None
        self.board.close()


def serve_single(config: Config) -> tuple[Metrics, Slot] | None:
    """For a single server process with ``--metrics-port``: the metrics it owns (the
    exposition started) and its own slot. None without ``--metrics-port``."""
    if config.metrics_port is None:
        return None
    metrics = Metrics(config, slots=1)
    metrics.serve()
    slot = metrics.claim()
    assert slot is not None
    return metrics, slot


def _http_server(host: str, port: int, render: Callable[[], str]) -> ThreadingHTTPServer:
    """An ``http.server`` answering ``GET /metrics`` with ``render()`` (imported here:
    a server without ``--metrics-port`` does not pay for http.server's imports)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from socketserver import TCPServer

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True
        allow_reuse_address = True

        def server_bind(self) -> None:
            # HTTPServer.server_bind looks the host up in DNS (getfqdn): not needed.
            TCPServer.server_bind(self)
            self.server_name = str(self.server_address[0])
            self.server_port = self.server_address[1]

    class Handler(BaseHTTPRequestHandler):
        server_version = "pyre-metrics"
        sys_version = ""  # not the Python version

        def do_GET(self) -> None:
            self.answer(with_body=True)

        def do_HEAD(self) -> None:
            self.answer(with_body=False)

        def answer(self, *, with_body: bool) -> None:
            if self.path.partition("?")[0] == "/metrics":
                status, content_type, body = 200, CONTENT_TYPE, render().encode()
            else:
                status, content_type, body = 404, "text/plain; charset=utf-8", b"not found\n"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes are not access-logged

    return Server((host, port), Handler)


class Exposition:
    """``GET /metrics`` on ``host:port`` (port 0 picks a free one), in a thread."""

    def __init__(self, host: str, port: int, metrics: Metrics) -> None:
        host = "::1" if host == "localhost" else host
        self.httpd = _http_server(host, port, metrics.render)
        # Forked workers inherit the listening socket; they must not keep the port
        # bound should the supervisor go away.
        own = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _close_in_child(own))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="pyre-metrics", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/metrics"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def _close_in_child(exposition: weakref.ref[Exposition]) -> None:
    alive = exposition()
    if alive is not None:
        alive.httpd.socket.close()
