"""Config (defaults, validation, loading the app, event loop, logging) and the importer."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyre.config import Config, ConfigError
from pyre.importer import ImportFromStringError, import_from_string


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """A stand-in application object."""


# -- temporary modules ------------------------------------------------------------


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write a module with a unique name under tmp_path; return its name.

    sys.path is restored and the modules imported are forgotten after the test.
    """
    monkeypatch.setattr(sys, "path", list(sys.path))
    created: list[str] = []

    def make(source: str, *, package: str | None = None) -> str:
        name = f"pyre_test_{uuid.uuid4().hex[:12]}"
        if package is None:
            (tmp_path / f"{name}.py").write_text(source)
        else:
            pkg = tmp_path / name
            (pkg / package).mkdir(parents=True)
            (pkg / "__init__.py").write_text("")
            (pkg / package / "__init__.py").write_text("")
            (pkg / package / "mod.py").write_text(source)
            name = f"{name}.{package}.mod"
        created.append(name.split(".")[0])
        importlib.invalidate_caches()
        return name

    yield make
    for top in created:
        for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
            del sys.modules[key]


APP_SOURCE = """
async def app(scope, receive, send):
    pass

class Holder:
    class Inner:
        @staticmethod
        async def app(scope, receive, send):
            pass

def create_app():
    return app

not_callable = 42
"""


# -- defaults and validation ------------------------------------------------------


def test_defaults() -> None:
    config = Config(app="main:app")
    assert dataclasses.asdict(config) == {
        "app": "main:app",
        "host": "127.0.0.1",
        "port": 8000,
        "uds": None,
        "fd": None,
        "backlog": 2048,
        "workers": 1,
        "max_requests": None,
        "max_requests_jitter": 0,
        "interface": "auto",
        "loop": "auto",
        "lifespan": "auto",
        "factory": False,
        "app_dir": ".",
        "reload": False,
        "reload_dirs": [],
        "reload_includes": [],
        "reload_excludes": [],
        "timeout_keep_alive": 75.0,
        "timeout_header": 10.0,
        "timeout_graceful_shutdown": 30.0,
        "limit_concurrency": None,
        "limit_request_head": 65536,
        "limit_request_body": None,
        "read_high_water": 65536,
        "write_high_water": 65536,
        "write_low_water": 16384,
        "root_path": "",
        "ssl_certfile": None,
        "ssl_keyfile": None,
        "ssl_keyfile_password": None,
        "ssl_ca_certs": None,
        "ssl_cert_reqs": 0,
        "ssl_ciphers": "TLSv1",
        "ws": "auto",
        "ws_max_size": 16 * 1024 * 1024,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "ws_per_message_deflate": True,
        "min_rate": 500,
        "min_rate_grace": 20.0,
        "headers": [],
        "server_header": False,
        "date_header": True,
        "proxy_headers": True,
        "forwarded_allow_ips": "127.0.0.1",
        "metrics_port": None,
        "metrics_host": "127.0.0.1",
        "log_level": "info",
        "access_log": True,
        "access_log_format": '{client} - "{method} {path} HTTP/{http_version}" {status}',
        "log_format": "text",
        "log_config": None,
    }


def test_keyword_only_and_slots() -> None:
    with pytest.raises(TypeError):
        Config("main:app")  # type: ignore[misc]
    config = Config(app="main:app")
    with pytest.raises(AttributeError):
        config.no_such_option = 1  # type: ignore[attr-defined]


def test_accepts_an_app_object_and_edge_values() -> None:
    config = Config(
        app=asgi_app,
        port=0,
        uds="/tmp/pyre.sock",
        backlog=1,
        limit_concurrency=1,
        limit_request_body=1,
        root_path="/api",
        log_level="TRACE",
        timeout_keep_alive=1,
    )
    assert config.app is asgi_app
    assert config.port == 0
    assert config.log_level == "trace"
    assert isinstance(config.timeout_keep_alive, float)
    assert Config(app="m:a", port=65535, fd=0).fd == 0


@pytest.mark.parametrize(
    ("kwargs", "fields", "message"),
    [
        ({"port": -1}, ("port",), "between 0 and 65535"),
        ({"port": 65536}, ("port",), "between 0 and 65535"),
        ({"port": "8000"}, ("port",), "integer"),
        ({"port": True}, ("port",), "integer"),
        ({"backlog": 0}, ("backlog",), ">= 1"),
        ({"workers": 0}, ("workers",), ">= 1"),
        ({"max_requests": 0}, ("max_requests",), ">= 1"),
        ({"max_requests_jitter": -1}, ("max_requests_jitter",), ">= 0"),
        ({"fd": -1}, ("fd",), ">= 0"),
        ({"uds": ""}, ("uds",), "empty"),
        ({"uds": "/tmp/s", "fd": 3}, ("uds", "fd"), "only one"),
        ({"interface": "wsgi"}, ("interface",), "auto, asgi, psgi"),
        ({"loop": "trio"}, ("loop",), "auto, uvloop, asyncio"),
        ({"lifespan": "maybe"}, ("lifespan",), "auto, on, off"),
        ({"log_level": "verbose"}, ("log_level",), "one of"),
        ({"timeout_keep_alive": 0}, ("timeout_keep_alive",), "positive"),
        ({"timeout_header": -1.5}, ("timeout_header",), "positive"),
        ({"timeout_graceful_shutdown": float("nan")}, ("timeout_graceful_shutdown",), "positive"),
        ({"timeout_header": float("inf")}, ("timeout_header",), "positive"),
        ({"timeout_header": "10"}, ("timeout_header",), "number"),
        ({"limit_concurrency": 0}, ("limit_concurrency",), ">= 1"),
        ({"limit_request_head": 0}, ("limit_request_head",), ">= 1"),
        ({"limit_request_body": -5}, ("limit_request_body",), ">= 1"),
        ({"read_high_water": 0}, ("read_high_water",), ">= 1"),
        ({"write_high_water": 0}, ("write_high_water",), ">= 1"),
        ({"write_low_water": -1}, ("write_low_water",), ">= 0"),
        (
            {"write_high_water": 1000, "write_low_water": 2000},
            ("write_low_water", "write_high_water"),
            "must not exceed",
        ),
        ({"root_path": "api"}, ("root_path",), "start with '/'"),
        ({"ws": "wsproto"}, ("ws",), "auto, none"),
        ({"ws_max_size": 0}, ("ws_max_size",), ">= 1"),
        ({"ws_ping_interval": -1}, ("ws_ping_interval",), "positive"),
        ({"ws_ping_timeout": "20"}, ("ws_ping_timeout",), "number"),
        ({"ws_per_message_deflate": "on"}, ("ws_per_message_deflate",), "True or False"),
        ({"min_rate": -1}, ("min_rate",), ">= 0"),
        ({"min_rate_grace": -5}, ("min_rate_grace",), "positive"),
        ({"headers": "X-A: 1"}, ("headers",), "list"),
        ({"headers": ["no-colon"]}, ("headers",), "Name: Value"),
        ({"headers": ["bad name: v"]}, ("headers",), "not a valid header name"),
        ({"headers": ["X-A: a\x01b"]}, ("headers",), "control character"),
        ({"server_header": "yes"}, ("server_header",), "True or False"),
        ({"forwarded_allow_ips": "10.0.0.0/33"}, ("forwarded_allow_ips",), "CIDR"),
        ({"forwarded_allow_ips": "proxy.local"}, ("forwarded_allow_ips",), "CIDR"),
        ({"metrics_port": 70000}, ("metrics_port",), "between 0 and 65535"),
        ({"metrics_port": "9100"}, ("metrics_port",), "integer"),
        ({"metrics_port": 8000}, ("port", "metrics_port"), "their own"),
        ({"metrics_host": ""}, ("metrics_host",), "empty"),
        ({"metrics_host": None}, ("metrics_host",), "string"),
        ({"factory": "yes"}, ("factory",), "True or False"),
        ({"access_log": 1}, ("access_log",), "True or False"),
        ({"app": 42}, ("app",), "callable"),
        ({"app": ""}, ("app",), "empty"),
    ],
)
def test_invalid_values_name_the_option(
    kwargs: dict[str, Any], fields: tuple[str, ...], message: str
) -> None:
    kwargs.setdefault("app", "main:app")
    with pytest.raises(ValueError, match=fields[0]) as info:
        Config(**kwargs)
    assert isinstance(info.value, ConfigError)
    assert info.value.fields == fields
    assert message in info.value.reason
    assert str(info.value).startswith(" and ".join(fields) + ": ")


# -- importer ---------------------------------------------------------------------


def test_import_module_attribute(make_module: Callable[..., str], tmp_path: Path) -> None:
    name = make_module(APP_SOURCE)
    sys.path.insert(0, str(tmp_path))
    assert import_from_string(f"{name}:not_callable") == 42
    assert import_from_string(f"{name}:app").__name__ == "app"


def test_import_dotted_attribute_and_dotted_module(
    make_module: Callable[..., str], tmp_path: Path
) -> None:
    name = make_module(APP_SOURCE, package="sub")
    sys.path.insert(0, str(tmp_path))
    inner = import_from_string(f"{name}:Holder.Inner.app")
    assert inner.__qualname__ == "Holder.Inner.app"


def test_import_stdlib() -> None:
    assert import_from_string("os.path:join") is __import__("os").path.join


@pytest.mark.parametrize("spec", ["main", "main:", ":app", "", "main.app"])
def test_import_string_without_colon(spec: str) -> None:
    expected = f'Import string "{spec}" must be in format "<module>:<attribute>".'
    with pytest.raises(ImportFromStringError) as info:
        import_from_string(spec)
    assert str(info.value) == expected
    assert isinstance(info.value, ValueError)


def test_import_relative_module_refused() -> None:
    with pytest.raises(ImportFromStringError, match="relative"):
        import_from_string(".main:app")


@pytest.mark.parametrize("module", ["pyre_no_such_module", "pyre_no_such_pkg.sub"])
def test_import_missing_module(module: str) -> None:
    with pytest.raises(ImportFromStringError) as info:
        import_from_string(f"{module}:app")
    assert str(info.value) == f'Could not import module "{module}".'


def test_import_missing_attribute(make_module: Callable[..., str], tmp_path: Path) -> None:
    name = make_module(APP_SOURCE)
    sys.path.insert(0, str(tmp_path))
    with pytest.raises(ImportFromStringError) as info:
        import_from_string(f"{name}:application")
    assert str(info.value) == f'Attribute "application" not found in module "{name}".'
    with pytest.raises(ImportFromStringError, match=r'Attribute "Holder\.Nope" not found'):
        import_from_string(f"{name}:Holder.Nope")


def test_import_error_inside_module_propagates(
    make_module: Callable[..., str], tmp_path: Path
) -> None:
    name = make_module("import pyre_dependency_that_is_missing\napp = None\n")
    sys.path.insert(0, str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        import_from_string(f"{name}:app")
    assert not isinstance(info.value, ImportFromStringError)
    assert info.value.name == "pyre_dependency_that_is_missing"


def test_other_errors_inside_module_propagate(
    make_module: Callable[..., str], tmp_path: Path
) -> None:
    name = make_module("from os import no_such_name\n")
    sys.path.insert(0, str(tmp_path))
    with pytest.raises(ImportError, match="no_such_name") as info:
        import_from_string(f"{name}:app")
    assert not isinstance(info.value, ImportFromStringError)
    name = make_module("raise RuntimeError('boom at import')\n")
    with pytest.raises(RuntimeError, match="boom at import"):
        import_from_string(f"{name}:app")


# -- load_app ---------------------------------------------------------------------


def test_load_app_uses_app_dir(make_module: Callable[..., str], tmp_path: Path) -> None:
    name = make_module(APP_SOURCE)
    assert str(tmp_path) not in sys.path
    app = Config(app=f"{name}:app", app_dir=str(tmp_path)).load_app()
    assert app.__module__ == name
    assert sys.path[0] == str(tmp_path)
    # Loading again does not stack up sys.path entries.
    Config(app=f"{name}:app", app_dir=str(tmp_path)).load_app()
    assert sys.path.count(str(tmp_path)) == 1


def test_load_app_factory(make_module: Callable[..., str], tmp_path: Path) -> None:
    name = make_module(APP_SOURCE)
    module_app = Config(app=f"{name}:app", app_dir=str(tmp_path)).load_app()
    factory = Config(app=f"{name}:create_app", app_dir=str(tmp_path), factory=True)
    assert factory.load_app() is module_app
    # Without factory=True the factory itself is the app.
    plain = Config(app=f"{name}:create_app", app_dir=str(tmp_path)).load_app()
    assert plain.__name__ == "create_app"


def test_load_app_object_as_is_and_factory_object() -> None:
    assert Config(app=asgi_app).load_app() is asgi_app
    calls: list[tuple[Any, ...]] = []

    def create(*args: Any) -> Any:
        calls.append(args)
        return asgi_app

    assert Config(app=create, factory=True).load_app() is asgi_app
    assert calls == [()]


def test_load_app_errors(make_module: Callable[..., str], tmp_path: Path) -> None:
    name = make_module(APP_SOURCE)
    with pytest.raises(ConfigError, match="not callable") as info:
        Config(app=f"{name}:not_callable", app_dir=str(tmp_path)).load_app()
    assert info.value.fields == ("app",)
    with pytest.raises(ConfigError, match="factory"):
        Config(app=f"{name}:not_callable", app_dir=str(tmp_path), factory=True).load_app()
    with pytest.raises(ConfigError, match="factory's result"):
        Config(app=lambda: 42, factory=True).load_app()
    with pytest.raises(ImportFromStringError, match="Could not import module"):
        Config(app="pyre_no_such_module:app", app_dir=str(tmp_path)).load_app()


# -- event loop -------------------------------------------------------------------


@pytest.fixture
def restore_policy() -> Iterator[None]:
    yield
    asyncio.set_event_loop_policy(None)


@pytest.fixture
def fake_uvloop(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("uvloop")

    class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
        pass

    module.EventLoopPolicy = EventLoopPolicy  # type: ignore[attr-defined]
    module.new_event_loop = asyncio.new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", module)
    return module


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail


@pytest.mark.usefixtures("restore_policy")
@pytest.mark.parametrize("loop", ["auto", "uvloop"])
def test_uvloop_policy_installed(loop: str, fake_uvloop: types.ModuleType) -> None:
    Config(app="m:a", loop=loop).setup_event_loop()  # type: ignore[arg-type]
    assert isinstance(asyncio.get_event_loop_policy(), fake_uvloop.EventLoopPolicy)
    factory = Config(app="m:a", loop=loop).event_loop_factory()  # type: ignore[arg-type]
    assert factory is fake_uvloop.new_event_loop


@pytest.mark.usefixtures("restore_policy")
def test_asyncio_loop_leaves_policy_alone(fake_uvloop: types.ModuleType) -> None:
    Config(app="m:a", loop="asyncio").setup_event_loop()
    assert not isinstance(asyncio.get_event_loop_policy(), fake_uvloop.EventLoopPolicy)
    assert Config(app="m:a", loop="asyncio").event_loop_factory() is asyncio.new_event_loop


@pytest.mark.usefixtures("restore_policy", "no_uvloop")
def test_auto_without_uvloop_falls_back_to_asyncio() -> None:
    before = asyncio.get_event_loop_policy()
    Config(app="m:a", loop="auto").setup_event_loop()
    assert asyncio.get_event_loop_policy() is before
    assert Config(app="m:a").event_loop_factory() is asyncio.new_event_loop


@pytest.mark.usefixtures("restore_policy", "no_uvloop")
def test_uvloop_asked_but_missing_is_a_clear_error() -> None:
    config = Config(app="m:a", loop="uvloop")
    with pytest.raises(ConfigError, match=r"uvloop.*not installed") as info:
        config.setup_event_loop()
    assert info.value.fields == ("loop",)
    with pytest.raises(ConfigError, match="not installed"):
        config.event_loop_factory()


# -- logging ----------------------------------------------------------------------


@pytest.mark.usefixtures("clean_loggers")
def test_logging_format_and_level(capsys: pytest.CaptureFixture[str]) -> None:
    Config(app="m:a", log_level="warning").configure_logging()
    error = logging.getLogger("pyre.error")
    error.info("not shown")
    error.warning("disk is %s", "full")
    error.error("bad")
    logging.getLogger("pyre.access").info('127.0.0.1:5000 - "GET / HTTP/1.1" 200')
    assert capsys.readouterr().err.splitlines() == [
        "WARNING:  disk is full",
        "ERROR:    bad",
    ]


@pytest.mark.usefixtures("clean_loggers")
def test_logging_info_access_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    Config(app="m:a").configure_logging()
    logging.getLogger("pyre.error").info("Started")
    logging.getLogger("pyre.access").info('127.0.0.1:5000 - "GET / HTTP/1.1" 200')
    Config(app="m:a", log_level="trace").configure_logging()
    logging.getLogger("pyre.error").log(5, "bytes in")
    assert capsys.readouterr().err.splitlines() == [
        "INFO:     Started",
        'INFO:     127.0.0.1:5000 - "GET / HTTP/1.1" 200',
        "TRACE:    bytes in",
    ]


@pytest.mark.usefixtures("clean_loggers")
def test_logging_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        Config(app="m:a").configure_logging()
    for name in ("pyre.error", "pyre.access"):
        assert len(logging.getLogger(name).handlers) == 1
    logging.getLogger("pyre.error").info("once")
    assert capsys.readouterr().err == "INFO:     once\n"


@pytest.mark.usefixtures("clean_loggers")
def test_access_log_off(capsys: pytest.CaptureFixture[str]) -> None:
    Config(app="m:a", access_log=False).configure_logging()
    access = logging.getLogger("pyre.access")
    assert not access.isEnabledFor(logging.INFO)
    access.info("GET /")
    logging.getLogger("pyre.error").info("still here")
    assert capsys.readouterr().err == "INFO:     still here\n"
    # Turning it back on works (configure_logging replaces, not accumulates, state).
    Config(app="m:a", access_log=True).configure_logging()
    assert access.isEnabledFor(logging.INFO)


def test_tls_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="ssl_keyfile: needs ssl_certfile"):
        Config(app="main:app", ssl_keyfile="key.pem")
    with pytest.raises(ConfigError, match="ssl_cert_reqs"):
        Config(app="main:app", ssl_certfile="cert.pem", ssl_cert_reqs=3)
    config = Config(app="main:app", ssl_certfile="/nonexistent/cert.pem")
    assert config.tls
    with pytest.raises(ConfigError, match=r"ssl_certfile: --ssl-certfile /nonexistent/cert\.pem"):
        config.check_tls()
    assert Config(app="main:app").tls_config() is None
