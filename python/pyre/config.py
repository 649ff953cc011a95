"""Pyre's configuration: one object shared by ``pyre.run()`` and the ``pyre-http`` CLI.

:class:`Config` holds every option, checks it when built (a :class:`ConfigError`,
which is a ``ValueError``, names the offending option), and knows how to load the
application, choose the event loop and set up logging.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pyre import _core
from pyre._logging import (
    ACCESS_LOGGER,
    DEFAULT_ACCESS_LOG_FORMAT,
    ERROR_LOGGER,
    LOG_FORMATS,
    TRACE_LOG_LEVEL,
    JsonFormatter,
    LevelPrefixFormatter,
    configure_logging,
    load_log_config,
)
from pyre.importer import import_from_string

__all__ = [
    "ACCESS_LOGGER",
    "ERROR_LOGGER",
    "INTERFACES",
    "LIFESPANS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "LOOPS",
    "TRACE_LOG_LEVEL",
    "WS_MODES",
    "Config",
    "ConfigError",
    "JsonFormatter",
    "LevelPrefixFormatter",
]

INTERFACES = ("auto", "asgi", "psgi")
LOOPS = ("auto", "uvloop", "asyncio")
LIFESPANS = ("auto", "on", "off")
WS_MODES = ("auto", "none")

LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}


class ConfigError(ValueError):
    """An invalid option value.

    ``fields`` names the offending option(s) as :class:`Config` field names, so the
    CLI can point at the right flag; ``reason`` is the message without the name.
    """

    def __init__(self, fields: str | tuple[str, ...], reason: str) -> None:
        self.fields: tuple[str, ...] = (fields,) if isinstance(fields, str) else fields
        self.reason = reason
        super().__init__(f"{' and '.join(self.fields)}: {reason}")


@dataclass(slots=True, kw_only=True)
class Config:
    """Every server option, with Pyre's defaults. Invalid values raise ConfigError."""

    app: str | Callable[..., Any]
    """A ``"module:attribute"`` import string, or the application object itself."""
    host: str = "127.0.0.1"
    port: int = 8000
    """TCP port; 0 lets the operating system pick a free one."""
    uds: str | None = None
    """Path of a Unix domain socket to listen on, instead of host and port."""
    fd: int | None = None
    """An already bound and listening socket's file descriptor, instead of host and port."""
    backlog: int = 2048
    workers: int = 1
    """Worker processes; more than one runs them under a supervisor (pyre.supervisor)."""
    max_requests: int | None = None
    """Replace a worker once it has received this many requests (a supervisor runs
    even with one worker); ``None``: never."""
    max_requests_jitter: int = 0
    """Up to this many requests more, chosen at random per worker, so that workers
    are not all replaced at once."""
    interface: Literal["auto", "asgi", "psgi"] = "auto"
    loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    lifespan: Literal["auto", "on", "off"] = "auto"
    factory: bool = False
    """``app`` is a factory: call it with no arguments to get the application."""
    app_dir: str = "."
    """Directory put first on ``sys.path`` before importing ``app``."""
    reload: bool = False
    """Restart the server when watched files change (development; pyre.reload)."""
    reload_dirs: list[str] = field(default_factory=list)
    """Directories watched by ``reload``; empty: the current directory (and ``app_dir``
    when it lies outside it)."""
    reload_includes: list[str] = field(default_factory=list)
    """Glob patterns of files that trigger a reload, in addition to ``*.py``."""
    reload_excludes: list[str] = field(default_factory=list)
    """Glob patterns (or directories) that never trigger a reload, in addition to
    ``.*``, ``.py[cod]``, ``.sw.*`` and ``~*``."""
    timeout_keep_alive: float = 75.0
    timeout_header: float = 10.0
    timeout_graceful_shutdown: float = 30.0
    limit_concurrency: int | None = None
    limit_request_head: int = 65536
    limit_request_body: int | None = None
    read_high_water: int = 65536
    """Request body bytes buffered for the application before reading pauses."""
    write_high_water: int = 65536
    """Response bytes buffered for a client before the application's send waits..."""
    write_low_water: int = 16384
    """...until fewer than this many remain."""
    min_rate: int = 500
    """Bytes per second a client must move (request body in, response out) while the
    server waits on it, once ``min_rate_grace`` seconds of waiting have passed;
    slower, the connection is closed (against slow-body and slow-read clients). 0
    turns the rule off."""
    min_rate_grace: float = 20.0
    """Seconds of waiting on a client before ``min_rate`` applies."""
    root_path: str = ""
    ssl_certfile: str | None = None
    """Serve HTTPS with this certificate chain (PEM, leaf first); see docs/tls.md."""
    ssl_keyfile: str | None = None
    """The certificate's private key (PEM); the certificate file when not given."""
    ssl_keyfile_password: str | None = None
    """Accepted for uvicorn compatibility; encrypted keys are refused with a clear
    error (rustls reads unencrypted keys only)."""
    ssl_ca_certs: str | None = None
    """Certificate authorities client certificates must chain to (PEM)."""
    ssl_cert_reqs: int = 0
    """Client certificates: 0 none, 1 optional (verified when given), 2 required
    (Python's ``ssl.CERT_NONE``/``CERT_OPTIONAL``/``CERT_REQUIRED``, as uvicorn)."""
    ssl_ciphers: str = "TLSv1"
    """Cipher suites by IANA name, colon-separated (``TLS13_AES_256_GCM_SHA384:...``);
    uvicorn's default ``TLSv1`` means rustls's defaults."""
    ws: Literal["auto", "none"] = "auto"
    """WebSocket upgrades: ``auto`` serves them, ``none`` treats upgrade requests as
    plain HTTP."""
    ws_max_size: int = 16 * 1024 * 1024
    """Largest WebSocket message in bytes (after decompression); beyond it the
    connection closes with 1009."""
    ws_ping_interval: float | None = 20.0
    """Seconds between the server's pings on an open WebSocket; None or 0: no pings."""
    ws_ping_timeout: float | None = 20.0
    """Seconds a ping may go unanswered before the connection closes with 1011;
    None or 0: pongs are not awaited."""
    ws_per_message_deflate: bool = True
    """Negotiate permessage-deflate compression when the client offers it."""
    headers: list[str] = field(default_factory=list)
    """Default response headers, ``"Name: Value"`` each, added to every response whose
    application did not set that field itself."""
    server_header: bool = False
    """Send ``server: pyre`` (off by default: it only tells attackers what runs)."""
    date_header: bool = True
    proxy_headers: bool = True
    """Believe X-Forwarded-For/-Proto/-Host and Forwarded from trusted peers."""
    forwarded_allow_ips: str = "127.0.0.1"
    """The trusted peers: comma-separated addresses and CIDR ranges, or ``*``."""
    metrics_port: int | None = None
    """Serve Prometheus metrics (``GET /metrics``) on this port, on a separate
    listener; 0 picks a free one (logged). None: no metrics listener."""
    metrics_host: str = "127.0.0.1"
    """Address of the metrics listener: local only by default, as metrics are not
    for the public."""
    log_level: str = "info"
    access_log: bool = True
    access_log_format: str = DEFAULT_ACCESS_LOG_FORMAT
    """The access log line, with ``{field}`` placeholders (``{{``/``}}`` for braces):
    client, method, path, query, http_version, request, status, bytes, duration."""
    log_format: Literal["text", "json"] = "text"
    """Pyre's own log lines as text, or one JSON object per line."""
    log_config: str | None = None
    """A JSON or TOML file holding a ``logging.config.dictConfig`` dictionary, applied
    on top of Pyre's logging set-up."""

    def __post_init__(self) -> None:
        if not (isinstance(self.app, str) or callable(self.app)):
            raise ConfigError(
                "app", f'must be a "module:attribute" string or a callable, got {self.app!r}'
            )
        if isinstance(self.app, str) and not self.app:
            raise ConfigError("app", 'must not be empty; use "module:attribute"')
        _check_str(self, "host")
        self.port = _check_int(self, "port", minimum=0, maximum=65535)
        if self.uds is not None:
            _check_str(self, "uds")
            if not self.uds:
                raise ConfigError("uds", "must not be empty")
        if self.fd is not None:
            self.fd = _check_int(self, "fd", minimum=0)
        if self.uds is not None and self.fd is not None:
            raise ConfigError(("uds", "fd"), "only one of uds and fd may be given")
        self.backlog = _check_int(self, "backlog", minimum=1)
        self.workers = _check_int(self, "workers", minimum=1)
        if self.max_requests is not None:
            self.max_requests = _check_int(self, "max_requests", minimum=1)
        self.max_requests_jitter = _check_int(self, "max_requests_jitter", minimum=0)
        _check_choice(self, "interface", INTERFACES)
        _check_choice(self, "loop", LOOPS)
        _check_choice(self, "lifespan", LIFESPANS)
        _check_bool(self, "factory")
        _check_str(self, "app_dir")
        _check_bool(self, "reload")
        if self.reload and not isinstance(self.app, str):
            raise ConfigError(
                "reload",
                'needs the application as a "module:attribute" import string, so that'
                " each restart can import it afresh",
            )
        self.reload_dirs = _check_str_list(self, "reload_dirs")
        for directory in self.reload_dirs:
            if not os.path.isdir(directory):
                raise ConfigError("reload_dirs", f"{directory!r} is not a directory")
        self.reload_includes = _check_str_list(self, "reload_includes")
        self.reload_excludes = _check_str_list(self, "reload_excludes")
        for name in ("timeout_keep_alive", "timeout_header", "timeout_graceful_shutdown"):
            _check_timeout(self, name)
        if self.limit_concurrency is not None:
            self.limit_concurrency = _check_int(self, "limit_concurrency", minimum=1)
        self.limit_request_head = _check_int(self, "limit_request_head", minimum=1)
        if self.limit_request_body is not None:
            self.limit_request_body = _check_int(self, "limit_request_body", minimum=1)
        for name in ("read_high_water", "write_high_water"):
            setattr(self, name, _check_int(self, name, minimum=1))
        self.write_low_water = _check_int(self, "write_low_water", minimum=0)
        self.min_rate = _check_int(self, "min_rate", minimum=0)
        if self.min_rate_grace != 0:
            _check_timeout(self, "min_rate_grace")
        if self.write_low_water > self.write_high_water:
            raise ConfigError(
                ("write_low_water", "write_high_water"),
                f"the low-water mark ({self.write_low_water}) must not exceed the"
                f" high-water mark ({self.write_high_water})",
            )
        _check_str(self, "root_path")
        self._check_tls()
        _check_choice(self, "ws", WS_MODES)
        self.ws_max_size = _check_int(self, "ws_max_size", minimum=1)
        for name in ("ws_ping_interval", "ws_ping_timeout"):
            if getattr(self, name) is not None and getattr(self, name) != 0:
                _check_timeout(self, name)
        _check_bool(self, "ws_per_message_deflate")
        if not isinstance(self.headers, (list, tuple)):
            raise ConfigError("headers", 'must be a list of "Name: Value" strings')
        self.headers = [_check_header(h) for h in self.headers]
        _check_bool(self, "server_header")
        _check_bool(self, "date_header")
        _check_bool(self, "proxy_headers")
        _check_str(self, "forwarded_allow_ips")
        _check_networks(self.forwarded_allow_ips)
        if self.metrics_port is not None:
            self.metrics_port = _check_int(self, "metrics_port", minimum=0, maximum=65535)
            if self.metrics_port and self.metrics_port == self.port and self.uds is self.fd is None:
                raise ConfigError(
                    ("port", "metrics_port"), f"both are {self.port}; the metrics need their own"
                )
        _check_str(self, "metrics_host")
        if not self.metrics_host:
            raise ConfigError("metrics_host", "must not be empty")
        if self.root_path and not self.root_path.startswith("/"):
            raise ConfigError(
                "root_path", f"must be empty or start with '/', got {self.root_path!r}"
            )
        _check_str(self, "log_level")
        self.log_level = self.log_level.lower()
        _check_choice(self, "log_level", tuple(LOG_LEVELS))
        _check_bool(self, "access_log")
        _check_str(self, "access_log_format")
        try:
            _core.check_access_log_format(self.access_log_format)
        except ValueError as exc:
            raise ConfigError("access_log_format", str(exc)) from None
        _check_choice(self, "log_format", LOG_FORMATS)
        if self.log_config is not None:
            _check_str(self, "log_config")
            load_log_config(self.log_config)

    def _check_tls(self) -> None:
        for name in ("ssl_certfile", "ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs"):
            if getattr(self, name) is not None:
                _check_str(self, name)
        _check_str(self, "ssl_ciphers")
        self.ssl_cert_reqs = _check_int(self, "ssl_cert_reqs", minimum=0, maximum=2)
        if self.ssl_certfile is None:
            for name in ("ssl_keyfile", "ssl_ca_certs"):
                if getattr(self, name) is not None:
                    raise ConfigError(name, "needs ssl_certfile (TLS is off without it)")

    def check_tls(self) -> None:
        """Reads the certificate and key files once, so that a missing or unusable one
        fails at start (one line, exit status 1 from the CLI). Raises ConfigError."""
        try:
            self.tls_config()
        except (ValueError, OSError) as exc:
            raise ConfigError("ssl_certfile", str(exc)) from None

    @property
    def tls(self) -> bool:
        """The server speaks HTTPS (``ssl_certfile`` given)."""
        return self.ssl_certfile is not None

    def tls_config(self) -> _core.TlsConfig | None:
        """The checked rustls configuration for the ``ssl_*`` options (read from the
        files now: a reload builds a new one), or None without ``ssl_certfile``."""
        if self.ssl_certfile is None:
            return None
        return _core.TlsConfig(
            self.ssl_certfile,
            keyfile=self.ssl_keyfile,
            password=self.ssl_keyfile_password,
            ca_certs=self.ssl_ca_certs,
            cert_reqs=self.ssl_cert_reqs,
            ciphers=self.ssl_ciphers,
        )

    def default_headers(self) -> list[tuple[bytes, bytes]]:
        """The fields added to every response: ``--header`` ones, then ``server``."""
        pairs = []
        for header in self.headers:
            name, _, value = header.partition(":")
            pairs.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
        if self.server_header and not any(name == b"server" for name, _ in pairs):
            pairs.append((b"server", b"pyre"))
        return pairs

    # -- application ---------------------------------------------------------------

    def load_app(self) -> Callable[..., Any]:
        """Return the application: import ``app`` if it is a string (with ``app_dir``
        first on ``sys.path``), then call it with no arguments if ``factory`` is set.

        Raises :class:`pyre.importer.ImportFromStringError` for a bad import string and
        :class:`ConfigError` when the result is neither callable nor a PSGI
        application object (one with a ``__psgi__`` method).
        """
        app: Any = self.app
        if isinstance(app, str):
            if sys.path[:1] != [self.app_dir]:
                sys.path.insert(0, self.app_dir)
            app = import_from_string(app)
        if self.factory:
            if not callable(app):
                raise ConfigError("app", f"factory {self.app!r} is not callable")
            app = app()
        if not callable(app) and not callable(getattr(app, "__psgi__", None)):
            what = "the factory's result" if self.factory else repr(self.app)
            raise ConfigError(
                "app",
                f"{what} is not callable and has no __psgi__ method (got {type(app).__name__})",
            )
        return app

    # -- event loop ----------------------------------------------------------------

    def event_loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop]:
        """The function that makes a new event loop for ``loop``: uvloop's when asked
        for (or, for "auto", when installed), else asyncio's. Suits
        ``asyncio.Runner(loop_factory=...)``, which outlives event loop policies."""
        uvloop = self._uvloop()
        if uvloop is None:
            return asyncio.new_event_loop
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory

    def setup_event_loop(self) -> None:
        """Install uvloop's event loop policy when ``loop`` is "uvloop", or "auto" and
        uvloop is installed. Leaves asyncio's policy alone otherwise.

        Raises :class:`ConfigError` when ``loop`` is "uvloop" and it is not installed.
        """
        uvloop = self._uvloop()
        if uvloop is None:
            return
        with warnings.catch_warnings():
            # Policies are deprecated from Python 3.14; they still work until 3.16.
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    def _uvloop(self) -> Any | None:
        """The uvloop module if this config uses it, else None."""
        if self.loop == "asyncio":
            return None
        try:
            import uvloop
        except ImportError as exc:
            if self.loop == "uvloop":
                raise ConfigError(
                    "loop",
                    "uvloop was asked for but is not installed (pip install uvloop), "
                    "or use loop='auto' or 'asyncio'",
                ) from exc
            return None
        return uvloop

    # -- logging -------------------------------------------------------------------

    def configure_logging(self) -> None:
        """Set up the ``pyre.error`` and ``pyre.access`` loggers: one stderr handler
        each, uvicorn-like lines (``INFO:     message``) or JSON (``log_format``),
        level from ``log_level``, then ``log_config`` on top; ``access_log=False``
        disables ``pyre.access``. Calling it again replaces what an earlier call
        installed rather than adding to it. See :mod:`pyre._logging`."""
        configure_logging(self)


def _check_networks(spec: str) -> None:
    """``--forwarded-allow-ips``: addresses and CIDR ranges, or ``*``."""
    for item in (part.strip() for part in spec.split(",")):
        if not item or item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                "forwarded_allow_ips", f"{item!r} is not an IP address, a CIDR range or '*'"
            ) from None


_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _check_header(header: object) -> str:
    """``"Name: Value"`` (or ``Name:Value``) with a token name and a value without
    control characters."""
    if not isinstance(header, str) or ":" not in header:
        raise ConfigError("headers", f'must be "Name: Value" strings, got {header!r}')
    name, _, value = header.partition(":")
    name, value = name.strip(), value.strip()
    if not _HEADER_NAME.match(name):
        raise ConfigError("headers", f"{name!r} is not a valid header name")
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ConfigError("headers", f"the value of {name!r} has a control character")
    return f"{name}: {value}"


# -- validation helpers ------------------------------------------------------------


def _check_int(config: Config, name: str, *, minimum: int, maximum: int | None = None) -> int:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(name, f"must be {bound}, got {value}")
    return value


def _check_timeout(config: Config, name: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, f"must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(name, f"must be a positive number of seconds, got {value}")
    setattr(config, name, float(value))


def _check_choice(config: Config, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}; got {value!r}")


def _check_str(config: Config, name: str) -> None:
    value = getattr(config, name)
    if not isinstance(value, str):
        raise ConfigError(name, f"must be a string, got {value!r}")


def _check_str_list(config: Config, name: str) -> list[str]:
    """A list (or tuple, as click gives) of non-empty strings, returned as a list."""
    value = getattr(config, name)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(name, f"must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str) or not item:
            raise ConfigError(name, f"must be non-empty strings, got {item!r}")
    return list(value)


def _check_bool(config: Config, name: str) -> None:
    value = getattr(config, name)
    if not isinstance(value, bool):
        raise ConfigError(name, f"must be True or False, got {value!r}")
