"""Worker processes under a supervisor, sharing one listener: ``--workers N``, rolling
restarts on SIGHUP, and ``--max-requests`` recycling.

How it works: the supervisor binds the listening socket once and forks the workers;
each serves it as an inherited descriptor (``--fd``), so the kernel's one accept
queue feeds them all and no connection is lost when a worker exits (the socket stays
open in the others and in the supervisor). A shared listener rather than one
``SO_REUSEPORT`` listener per worker: with ``SO_REUSEPORT`` the connections queued
on an exiting worker's own listener are reset, which would drop requests at every
restart (docs/server.md#workers has the measurements).

Each worker has a pipe to the supervisor on which it reports ``ready`` once it
listens and ``retire`` once it has served its ``--max-requests``. A worker is
*replaced* by starting its successor, waiting until the successor is ready, and only
then sending the old one SIGTERM, so the number of ready workers never drops:
SIGHUP replaces every worker this way, one at a time (the new workers import the
application afresh), and a ``retire`` replaces the worker that sent it. A worker that
dies unasked is respawned (waiting longer each time one dies within a second of
starting). SIGINT or SIGTERM pass SIGTERM on, wait for the workers to drain
(``--timeout-graceful-shutdown``), and exit 0; a second one kills them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from collections import deque
from typing import Any

from pyre import metrics
from pyre.config import Config

logger = logging.getLogger("pyre.error")

#: A worker that dies sooner than this after starting counts as a failed start.
QUICK_DEATH_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
#: How long a new worker may take to start listening before a replacement is given up.
READY_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.1

READY = "ready"
RETIRE = "retire"


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


def _worker(config: Config, fd: int, pipe: Any, metrics_slot: metrics.Slot | None) -> None:
    """A worker process: serve the inherited listener until told to stop, telling
    the supervisor when it is ready and when it has served its --max-requests."""
    from pyre.serve import run_config

    # Its own process group: a Ctrl+C in the terminal reaches the supervisor only,
    # which then stops the workers once, gracefully.
    os.setpgid(0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    # The server takes the inherited descriptor itself (no duplicate stays open), so
    # that when this worker stops accepting, its reference to the listener is gone.
    worker_config = dataclasses.replace(config, fd=fd, uds=None, workers=1)

    def tell(message: str) -> None:
        with contextlib.suppress(OSError):
            pipe.send(message)

    os._exit(
        run_config(
            worker_config,
            supervised=True,
            started=lambda _addresses: tell(READY),
            retire=lambda: tell(RETIRE),
            metrics_slot=metrics_slot,
        )
    )


@dataclasses.dataclass(eq=False)
class Worker:
    process: Any
    pipe: Any
    started: float
    ready: bool = False
    #: Replaced (or being stopped): its exit is expected, not respawned.
    retiring: bool = False

    @property
    def pid(self) -> int:
        pid: int = self.process.pid
        return pid


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.context = multiprocessing.get_context("fork")
        self.workers: list[Worker] = []
        #: Workers to replace, in order (a SIGHUP queues them all, a retire one).
        self.to_replace: deque[Worker] = deque()
        self.stopping = False
        self.forced = False
        self.hangup = False
        self.backoff = 0.0
        self.fd = -1
        self.metrics = metrics.Metrics.for_workers(config)  # --metrics-port

    # -- signals ------------------------------------------------------------------

    def on_stop_signal(self, signum: int, frame: Any) -> None:
        if self.stopping:
            self.forced = True
        self.stopping = True

    def on_hangup(self, signum: int, frame: Any) -> None:
        self.hangup = True

    # -- workers ------------------------------------------------------------------

    def spawn(self) -> Worker:
        receiver, sender = self.context.Pipe(duplex=False)
        slot = self.metrics.claim() if self.metrics else None
        process = self.context.Process(
            target=_worker, args=(self.config, self.fd, sender, slot), daemon=False
        )
        process.start()
        sender.close()
        if self.metrics:
            self.metrics.assign(slot, process.pid)
        worker = Worker(process, receiver, time.monotonic())
        self.workers.append(worker)
        logger.info("Started worker process [%d]", process.pid)
        return worker

    def read_messages(self, timeout: float) -> None:
        """Waits up to ``timeout`` for worker messages and handles them."""
        pipes = {w.pipe: w for w in self.workers if not w.pipe.closed}
        for pipe in multiprocessing.connection.wait(list(pipes), timeout):
            worker = pipes[pipe]  # type: ignore[index]
            try:
                message = pipe.recv()  # type: ignore[union-attr]
            except (EOFError, OSError):
                pipe.close()  # type: ignore[union-attr]
                continue
            if message == READY:
                worker.ready = True
            elif message == RETIRE and not worker.retiring and worker not in self.to_replace:
                logger.info("Worker [%d] served its --max-requests; replacing it", worker.pid)
                self.to_replace.append(worker)

    def reap(self) -> None:
        """Forgets workers that exited; counts an unasked death towards the backoff."""
        for worker in [w for w in self.workers if not w.process.is_alive()]:
            worker.process.join()
            worker.pipe.close()
            if self.metrics:
                self.metrics.retire(worker.pid)
            self.workers.remove(worker)
            if worker in self.to_replace:
                self.to_replace.remove(worker)
            if worker.retiring:
                logger.info("Worker [%d] stopped", worker.pid)
                continue
            quick = time.monotonic() - worker.started < QUICK_DEATH_SECONDS
            self.backoff = min(max(self.backoff * 2, 0.5), MAX_BACKOFF_SECONDS) if quick else 0
            logger.warning(
                "Worker [%d] exited with %s; starting another%s",
                worker.pid,
                worker.process.exitcode,
                f" in {self.backoff:.1f} s" if self.backoff else "",
            )

    def respawn_missing(self) -> None:
        missing = self.config.workers - sum(1 for w in self.workers if not w.retiring)
        if missing <= 0 or self.stopping:
            return
        if self.backoff:
            deadline = time.monotonic() + self.backoff
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(0.05)
            if self.stopping:
                return
        for _ in range(missing):
            self.spawn()

    def replace(self, old: Worker) -> None:
        """Starts ``old``'s successor, waits until it listens, then stops ``old``."""
        if old not in self.workers or old.retiring:
            return
        new = self.spawn()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not new.ready:
            if self.stopping or not new.process.is_alive() or time.monotonic() > deadline:
                logger.error("Worker [%d] did not start; keeping worker [%d]", new.pid, old.pid)
                new.retiring = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(new.pid, signal.SIGTERM)
                self.to_replace.clear()
                return
            self.read_messages(POLL_SECONDS)
        old.retiring = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(old.pid, signal.SIGTERM)
        logger.info("Worker [%d] replaced by [%d]", old.pid, new.pid)

    # -- main loop ----------------------------------------------------------------

    def run(self) -> int:
        self.config.configure_logging()
        sock = bind(self.config)
        self.fd = sock.fileno()
        logger.info(
            "Pyre supervisor [%d] on %s with %d workers",
            os.getpid(),
            _where(sock.getsockname()),
            self.config.workers,
        )
        if self.metrics:
            self.metrics.serve()
        handlers = {
            signal.SIGINT: self.on_stop_signal,
            signal.SIGTERM: self.on_stop_signal,
            signal.SIGHUP: self.on_hangup,
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            for _ in range(self.config.workers):
                self.spawn()
            while not self.stopping:
                self.read_messages(POLL_SECONDS)
                self.reap()
                self.respawn_missing()
                if self.hangup:
                    self.hangup = False
                    logger.info("SIGHUP: replacing the workers one by one")
                    self.to_replace.extend(w for w in self.workers if not w.retiring)
                while self.to_replace and not self.stopping:
                    self.replace(self.to_replace.popleft())
            # The listener closes once the last worker has taken what is queued on it
            # and let it go: from then on connections are refused, not reset.
            sock.close()
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

    def stop_workers(self) -> None:
        logger.info("Stopping %d workers", len(self.workers))
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.timeout_graceful_shutdown + 5
        for worker in self.workers:
            while worker.process.is_alive() and time.monotonic() < deadline and not self.forced:
                worker.process.join(0.1)
        for worker in self.workers:
            if worker.process.is_alive():
                logger.warning("Killing worker [%d]", worker.pid)
                worker.process.kill()
                worker.process.join()


def _where(address: Any) -> str:
    if isinstance(address, str):
        return f"unix socket {address}"
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_workers(config: Config) -> int:
    return Supervisor(config).run()
