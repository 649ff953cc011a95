"""Worker processes under a supervisor: ``--workers N``, rolling restarts on SIGHUP,
and ``--max-requests`` recycling.

How it works: the supervisor forks the workers. On Linux with a TCP address each
worker binds a ``SO_REUSEPORT`` listener of its own (the kernel spreads connections
over them), while the supervisor holds the port with a bound socket that does not
listen; with ``--uds`` or ``--fd`` the supervisor binds the listener once and the
workers inherit it (one accept queue). ``SO_REUSEPORT`` balances keep-alive
connections better; a stopping worker takes what is queued on its listener before
closing it, so restarts lose nothing either way (measurements in
benchmarks/README.md, "Shared listener vs SO_REUSEPORT").

Each worker has a pipe to the supervisor on which it reports ``ready`` once it
listens and ``retire`` once it has served its ``--max-requests``. A worker is
*replaced* by starting its successor, waiting until the successor is ready, and only
then sending the old one SIGTERM, so the number of ready workers never drops:
SIGHUP replaces every worker this way, one at a time (the new workers import the
application afresh), and a ``retire`` replaces the worker that sent it. A worker that
dies unasked is respawned (waiting longer each time one dies within a second of
starting). SIGINT or SIGTERM pass SIGTERM on, wait for the workers to drain
(``--timeout-graceful-shutdown``), and exit 0; a second one kills them. SIGUSR1 is
passed on to every worker, which calls the application's ``__pyre_reload__``
(pyre.framework reloads its extensions in place, without restarting the worker);
a worker finds the supervisor's pid in ``PYRE_SUPERVISOR_PID`` to ask for that.
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
import sys
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
        sock = _tcp_socket(config, config.port)
    sock.listen(config.backlog)
    sock.set_inheritable(True)
    return sock


def reuse_port(config: Config) -> bool:
    """Whether each worker gets its own ``SO_REUSEPORT`` listener: on Linux, for a
    TCP address (a Unix socket or an inherited ``--fd`` is shared instead)."""
    return (
        sys.platform == "linux"
        and hasattr(socket, "SO_REUSEPORT")
        and config.uds is None
        and config.fd is None
    )


def _tcp_socket(config: Config, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``config.host`` and ``port``, not yet listening."""
    host = "::1" if config.host == "localhost" else config.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def reserve(config: Config) -> socket.socket:
    """For ``SO_REUSEPORT`` workers: a socket bound to the address but not
    listening. It holds the port (the one the OS picked, for port 0) for the workers'
    own listeners; not listening, it is never handed a connection."""
    return _tcp_socket(config, config.port, reuse_port=True)


def _own_listener(config: Config, port: int) -> int:
    """A worker's own ``SO_REUSEPORT`` listener on ``port``; returns its descriptor."""
    sock = _tcp_socket(config, port, reuse_port=True)
    sock.listen(config.backlog)
    return sock.detach()


def _worker(
    config: Config, fd: int, port: int | None, pipe: Any, metrics_slot: metrics.Slot | None
) -> None:
    """A worker process: serve the inherited listener ``fd`` (or, with ``port``, a
    ``SO_REUSEPORT`` listener of its own, ``fd`` then being the supervisor's
    reservation) until told to stop, telling the supervisor when it is ready and
    when it has served its --max-requests."""
    from pyre.serve import run_config

    # Its own process group: a Ctrl+C in the terminal reaches the supervisor only,
    # which then stops the workers once, gracefully.
    os.setpgid(0, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    # Until the server handles it (a reload), a SIGUSR1 passed on must not kill.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    os.environ["PYRE_SUPERVISOR_PID"] = str(os.getppid())
    # The server takes the inherited descriptor itself (no duplicate stays open), so
    # that when this worker stops accepting, its reference to the listener is gone.
    if port is not None:
        os.close(fd)
        fd = _own_listener(config, port)
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
        #: SIGUSR1 arrived: pass it on to the workers.
        self.reload_workers = False
        self.backoff = 0.0
        self.fd = -1
        #: The port of the workers' SO_REUSEPORT listeners; None: they share ``fd``.
        self.port: int | None = None
        self.metrics = metrics.Metrics.for_workers(config)  # --metrics-port

    # -- signals ------------------------------------------------------------------

    def on_stop_signal(self, signum: int, frame: Any) -> None:
        if self.stopping:
            self.forced = True
        self.stopping = True

    def on_hangup(self, signum: int, frame: Any) -> None:
        self.hangup = True

    def on_reload(self, signum: int, frame: Any) -> None:
        self.reload_workers = True

    # -- workers ------------------------------------------------------------------

    def spawn(self) -> Worker:
        receiver, sender = self.context.Pipe(duplex=False)
        slot = self.metrics.claim() if self.metrics else None
        process = self.context.Process(
            target=_worker, args=(self.config, self.fd, self.port, sender, slot), daemon=False
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

    def wait_until_ready(self) -> None:
        """Waits until the first workers listen (or one of them died, or the
        timeout), so that once the supervisor says where it serves, it does."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self.stopping and time.monotonic() < deadline:
            if any(not w.process.is_alive() for w in self.workers):
                return
            if all(w.ready for w in self.workers):
                return
            self.read_messages(POLL_SECONDS)

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
        shared = not reuse_port(self.config)
        sock = bind(self.config) if shared else reserve(self.config)
        self.fd = sock.fileno()
        if not shared:
            self.port = sock.getsockname()[1]
        if self.metrics:
            self.metrics.serve()
        handlers = {
            signal.SIGINT: self.on_stop_signal,
            signal.SIGTERM: self.on_stop_signal,
            signal.SIGHUP: self.on_hangup,
            signal.SIGUSR1: self.on_reload,
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            for _ in range(self.config.workers):
                self.spawn()
            self.wait_until_ready()
            logger.info(
                "Pyre supervisor [%d] on %s with %d workers (%s)",
                os.getpid(),
                _where(sock.getsockname()),
                self.config.workers,
                "one shared listener" if shared else "a SO_REUSEPORT listener each",
            )
            while not self.stopping:
                self.read_messages(POLL_SECONDS)
                self.reap()
                self.respawn_missing()
                if self.reload_workers:
                    self.reload_workers = False
                    logger.info("SIGUSR1: asking every worker to reload")
                    for worker in self.workers:
                        if not worker.retiring:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(worker.pid, signal.SIGUSR1)
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
