"""The ``pyre-http`` command: ``pyre-http [OPTIONS] APP`` (also ``python -m pyre``).

One option per :class:`pyre.config.Config` field; every option also reads a
``PYRE_<NAME>`` environment variable (``--limit-concurrency`` reads
``PYRE_LIMIT_CONCURRENCY``) and ``APP`` reads ``PYRE_APP``. The command line wins over
the environment. The defaults shown in ``--help`` are Config's own.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from pyre import __version__
from pyre.config import (
    INTERFACES,
    LIFESPANS,
    LOG_FORMATS,
    LOG_LEVELS,
    LOOPS,
    WS_MODES,
    Config,
    ConfigError,
)
from pyre.importer import ImportFromStringError

__all__ = ["build_config", "main"]

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Config) if f.default is not dataclasses.MISSING
}


def _option(*decls: str, field: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option for Config field ``field``, defaulting to Config's default and
    showing its environment variable and default in ``--help``."""
    kwargs.setdefault("show_default", _DEFAULTS[field] is not None)
    return click.option(*decls, field, default=_DEFAULTS[field], show_envvar=True, **kwargs)


def build_config(**cli_kwargs: Any) -> Config:
    """Build the Config from the command's parameters (named as Config's fields).

    Raises :class:`pyre.config.ConfigError` (a ``ValueError``) for invalid values.
    """
    return Config(**cli_kwargs)


@click.command(
    name="pyre-http",
    context_settings={"auto_envvar_prefix": "PYRE", "help_option_names": ["-h", "--help"]},
    epilog="Example: pyre-http --port 9000 main:app",
)
@click.argument("app", envvar="PYRE_APP")
@_option("--host", field="host", help="Address to bind.")
@_option("--port", field="port", type=int, help="Port to bind; 0 picks a free port.")
@_option("--uds", field="uds", help="Bind a Unix domain socket at this path instead.")
@_option("--fd", field="fd", type=int, help="Serve on this already listening file descriptor.")
@_option("--backlog", field="backlog", type=int, help="listen() backlog.")
@_option(
    "--workers",
    field="workers",
    type=int,
    envvar=["PYRE_WORKERS", "WEB_CONCURRENCY"],
    help="Worker processes (also read from WEB_CONCURRENCY); on Linux each has a"
    " SO_REUSEPORT listener, with --uds/--fd they share one.",
)
@_option(
    "--max-requests",
    field="max_requests",
    type=int,
    help="Replace a worker (gracefully, its successor started first) after this many"
    " requests. Default: never.",
)
@_option(
    "--max-requests-jitter",
    field="max_requests_jitter",
    type=int,
    help="Add a random 0..N to --max-requests per worker, so they do not all restart at once.",
)
@_option(
    "--interface",
    field="interface",
    type=click.Choice(INTERFACES),
    help="Application interface: auto (PSGI for objects with __psgi__, else ASGI), asgi or psgi.",
)
@_option("--loop", field="loop", type=click.Choice(LOOPS), help="Event loop implementation.")
@_option(
    "--lifespan",
    field="lifespan",
    type=click.Choice(LIFESPANS),
    help="ASGI lifespan events; auto runs them if the app supports them.",
)
@_option(
    "--factory",
    field="factory",
    is_flag=True,
    help="APP is a factory: call it with no arguments to get the application.",
)
@_option("--app-dir", field="app_dir", help="Directory put first on sys.path to import APP.")
@_option(
    "--reload",
    field="reload",
    is_flag=True,
    help="Restart the server when watched files change (development; needs watchfiles).",
)
@click.option(
    "--reload-dir",
    "reload_dirs",
    multiple=True,
    type=click.Path(),  # a Path: the environment variable is split on os.pathsep
    show_envvar=True,
    help="Directory to watch with --reload (repeatable). Default: the current directory.",
)
@click.option(
    "--reload-include",
    "reload_includes",
    multiple=True,
    show_envvar=True,
    help="Glob of files whose changes reload, besides *.py (repeatable).",
)
@click.option(
    "--reload-exclude",
    "reload_excludes",
    multiple=True,
    show_envvar=True,
    help="Glob of files (or a directory) whose changes never reload, besides"
    " .*, .py[cod], .sw.* and ~* (repeatable).",
)
@_option(
    "--timeout-keep-alive",
    field="timeout_keep_alive",
    type=float,
    help="Seconds an idle keep-alive connection is kept open.",
)
@_option(
    "--timeout-header",
    field="timeout_header",
    type=float,
    help="Seconds a client has to send a complete request head.",
)
@_option(
    "--timeout-graceful-shutdown",
    field="timeout_graceful_shutdown",
    type=float,
    help="Seconds to let in-flight requests finish on shutdown.",
)
@_option(
    "--min-rate",
    field="min_rate",
    type=int,
    help="Bytes per second a client must move while the server waits on it (after"
    " --min-rate-grace); slower, the connection closes. 0: off. Default: 500.",
)
@_option(
    "--min-rate-grace",
    field="min_rate_grace",
    type=float,
    help="Seconds of waiting on a client before --min-rate applies. Default: 20.",
)
@_option(
    "--limit-concurrency",
    field="limit_concurrency",
    type=int,
    help="Most requests in flight at once (not connections); beyond it, 503. Default: no limit.",
)
@_option(
    "--limit-request-head",
    field="limit_request_head",
    type=int,
    help="Largest request head (request line and headers) in bytes.",
)
@_option(
    "--limit-request-body",
    field="limit_request_body",
    type=int,
    help="Largest request body in bytes; beyond it, 413. Default: no limit.",
)
@_option(
    "--read-high-water",
    field="read_high_water",
    type=int,
    help="Request body bytes buffered before reading from the client pauses. Default: 65536.",
)
@_option(
    "--write-high-water",
    field="write_high_water",
    type=int,
    help="Response bytes buffered for a slow client before the app's send() waits. Default: 65536.",
)
@_option(
    "--write-low-water",
    field="write_low_water",
    type=int,
    help="A waiting send() resumes once the buffer drained below this. Default: 16384.",
)
@_option(
    "--ws",
    field="ws",
    type=click.Choice(WS_MODES),
    help="WebSocket upgrades: auto serves them, none treats them as plain HTTP.",
)
@_option(
    "--ws-max-size",
    field="ws_max_size",
    type=int,
    help="Largest WebSocket message in bytes; beyond it, close 1009. Default: 16 MiB.",
)
@_option(
    "--ws-ping-interval",
    field="ws_ping_interval",
    type=float,
    help="Seconds between pings on an open WebSocket; 0 disables them.",
)
@_option(
    "--ws-ping-timeout",
    field="ws_ping_timeout",
    type=float,
    help="Seconds a ping may go unanswered before the WebSocket closes (1011); 0: never.",
)
@_option(
    "--ws-per-message-deflate/--no-ws-per-message-deflate",
    field="ws_per_message_deflate",
    show_default="on",
    help="Negotiate permessage-deflate compression with WebSocket clients.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    show_envvar=True,
    help='A default response header, "Name: Value" (repeatable); the app\'s own wins.',
)
@_option(
    "--server-header/--no-server-header",
    field="server_header",
    show_default="off",
    help="Send 'server: pyre' on every response.",
)
@_option(
    "--date-header/--no-date-header",
    field="date_header",
    show_default="on",
    help="Send a Date header on every response.",
)
@_option(
    "--proxy-headers/--no-proxy-headers",
    field="proxy_headers",
    show_default="on",
    help="Take the client address, scheme and host from X-Forwarded-For/-Proto/-Host"
    " or Forwarded, when the peer is in --forwarded-allow-ips.",
)
@_option(
    "--forwarded-allow-ips",
    field="forwarded_allow_ips",
    help="Peers whose proxy headers are trusted: addresses and CIDR ranges,"
    " comma-separated, or '*'.",
)
@_option(
    "--metrics-port",
    field="metrics_port",
    type=int,
    help="Serve Prometheus metrics at GET /metrics on this port (0: a free one)."
    " Default: no metrics.",
)
@_option(
    "--metrics-host",
    field="metrics_host",
    help="Address of the metrics listener (keep it private).",
)
@_option("--root-path", field="root_path", help="ASGI root_path, for an app mounted below /.")
@_option("--ssl-certfile", field="ssl_certfile", help="Serve HTTPS with this certificate (PEM).")
@_option("--ssl-keyfile", field="ssl_keyfile", help="The certificate's private key (PEM).")
@_option(
    "--ssl-keyfile-password",
    field="ssl_keyfile_password",
    help="Password of an encrypted key (refused: give an unencrypted key).",
)
@_option("--ssl-ca-certs", field="ssl_ca_certs", help="CAs that client certificates must chain to.")
@_option(
    "--ssl-cert-reqs",
    field="ssl_cert_reqs",
    type=int,
    help="Client certificates: 0 none, 1 optional, 2 required.",
)
@_option(
    "--ssl-ciphers",
    field="ssl_ciphers",
    help="Cipher suites by IANA name, colon-separated; TLSv1: rustls's defaults.",
)
@_option(
    "--log-level",
    field="log_level",
    type=click.Choice(tuple(LOG_LEVELS), case_sensitive=False),
    help="Log level of the pyre.error and pyre.access loggers.",
)
@_option(
    "--access-log/--no-access-log",
    field="access_log",
    show_default="on",
    help="Log one line per request to pyre.access.",
)
@_option(
    "--access-log-format",
    field="access_log_format",
    help="The access log line: text with {field} placeholders, among client, method, path,"
    " query, http_version, request, status, bytes (body bytes sent) and duration (seconds).",
)
@_option(
    "--log-format",
    field="log_format",
    type=click.Choice(LOG_FORMATS),
    help="Pyre's log lines as text, or as one JSON object per line (time, level, logger,"
    " message, and for access lines every field).",
)
@_option(
    "--log-config",
    field="log_config",
    help="A JSON or TOML file with a logging.config.dictConfig dictionary, applied on top"
    " of Pyre's logging (e.g. to send pyre.access to a file with your own format).",
)
@click.version_option(
    __version__,
    "--version",
    prog_name="pyre-http",
    message="%(prog)s %(version)s",
    allow_from_autoenv=False,  # or PYRE_VERSION=1 in the environment would hijack the run
)
def main(**cli_kwargs: Any) -> None:
    """Serve APP, a "module:attribute" import string such as main:app
    (also read from PYRE_APP)."""
    try:
        config = build_config(**cli_kwargs)
    except ConfigError as exc:
        options = {p.name: p.opts[0] for p in click.get_current_context().command.params}
        hints = [
            options.get(field, "--" + field.replace("_", "-"))
            for field in exc.fields
            if field != "app"
        ]
        raise click.BadParameter(exc.reason, param_hint=hints or "APP") from None
    if not config.reload and (
        config.reload_dirs or config.reload_includes or config.reload_excludes
    ):
        click.echo(
            "Warning: --reload-dir, --reload-include and --reload-exclude take effect"
            " only with --reload.",
            err=True,
        )

    from pyre import serve

    try:
        config.check_tls()
        status = serve.run_config(config)
    except (ImportFromStringError, ConfigError) as exc:
        # Startup errors the user must fix (bad import string, uvloop missing): one line,
        # no traceback. Exit status 1, as when the server fails to start.
        raise click.ClickException(str(exc)) from None
    sys.exit(status)
