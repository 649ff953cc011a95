"""Serving: the asyncio side of Pyre.

How it works: the Rust server owns every socket in a poll whose single fd the
asyncio loop watches (``loop.add_reader``); when it fires, Rust does all ready I/O and
starts the application for each new request. A one-second tick sweeps deadlines kept in
Rust. SIGINT/SIGTERM stop accepting, close idle connections, let requests in flight
finish until ``timeout_graceful_shutdown``, then run lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import random
import signal
from collections.abc import Callable
from typing import Any

from pyre import _core, metrics
from pyre._asgi import report_asgi
from pyre._logging import access_log_options
from pyre._psgi import Hooks, handler_of, is_psgi, report_psgi
from pyre.config import Config
from pyre.lifespan import Lifespan

logger = logging.getLogger("pyre.error")

#: Exit status when the application fails to start (as uvicorn).
STARTUP_FAILURE = 3
TICK_SECONDS = 1.0
#: How long requests cancelled at the end of a graceful shutdown get to unwind.
CANCEL_UNWIND_SECONDS = 2.0
SHUTDOWN_POLL_SECONDS = 0.02


def _counting(server: Any, config: Config, retire: Callable[[], None]) -> Callable[[], None]:
    """``server.on_ready`` that calls ``retire`` once, when the server has received
    ``max_requests`` plus a random jitter (so that workers do not all retire at once)."""
    assert config.max_requests is not None
    limit = config.max_requests + random.randint(0, config.max_requests_jitter)
    on_ready = server.on_ready

    def on_ready_counting() -> None:
        nonlocal limit
        on_ready()
        if server.requests_started >= limit:
            limit = math.inf
            retire()

    return on_ready_counting


def run_config(
    config: Config,
    *,
    supervised: bool = False,
    started: Callable[[list[Any]], None] | None = None,
    retire: Callable[[], None] | None = None,
    metrics_slot: metrics.Slot | None = None,
) -> int:
    """Serves until a signal stops it; returns the process exit status.

    Several workers, or ``max_requests``, run under a supervisor (pyre.supervisor),
    whose workers call this again with ``supervised=True`` and the other arguments
    (see ``serve``); ``metrics_slot`` is where a worker publishes its metrics
    (pyre.metrics)."""
    if config.reload and not supervised:
        from pyre.reload import run_reload

        return run_reload(config)
    if not supervised and (config.workers > 1 or config.max_requests is not None):
        from pyre.supervisor import run_workers

        return run_workers(config)
    config.configure_logging()
    # --metrics-port: a single server process owns its metrics listener.
    owned = metrics.serve_single(config) if metrics_slot is None and not supervised else None
    if owned is not None:
        metrics_slot = owned[1]
    loop = config.event_loop_factory()()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(
            serve(config, started=started, retire=retire, metrics_slot=metrics_slot)
        )
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
        if owned is not None:
            owned[0].close()


async def serve(
    config: Config,
    *,
    started: Callable[[list[Any]], None] | None = None,
    stop: asyncio.Event | None = None,
    retire: Callable[[], None] | None = None,
    metrics_slot: metrics.Slot | None = None,
) -> int:
    """Runs the server on the running loop until ``stop`` is set (or a signal).
    ``started`` receives the bound addresses once listening; ``retire`` is called
    once ``max_requests`` (plus jitter) requests were received (without it, the
    server then stops); the server's metrics are published to ``metrics_slot``, if
    given."""
    loop = asyncio.get_running_loop()
    app = config.load_app()
    psgi = config.interface == "psgi" or (config.interface == "auto" and is_psgi(app))
    stop = stop or asyncio.Event()
    forced = asyncio.Event()

    lifespan: Lifespan | Hooks = Hooks(app) if psgi else Lifespan(app, config.lifespan)
    if not await lifespan.startup():
        logger.error("Application startup failed. Exiting.")
        return STARTUP_FAILURE

    debug = logger.isEnabledFor(logging.DEBUG)
    server = _core.Server(
        handler_of(app) if psgi else app,
        report_psgi if psgi else report_asgi,
        loop,
        interface="psgi" if psgi else "asgi",
        root_path=config.root_path,
        timeout_keep_alive=config.timeout_keep_alive,
        timeout_header=config.timeout_header,
        limit_concurrency=config.limit_concurrency,
        limit_request_head=config.limit_request_head,
        limit_request_body=config.limit_request_body,
        read_high_water=config.read_high_water,
        write_high_water=config.write_high_water,
        write_low_water=config.write_low_water,
        default_headers=config.default_headers(),
        date_header=config.date_header,
        proxy_headers=config.proxy_headers,
        forwarded_allow_ips=config.forwarded_allow_ips,
        ws=config.ws,
        ws_max_size=config.ws_max_size,
        ws_ping_interval=config.ws_ping_interval,
        ws_ping_timeout=config.ws_ping_timeout,
        ws_per_message_deflate=config.ws_per_message_deflate,
        min_rate=config.min_rate,
        min_rate_grace=config.min_rate_grace,
        tls=config.tls_config(),
        protocol_error_log=(
            lambda message: logger.debug(
                "refused %s: %s", "connection" if message.startswith("TLS:") else "request", message
            )
        )
        if debug
        else None,
        **access_log_options(config),
    )
    server.set_state(lifespan.state)
    # Objects made by imports and startup live as long as the process: moving them out
    # of the collector's generations keeps full collections short (tail latency).
    gc.freeze()
    addresses = [_listen(server, config)]
    for address in addresses:
        logger.info("Pyre running on %s (Press CTRL+C to quit)", _url(address, config))

    fd = server.fileno()
    if config.max_requests is None:
        loop.add_reader(fd, server.on_ready)
    else:
        loop.add_reader(fd, _counting(server, config, retire or stop.set))
    tick_handle = _schedule_ticks(loop, server)
    publisher = metrics_slot.publish_from(loop, server) if metrics_slot else None
    _install_signal_handlers(loop, stop, forced)
    _install_reload_signal(loop, app)
    if config.tls:
        _install_certificate_reload(loop, server, config)
    if started is not None:
        started(addresses)
    try:
        await stop.wait()
        logger.info("Shutting down")
        server.begin_shutdown()
        # Wait for responses in flight and for application calls still running
        # after their response (background tasks), as uvicorn does.
        # Connections closing (a last response being flushed) or kept for a request
        # their client may be sending (pyre-net's begin_shutdown) are waited for too;
        # ticking often sweeps their deadlines.
        deadline = loop.time() + config.timeout_graceful_shutdown
        while (
            server.in_flight or server.active_tasks or server.connections
        ) and not forced.is_set():
            if loop.time() >= deadline:
                break
            await asyncio.sleep(SHUTDOWN_POLL_SECONDS)
            server.tick()
        if server.active_tasks:
            logger.warning("Cancelling %d request(s) still running", server.active_tasks)
        # Cancel what still runs while its connections are open, so it unwinds with
        # CancelledError (finally blocks, a framework's task groups) rather than a
        # send failing on a closed socket; bounded. Then close every connection.
        cancelled = server.cancel_all()
        if cancelled:
            await asyncio.wait(cancelled, timeout=CANCEL_UNWIND_SECONDS)
        server.close_connections()
    finally:
        # Every access line recorded, including those of the last responses.
        server.flush_access_log()
        tick_handle.cancel()
        if publisher is not None:
            publisher.stop()
        loop.remove_reader(fd)
        _remove_signal_handlers(loop)
        if config.uds is not None:
            with contextlib.suppress(OSError):
                os.unlink(config.uds)
    await lifespan.shutdown()
    logger.info("Finished server process")
    return 0


def _listen(server: Any, config: Config) -> Any:
    if config.uds is not None:
        return server.listen_unix(config.uds, config.backlog)
    if config.fd is not None:
        return server.listen_fd(config.fd, config.backlog)
    host = "::1" if config.host == "localhost" else config.host
    return server.listen_tcp(host, config.port, config.backlog)


def _url(address: tuple[Any, Any], config: Config) -> str:
    host, port = address
    if port is None:
        return f"unix socket {host}"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.tls else "http"
    return f"{scheme}://{host}:{port}"


class _Ticker:
    """Calls ``server.tick`` about once a second, rescheduling itself."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: Any) -> None:
        self.loop = loop
        self.server = server
        self.handle = loop.call_later(TICK_SECONDS, self.run)

    def run(self) -> None:
        try:
            self.server.tick()
        finally:
            self.handle = self.loop.call_later(TICK_SECONDS, self.run)

    def cancel(self) -> None:
        self.handle.cancel()


def _schedule_ticks(loop: asyncio.AbstractEventLoop, server: Any) -> _Ticker:
    return _Ticker(loop, server)


def _install_signal_handlers(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, forced: asyncio.Event
) -> None:
    def on_signal() -> None:
        if stop.is_set():
            forced.set()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)


def _install_reload_signal(loop: asyncio.AbstractEventLoop, app: Any) -> None:
    """SIGUSR1 calls the application's ``async __pyre_reload__()`` if it has one
    (pyre.framework's App reloads its extensions); under ``--workers`` the
    supervisor passes SIGUSR1 on to every worker. A signal that arrives while a
    reload runs starts one more once it is done, never two at once."""
    hook = getattr(app, "__pyre_reload__", None)
    running: list[asyncio.Task[Any]] = []
    again = False

    async def reload() -> None:
        nonlocal again
        assert hook is not None
        while True:
            again = False
            try:
                await hook()
            except Exception:
                logger.exception("SIGUSR1: the application's reload failed")
            if not again:
                running.clear()
                return

    def on_signal() -> None:
        nonlocal again
        if hook is None:
            logger.info("SIGUSR1: the application has no __pyre_reload__; nothing to reload")
        elif running:
            again = True
        else:
            running.append(loop.create_task(reload()))

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        loop.add_signal_handler(signal.SIGUSR1, on_signal)


def _install_certificate_reload(
    loop: asyncio.AbstractEventLoop, server: Any, config: Config
) -> None:
    """SIGHUP re-reads the certificate and key: connections accepted from then on use
    the new ones, open connections keep theirs (none is dropped). A file that cannot
    be used is logged and the old certificate stays. Under ``--workers`` the
    supervisor handles SIGHUP itself (a rolling restart, which re-reads them too)."""

    def on_signal() -> None:
        try:
            server.set_tls(config.tls_config())
        except ValueError as exc:
            logger.error("SIGHUP: the certificate was not reloaded: %s", exc)
            return
        logger.info("SIGHUP: certificate reloaded from %s", config.ssl_certfile)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, on_signal)


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.remove_signal_handler(signal.SIGHUP)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(sig)
