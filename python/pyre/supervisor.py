"""``--workers N``: N worker processes under a supervisor, sharing one listener.

How it works: the supervisor binds the listening socket once and forks the workers;
each serves it as an inherited descriptor (``--fd``), so the kernel's one accept
queue feeds them all and no connection is lost when a worker exits (the socket stays
open in the others and in the supervisor). A shared listener rather than one
``SO_REUSEPORT`` listener per worker: with ``SO_REUSEPORT`` the connections queued
on an exiting worker's own listener are reset, which would drop requests at every
restart. The supervisor respawns a worker that dies (waiting longer each time one
dies within a second of starting), and on SIGINT or SIGTERM passes SIGTERM on, waits
for the workers to drain (``--timeout-graceful-shutdown``), and exits 0; a second
signal kills them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import time
from typing import Any

from pyre import metrics
from pyre.config import Config

logger = logging.getLogger("pyre.error")

#: A worker that dies sooner than this after starting counts as a failed start.
QUICK_DEATH_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0


def bind(config: Config) -> socket.socket:
    """The listening socket every worker serves."""
    if config.fd is not None:
        return socket.socket(fileno=config.fd)
    if config.uds is not None:
        with contextlib.suppress(FileNotFoundError):
            if os.path.exists(config.uds) and not os.path.isfile(config.uds):
                os.unlink(config.uds)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(config.uds)
    else:
        host = "::1" if config.host == "localhost" else config.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, config.port))
    sock.listen(config.backlog)
    sock.set_inheritable(True)
    return sock


def _worker(config: Config, fd: int, metrics_slot: metrics.Slot | None = None) -> None:
    """A worker process: serve the inherited listener until told to stop."""
    from pyre.serve import run_config

    # Its own process group: a Ctrl+C in the terminal reaches the supervisor only,
    # which then stops the workers once, gracefully.
    os.setpgid(0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    worker_config = dataclasses.replace(config, fd=os.dup(fd), uds=None, workers=1)
    os._exit(run_config(worker_config, metrics_slot))


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.context = multiprocessing.get_context("fork")
        self.workers: list[tuple[Any, float]] = []  # (process, started)
        self.stopping = False
        self.forced = False
        self.backoff = 0.0
        self.metrics = metrics.Metrics.for_workers(config)  # --metrics-port

    def spawn(self, fd: int) -> None:
        slot = self.metrics.claim() if self.metrics else None
        process = self.context.Process(target=_worker, args=(self.config, fd, slot), daemon=False)
        process.start()
        if self.metrics:
            self.metrics.assign(slot, process.pid)
        self.workers.append((process, time.monotonic()))
        logger.info("Started worker process [%d]", process.pid)

    def on_signal(self, signum: int, frame: Any) -> None:
        if self.stopping:
            self.forced = True
        self.stopping = True

    def run(self) -> int:
        self.config.configure_logging()
        sock = bind(self.config)
        address = sock.getsockname()
        where = (
            f"unix socket {address}"
            if isinstance(address, str)
            else (
                f"http://{address[0]}:{address[1]}"
                if ":" not in address[0]
                else f"http://[{address[0]}]:{address[1]}"
            )
        )
        logger.info(
            "Pyre supervisor [%d] on %s with %d workers",
            os.getpid(),
            where,
            self.config.workers,
        )
        if self.metrics:
            self.metrics.serve()
        previous = {
            sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for _ in range(self.config.workers):
                self.spawn(sock.fileno())
            while not self.stopping:
                self.reap_and_respawn(sock.fileno())
                time.sleep(0.1)
            self.stop_workers()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
            if self.metrics:
                self.metrics.close()
            if self.config.uds is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.config.uds)
        logger.info("Supervisor finished")
        return 0

    def reap_and_respawn(self, fd: int) -> None:
        alive = []
        for process, started in self.workers:
            if process.is_alive():
                alive.append((process, started))
                continue
            process.join()
            if self.metrics:
                self.metrics.retire(process.pid)
            quick = time.monotonic() - started < QUICK_DEATH_SECONDS
            self.backoff = min(max(self.backoff * 2, 0.5), MAX_BACKOFF_SECONDS) if quick else 0
            logger.warning(
                "Worker [%d] exited with %s; starting another%s",
                process.pid,
                process.exitcode,
                f" in {self.backoff:.1f} s" if self.backoff else "",
            )
        self.workers = alive
        missing = self.config.workers - len(self.workers)
        if missing and not self.stopping:
            if self.backoff:
                deadline = time.monotonic() + self.backoff
                while time.monotonic() < deadline and not self.stopping:
                    time.sleep(0.05)
                if self.stopping:
                    return
            for _ in range(missing):
                self.spawn(fd)

    def stop_workers(self) -> None:
        logger.info("Stopping %d workers", len(self.workers))
        for process, _ in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.timeout_graceful_shutdown + 5
        for process, _ in self.workers:
            while process.is_alive() and time.monotonic() < deadline and not self.forced:
                process.join(0.1)
        for process, _ in self.workers:
            if process.is_alive():
                logger.warning("Killing worker [%d]", process.pid)
                process.kill()
                process.join()


def run_workers(config: Config) -> int:
    return Supervisor(config).run()
