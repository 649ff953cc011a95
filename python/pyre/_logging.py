"""Logging: Pyre's two loggers, ``--log-config``, ``--log-format json``, and where the
access log's batches go.

``pyre.error`` carries server messages and application tracebacks; ``pyre.access``
one line per completed response. By default each has one stderr handler of Pyre's
own (``INFO:     message``, or one JSON object per line with ``--log-format json``).
``--log-config FILE`` then applies a :func:`logging.config.dictConfig` dictionary
from a JSON or TOML file on top, so it can replace those handlers, add its own, or
set levels.

How the access log is written: the Rust runtime formats each line when a response
completes and keeps it in a batch, which it hands over once per batch of events (see
crates/pyre-py/src/server.rs). When ``pyre.access`` has only Pyre's own handler, the
batch is text ready to print and goes to that handler's stream in one write (the
fast path: no LogRecord per line). Otherwise, when the user configured logging
(``--log-config``, or handlers of their own), the batch comes as records and each
becomes a :class:`logging.LogRecord` for ``pyre.access``, with every field of the
line as an attribute (``record.status``, ``record.duration``...), for their
formatters and filters.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pyre import _core

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from pyre.config import Config

ERROR_LOGGER = "pyre.error"
ACCESS_LOGGER = "pyre.access"
#: Below DEBUG: per-connection and per-message detail. Named "TRACE" in log output.
TRACE_LOG_LEVEL = 5
LOG_FORMATS = ("text", "json")
#: The access log's fields, as ``{name}`` in ``--access-log-format``, as keys of
#: its JSON lines and as attributes of its log records.
ACCESS_LOG_FIELDS: tuple[str, ...] = tuple(_core.ACCESS_LOG_FIELDS)
DEFAULT_ACCESS_LOG_FORMAT: str = _core.DEFAULT_ACCESS_LOG_FORMAT


class LevelPrefixFormatter(logging.Formatter):
    """Adds ``%(levelprefix)s``: the level name and a colon, padded to nine columns
    (``"INFO:    "``), as uvicorn prints it."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.levelprefix = level_prefix(record.levelname)
        return super().formatMessage(record)


def level_prefix(level_name: str) -> str:
    return f"{level_name}:".ljust(9)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (RFC 3339, UTC, milliseconds), ``level``,
    ``logger``, ``message``, the access log's fields when the record has them, and
    ``exception`` with the traceback when there is one. The same shape as the
    access lines the Rust runtime writes itself."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for name in ACCESS_LOG_FIELDS:
            if name in fields:
                data[name] = fields[name]
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def rfc3339(created: float) -> str:
    """``2026-11-22T21:45:31.123Z`` for a ``time.time()`` value."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


# -- --log-config ------------------------------------------------------------------


def load_log_config(path: str) -> dict[str, Any]:
    """The dictConfig dictionary in the JSON (``.json``) or TOML (``.toml``) file at
    ``path``. Raises :class:`pyre.config.ConfigError` naming ``log_config`` when the
    file is missing, unreadable, malformed, or not a dictConfig schema (version 1)."""
    from pyre.config import ConfigError

    suffix = Path(path).suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ConfigError("log_config", f"{path!r} must be a .json or .toml file")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError("log_config", f"cannot read {path!r}: {exc.strerror}") from None
    try:
        text = data.decode()
        loaded = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except ValueError as exc:  # JSONDecodeError, TOMLDecodeError, UnicodeDecodeError
        kind = "JSON" if suffix == ".json" else "TOML"
        raise ConfigError("log_config", f"{path!r} is not valid {kind}: {exc}") from None
    if not isinstance(loaded, dict) or loaded.get("version") != 1:
        raise ConfigError(
            "log_config",
            f"{path!r} must hold a logging.config.dictConfig dictionary with version = 1",
        )
    return loaded


# -- setting up ----------------------------------------------------------------------


def configure_logging(config: Config) -> None:
    """Pyre's handlers on ``pyre.error`` and ``pyre.access`` (one stderr handler each,
    level from ``log_level``, text or JSON by ``log_format``), then ``log_config``
    applied on top; ``access_log=False`` disables ``pyre.access``. Calling it again
    replaces what an earlier call installed rather than adding to it.

    Raises :class:`pyre.config.ConfigError` naming ``log_config`` when dictConfig
    refuses the file (an unknown handler class, a bad level...).
    """
    from pyre.config import LOG_LEVELS, ConfigError

    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
    level = LOG_LEVELS[config.log_level]
    for name in (ERROR_LOGGER, ACCESS_LOGGER):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if is_own_handler(h)]:
            logger.removeHandler(handler)
            handler.close()
        handler = logging.StreamHandler(sys.stderr)
        handler._pyre = True  # type: ignore[attr-defined]
        handler.setFormatter(
            JsonFormatter()
            if config.log_format == "json"
            else LevelPrefixFormatter("%(levelprefix)s %(message)s")
        )
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
        logger.disabled = False
    if config.log_config is not None:
        settings = load_log_config(config.log_config)
        try:
            logging.config.dictConfig(settings)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise ConfigError("log_config", f"{config.log_config!r}: {exc}") from None
    if not config.access_log:
        logging.getLogger(ACCESS_LOGGER).disabled = True


def is_own_handler(handler: logging.Handler) -> bool:
    return getattr(handler, "_pyre", False) is True


def access_log_options(config: Config) -> dict[str, Any]:
    """The access log keyword arguments of ``pyre._core.Server``: none when the log
    is off (``--no-access-log``, or ``pyre.access`` does not take INFO); the fast
    text or JSON path when ``pyre.access`` has only Pyre's own handler; records for
    the logging module otherwise."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not (config.access_log and logger.isEnabledFor(logging.INFO)):
        return {}
    options: dict[str, Any] = {"access_log_format": config.access_log_format}
    handlers = logger.handlers
    own = handlers[0] if len(handlers) == 1 and is_own_handler(handlers[0]) else None
    fast = (
        config.log_config is None
        and isinstance(own, logging.StreamHandler)
        and own.level <= logging.INFO
        and not own.filters
        and not logger.filters
        and not logger.propagate
    )
    if fast:
        assert isinstance(own, logging.StreamHandler)
        options["access_log"] = StreamSink(own.stream)
        options["access_log_output"] = config.log_format
        options["access_log_prefix"] = level_prefix("INFO") + " "
    else:
        options["access_log"] = RecordSink(logger)
        options["access_log_output"] = "records"
    return options


class StreamSink:
    """Writes a batch of ready lines to a stream at once (the fast path)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed or broken stderr must not stop the server; logging's own
            # handlers drop the line the same way (after printing to that stderr).
            pass


class RecordSink:
    """Turns a batch of access records into LogRecords for ``pyre.access``; each
    carries every field as an attribute, as ``extra`` would."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def __call__(self, batch: Sequence[tuple[Any, ...]]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        for message, created, *values in batch:
            record = logger.makeRecord(
                logger.name,
                logging.INFO,
                __file__,
                0,
                message,
                (),
                None,
                extra=dict(zip(ACCESS_LOG_FIELDS, values, strict=True)),
            )
            # When the response completed, not when the batch was written.
            record.created = created
            record.msecs = (created - int(created)) * 1000
            logger.handle(record)
