"""Logging: the access log's fields (ASGI and PSGI), JSON lines, --log-config files
(JSON and TOML) with formatters that use the fields, bad options, pipelined requests
in order, and no line lost at shutdown.

The access log is written by the Rust runtime in batches (docs/server.md, Logging);
these tests read the server's output as a client would, so they hold for any batch
boundaries: they wait for lines (bounded), and never assert on timing.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from pyre import _logging
from pyre.cli import main
from pyre.config import Config, ConfigError
from tests.support import (
    READY,
    ROOT,
    ServerProcess,
    connect,
    read_until_closed,
    serve,
    serve_command,
)

PROBE = "tests.apps.probe:app"
PSGI = "tests.apps.psgi_app:app"
FIELDS = ("client", "method", "path", "query", "http_version", "request", "status", "bytes")
#: Every field, after a marker that tells access lines from the rest of the output.
ALL_FIELDS = "ACCESS|" + "|".join(f"{{{name}}}" for name in (*FIELDS, "duration"))


def access_lines(server: ServerProcess, marker: str = "ACCESS|") -> list[str]:
    return [line for line in server.lines if marker in line]


def wait_for_access(server: ServerProcess, count: int, marker: str = "ACCESS|") -> list[str]:
    """The access lines once there are ``count`` of them (bounded wait)."""
    deadline = time.monotonic() + 10
    while len(access_lines(server, marker)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} access lines not logged:\n{server.log[-3000:]}")
        time.sleep(0.02)
    return access_lines(server, marker)


def fields_of(line: str) -> dict[str, str]:
    values = line.split("ACCESS|", 1)[1].split("|")
    return dict(zip((*FIELDS, "duration"), values, strict=True))


def raw_request(port: int, data: bytes) -> tuple[bytes, int]:
    """Sends raw request bytes, reads until the server closes; returns the response
    bytes and the client's own port (what the log names)."""
    with connect(port) as sock:
        local_port = sock.getsockname()[1]
        sock.sendall(data)
        return read_until_closed(sock), local_port


# -- fields ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("logging")
    with serve(PROBE, "--access-log-format", ALL_FIELDS, tmp=tmp) as server:
        yield server


def logged(server: ServerProcess, data: bytes) -> dict[str, str]:
    """The fields of the access line of one raw request (the only one with its port)."""
    _, port = raw_request(server.port, data)
    client = f"127.0.0.1:{port}"
    server.wait_for_log(f"ACCESS|{client}|")
    (line,) = [line for line in access_lines(server) if f"ACCESS|{client}|" in line]
    return fields_of(line)


def test_each_field_of_a_known_length_response(probe: ServerProcess) -> None:
    _, port = raw_request(
        probe.port, b"GET /length?n=10&x=%41 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    line = probe.wait_for_log(f"ACCESS|127.0.0.1:{port}|")
    fields = fields_of(line)
    duration = float(fields.pop("duration"))
    assert fields == {
        "client": f"127.0.0.1:{port}",
        "method": "GET",
        "path": "/length",
        "query": "n=10&x=%41",
        "http_version": "1.1",
        "request": "GET /length?n=10&x=%41 HTTP/1.1",
        "status": "200",
        "bytes": "10",
    }
    assert duration >= 0


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        # A chunked body: body bytes, not the chunk framing (3 x "chunk i\n").
        (
            b"GET /stream?n=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            {"bytes": "24", "status": "200", "query": "n=3"},
        ),
        # HEAD sends no body bytes whatever the application wrote.
        (
            b"HEAD /length?n=10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            {"bytes": "0", "method": "HEAD", "status": "200"},
        ),
        # HTTP/1.0, a POST with a body, no query.
        (
            b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
            {
                "http_version": "1.0",
                "method": "POST",
                "query": "",
                "request": "POST /echo HTTP/1.0",
            },
        ),
        # An application error: the 500 the server answered.
        (
            b"GET /error/before HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            {"status": "500", "bytes": str(len("Internal Server Error\n"))},
        ),
        # Percent-decoded path; the request line keeps the raw target.
        (
            b"GET /caf%C3%A9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            {"path": "/café", "request": "GET /caf%C3%A9 HTTP/1.1", "bytes": "2"},
        ),
    ],
)
def test_fields_by_response_kind(
    probe: ServerProcess, request_bytes: bytes, expected: dict[str, str]
) -> None:
    fields = logged(probe, request_bytes)
    assert {name: fields[name] for name in expected} == expected
    assert float(fields["duration"]) >= 0


def test_a_decoded_newline_cannot_forge_a_line(probe: ServerProcess) -> None:
    """%0A decodes to a newline in the path; the text line escapes it (and quotes and
    backslashes), so a client cannot add a line of its own."""
    fields = logged(
        probe, b"GET /a%0AINFO:%20forged%22%5C HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    assert fields["path"] == "/a\\x0aINFO: forged\\x22\\x5c"
    assert not any(line.startswith("INFO: forged") for line in probe.lines)


def test_proxied_client(probe: ServerProcess) -> None:
    """The client after trusted proxy headers (127.0.0.1 is trusted by default)."""
    _, port = raw_request(
        probe.port,
        b"GET /px HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n",
    )
    line = probe.wait_for_log("ACCESS|203.0.113.9:0|GET|/px|")
    assert f"127.0.0.1:{port}" not in line


@pytest.mark.parametrize(
    ("app", "path"),
    [(PROBE, "/hello?x=1"), (PSGI, "/str?x=1")],
    ids=["asgi", "psgi"],
)
def test_default_line_is_unchanged(tmp_path: Path, app: str, path: str) -> None:
    """Today's line, byte for byte, on both interfaces."""
    with serve(app, tmp=tmp_path) as server:
        _, port = raw_request(
            server.port, f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode()
        )
        route = path.split("?")[0]
        line = server.wait_for_log(f"127.0.0.1:{port} -")
        assert line == f'INFO:     127.0.0.1:{port} - "GET {route} HTTP/1.1" 200'


def test_psgi_fields_and_sendfile_bytes(tmp_path: Path) -> None:
    """PSGI uses the same access log; a file sent with sendfile counts its bytes."""
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 100_000)
    with serve(PSGI, "--access-log-format", ALL_FIELDS, tmp=tmp_path) as server:
        httpx.get(f"{server.url}/file", params={"path": str(data)})
        httpx.get(f"{server.url}/known?total=2500")
        lines = wait_for_access(server, 2)
    by_path = {fields_of(line)["path"]: fields_of(line) for line in lines}
    assert by_path["/file"]["bytes"] == "100000"
    assert by_path["/known"]["bytes"] == "2500"
    assert by_path["/known"]["query"] == "total=2500"


# -- JSON -----------------------------------------------------------------------------


def test_json_lines(tmp_path: Path) -> None:
    with serve(PROBE, "--log-format", "json", tmp=tmp_path) as server:
        httpx.get(f"{server.url}/length?n=7&q=%22")
        httpx.get(f"{server.url}/error/before")
        server.wait_for_log('"path":"/error/before"')
    records = [json.loads(line) for line in server.lines if line.strip()]
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in records)
    access = [r for r in records if r["logger"] == "pyre.access"]
    first = next(r for r in access if r["path"] == "/length")
    assert first["level"] == "INFO"
    assert first["query"] == "n=7&q=%22"
    assert first["status"] == 200 and first["bytes"] == 7
    assert isinstance(first["duration"], float) and first["duration"] >= 0
    assert first["http_version"] == "1.1" and first["method"] == "GET"
    assert first["request"] == "GET /length?n=7&q=%22 HTTP/1.1"
    assert first["message"] == f'{first["client"]} - "GET /length HTTP/1.1" 200'
    assert set(_logging.ACCESS_LOG_FIELDS) <= first.keys()
    errors = [r for r in records if r["logger"] == "pyre.error"]
    assert any(r["message"].startswith("Pyre running on") for r in errors)
    failure = next(r for r in errors if r["level"] == "ERROR")
    assert "Traceback" in failure["exception"]


def test_json_formatter_in_process() -> None:
    record = logging.LogRecord("pyre.error", logging.WARNING, __file__, 1, 'a "%s"', ("b",), None)
    record.created = 0.25
    data = json.loads(_logging.JsonFormatter().format(record))
    assert data == {
        "time": "1970-01-01T00:00:00.250Z",
        "level": "WARNING",
        "logger": "pyre.error",
        "message": 'a "b"',
    }


# -- --log-config ---------------------------------------------------------------------

FILE_FORMAT = (
    "%(levelname)s %(client)s %(method)s %(path)s q=%(query)s %(http_version)s"
    " [%(request)s] %(status)d %(bytes)d %(duration).6f <%(message)s>"
)


def log_config(access_file: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"fields": {"format": FILE_FORMAT}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(access_file),
                "formatter": "fields",
            }
        },
        "loggers": {"pyre.access": {"handlers": ["file"], "level": "INFO"}},
    }


TOML_CONFIG = """
version = 1
disable_existing_loggers = false

[formatters.fields]
format = "{format}"

[handlers.file]
class = "logging.FileHandler"
filename = "{filename}"
formatter = "fields"

[loggers."pyre.access"]
handlers = ["file"]
level = "INFO"
"""


@pytest.mark.parametrize("kind", ["json", "toml"])
def test_log_config_routes_access_to_a_file(tmp_path: Path, kind: str) -> None:
    access_file = tmp_path / "access.log"
    config_file = tmp_path / f"logging.{kind}"
    if kind == "json":
        config_file.write_text(json.dumps(log_config(access_file)))
    else:
        config_file.write_text(TOML_CONFIG.format(format=FILE_FORMAT, filename=access_file))
    with serve(PROBE, "--log-config", str(config_file), tmp=tmp_path) as server:
        with connect(server.port) as sock:
            port = sock.getsockname()[1]
            sock.sendall(b"GET /length?n=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            read_until_closed(sock)
        httpx.head(f"{server.url}/length?n=3")
    # Stopped: every line is in the file. pyre.error still prints (not disabled).
    lines = access_file.read_text().splitlines()
    assert len(lines) == 2, lines
    expected = f"INFO 127.0.0.1:{port} GET /length q=n=3 1.1 [GET /length?n=3 HTTP/1.1] 200 3 "
    assert lines[0].startswith(expected), lines[0]
    assert lines[0].endswith(f'<127.0.0.1:{port} - "GET /length HTTP/1.1" 200>')
    assert " HEAD /length " in lines[1] and " 200 0 " in lines[1]
    assert "Pyre running on" in server.log
    assert not [line for line in server.lines if '"GET /length' in line]


def test_a_handler_of_ones_own_gets_records(tmp_path: Path) -> None:
    """Handlers added by code (not a file) get records too, with the fields."""
    script = tmp_path / "run.py"
    script.write_text(
        "import logging, sys\n"
        "from pyre.config import Config\n"
        "class Fields(logging.Handler):\n"
        "    def emit(self, record):\n"
        "        print('RECORD', record.method, record.path, record.status, record.bytes,\n"
        "              record.getMessage(), flush=True)\n"
        "config = Config(app='tests.apps.probe:app', port=0)\n"
        "config.configure_logging()\n"
        "logging.getLogger('pyre.access').addHandler(Fields())\n"
        "from pyre import serve\n"
        "sys.exit(serve.run_config(config))\n"
    )
    # run_config configures logging again, replacing only Pyre's own handlers.
    command = [sys.executable, str(script)]
    with serve_command(command, READY, tmp=tmp_path) as server:
        httpx.get(f"{server.url}/length?n=4")
        line = server.wait_for_log("RECORD")
    assert line.startswith("RECORD GET /length 200 4 127.0.0.1:")


# -- choosing the path -------------------------------------------------------------------


@pytest.mark.usefixtures("clean_loggers")
def test_fast_path_only_with_pyres_own_handler(tmp_path: Path) -> None:
    config = Config(app="m:a")
    config.configure_logging()
    options = _logging.access_log_options(config)
    assert options["access_log_output"] == "text"
    assert options["access_log_prefix"] == "INFO:     "
    assert isinstance(options["access_log"], _logging.StreamSink)

    json_config = Config(app="m:a", log_format="json")
    json_config.configure_logging()
    assert _logging.access_log_options(json_config)["access_log_output"] == "json"

    logging.getLogger("pyre.access").addHandler(logging.NullHandler())
    options = _logging.access_log_options(config)
    assert options["access_log_output"] == "records"
    assert isinstance(options["access_log"], _logging.RecordSink)

    off = Config(app="m:a", access_log=False)
    off.configure_logging()
    assert _logging.access_log_options(off) == {}
    quiet = Config(app="m:a", log_level="warning")
    quiet.configure_logging()
    assert _logging.access_log_options(quiet) == {}

    config_file = tmp_path / "log.json"
    config_file.write_text('{"version": 1, "disable_existing_loggers": false}')
    with_file = Config(app="m:a", log_config=str(config_file))
    with_file.configure_logging()
    assert _logging.access_log_options(with_file)["access_log_output"] == "records"


@pytest.mark.usefixtures("clean_loggers")
def test_record_sink_sets_fields_and_time() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("pyre.access")
    logger.handlers[:] = [Keep()]
    logger.setLevel(logging.INFO)
    values = ("1.2.3.4:5", "GET", "/%", "", "1.1", "GET /%25 HTTP/1.1", 404, 0, 0.5)
    _logging.RecordSink(logger)([("line 100%", 12.5, *values)])
    (record,) = seen
    assert record.getMessage() == "line 100%"  # no %-formatting of the message
    assert record.created == 12.5
    assert {name: getattr(record, name) for name in _logging.ACCESS_LOG_FIELDS} == dict(
        zip(_logging.ACCESS_LOG_FIELDS, values, strict=True)
    )


# -- bad inputs -------------------------------------------------------------------------


def invoke(args: list[str]) -> Any:
    return CliRunner().invoke(main, args, prog_name="pyre-http")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{client} {nope}", "unknown field {nope}"),
        ("{status", "is not closed"),
        ("status}", "closes nothing"),
        ("{}", "unknown field {}"),
    ],
)
def test_bad_access_log_format(spec: str, message: str) -> None:
    result = invoke(["--access-log-format", spec, "main:app"])
    assert result.exit_code == 2
    assert "--access-log-format" in result.output
    assert message in result.output
    with pytest.raises(ConfigError) as info:
        Config(app="m:a", access_log_format=spec)
    assert info.value.fields == ("access_log_format",)


def test_unknown_field_lists_the_known_ones() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyre", "--access-log-format", "{stauts}", "main:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "Invalid value for '--access-log-format'" in out.stderr
    assert "unknown field {stauts}" in out.stderr
    assert "status" in out.stderr and "duration" in out.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "cannot read"),
        ("bad.json", "{not json", "is not valid JSON"),
        ("bad.toml", "version = = 1", "is not valid TOML"),
        ("list.json", "[1, 2]", "version = 1"),
        ("noversion.toml", "[loggers]", "version = 1"),
        ("config.yaml", "version: 1", "must be a .json or .toml file"),
    ],
)
def test_bad_log_config_file(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        Config(app="m:a", log_config=str(path))
    assert info.value.fields == ("log_config",)
    result = invoke(["--log-config", str(path), "main:app"])
    assert result.exit_code == 2
    assert "--log-config" in result.output


def test_log_config_that_dictconfig_refuses(tmp_path: Path) -> None:
    """Well-formed, but naming a handler class that does not exist: a one-line error
    naming log_config when the server starts, exit status 1."""
    path = tmp_path / "log.json"
    path.write_text(json.dumps({"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}))
    out = subprocess.run(
        [sys.executable, "-m", "pyre", "--log-config", str(path), PROBE, "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "log_config" in out.stderr and "Traceback" not in out.stderr


def test_bad_log_format() -> None:
    result = invoke(["--log-format", "xml", "main:app"])
    assert result.exit_code == 2
    assert "--log-format" in result.output
    with pytest.raises(ConfigError) as info:
        Config(app="m:a", log_format="xml")  # type: ignore[arg-type]
    assert info.value.fields == ("log_format",)


#: A log config naming a logger replaces its handlers (dictConfig's rule), so one
#: that changes pyre.error's level gives it a handler too, with Pyre's formatter.
ERROR_AT_INFO = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "prefix": {"()": "pyre.config.LevelPrefixFormatter", "fmt": "%(levelprefix)s %(message)s"}
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "prefix",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {"pyre.error": {"level": "INFO", "handlers": ["stderr"]}},
}


def test_no_access_log_and_quiet_levels(tmp_path: Path) -> None:
    """--no-access-log, and --log-level warning (with pyre.error put back to INFO by a
    log config, so the server still says where it listens): no access line."""
    config_file = tmp_path / "error-info.json"
    config_file.write_text(json.dumps(ERROR_AT_INFO))
    quiet = ("--log-level", "warning", "--log-config", str(config_file))
    for args in (("--no-access-log",), quiet):
        with serve(PROBE, *args, "--access-log-format", ALL_FIELDS, tmp=tmp_path) as server:
            httpx.get(f"{server.url}/quiet")
            httpx.get(f"{server.url}/error/before")
            server.wait_for_log("Exception in ASGI application")  # the log caught up
        assert not access_lines(server), server.log


# -- order and completeness ------------------------------------------------------------


def test_pipelined_requests_are_logged_in_order(probe: ServerProcess) -> None:
    count = 30
    requests = b"".join(
        f"GET /pipe/{i} HTTP/1.1\r\nHost: a\r\n{'Connection: close' if i == count - 1 else ''}"
        f"\r\n\r\n".encode()
        for i in range(count)
    )
    data, port = raw_request(probe.port, requests)
    assert data.count(b"HTTP/1.1 200") == count
    marker = f"ACCESS|127.0.0.1:{port}|"
    lines = wait_for_access(probe, count, marker)
    assert [fields_of(line)["path"] for line in lines] == [f"/pipe/{i}" for i in range(count)]


def wait_for_calls(server: ServerProcess, prefix: str, count: int) -> None:
    """Until the application recorded ``count`` calls starting with ``prefix``."""
    deadline = time.monotonic() + 10
    while sum(call.startswith(prefix) for call in server.calls()) < count:
        assert time.monotonic() < deadline, server.calls()
        time.sleep(0.02)


def burst(port: int, connections: int, per_connection: int, path: str) -> int:
    """Pipelined requests on several connections at once; returns responses read."""

    def one(c: int) -> int:
        requests = b"".join(
            f"GET {path}?c={c}&i={i} HTTP/1.1\r\nHost: a\r\n"
            f"{'Connection: close' if i == per_connection - 1 else ''}\r\n\r\n".encode()
            for i in range(per_connection)
        )
        with connect(port) as sock:
            sock.sendall(requests)
            return read_until_closed(sock).count(b"HTTP/1.1 200")

    with ThreadPoolExecutor(connections) as pool:
        return sum(pool.map(one, range(connections)))


@pytest.mark.parametrize("records", [False, True], ids=["stderr", "log-config"])
def test_nothing_lost_when_stopping_after_a_burst(tmp_path: Path, records: bool) -> None:
    access_file = tmp_path / "access.log"
    args: tuple[str, ...] = ("--access-log-format", ALL_FIELDS)
    if records:
        config_file = tmp_path / "log.json"
        config = log_config(access_file)
        config["formatters"]["fields"]["format"] = "%(message)s"
        config_file.write_text(json.dumps(config))
        args += ("--log-config", str(config_file))
    with serve(PROBE, *args, tmp=tmp_path) as server:
        answered = burst(server.port, 8, 50, "/burst")
        # Requests still running when the signal comes finish during the graceful
        # shutdown; their lines must be written too.
        slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        for sock in slow:
            sock.sendall(b"GET /slow?t=0.3 HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for_calls(server, "GET /slow", 3)
    for sock in slow:
        sock.close()
    assert answered == 400
    lines = access_file.read_text().splitlines() if records else access_lines(server)
    paths = [fields_of(line)["path"] for line in lines]
    assert paths.count("/burst") == 400
    assert paths.count("/slow") == 3
