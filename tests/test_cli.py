"""The pyre-http command: options, environment variables, errors, python -m pyre.

The server itself is replaced by a fake ``pyre.serve`` module that records the Config.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from typing import Any

import pytest
from click.testing import CliRunner, Result

import pyre
from pyre.cli import build_config, main
from pyre.config import Config, ConfigError
from pyre.importer import ImportFromStringError


class FakeServe:
    """Stands in for pyre.serve: records each Config and returns ``status``."""

    def __init__(self) -> None:
        self.configs: list[Config] = []
        self.status: int = 0
        self.error: Exception | None = None

    def run_config(self, config: Config) -> int:
        self.configs.append(config)
        if self.error is not None:
            raise self.error
        return self.status

    @property
    def config(self) -> Config:
        assert len(self.configs) == 1, self.configs
        return self.configs[0]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> FakeServe:
    fake = FakeServe()
    module = types.ModuleType("pyre.serve")
    module.run_config = fake.run_config  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyre.serve", module)
    monkeypatch.setattr(pyre, "serve", module, raising=False)
    return fake


@pytest.fixture(autouse=True)
def no_pyre_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep PYRE_* variables of the surrounding environment out of the tests."""
    for name in list(os.environ):
        if name.startswith("PYRE_"):
            monkeypatch.delenv(name)


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, prog_name="pyre-http")


# -- defaults and options ---------------------------------------------------------


def test_defaults(serve: FakeServe) -> None:
    result = invoke(["main:app"])
    assert result.exit_code == 0, result.output
    assert serve.config == Config(app="main:app")


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--host", "0.0.0.0"], "host", "0.0.0.0"),
        (["--port", "9000"], "port", 9000),
        (["--port", "0"], "port", 0),
        (["--uds", "/tmp/pyre.sock"], "uds", "/tmp/pyre.sock"),
        (["--fd", "3"], "fd", 3),
        (["--backlog", "128"], "backlog", 128),
        (["--interface", "psgi"], "interface", "psgi"),
        (["--interface", "asgi"], "interface", "asgi"),
        (["--loop", "asyncio"], "loop", "asyncio"),
        (["--loop", "uvloop"], "loop", "uvloop"),
        (["--lifespan", "off"], "lifespan", "off"),
        (["--lifespan", "on"], "lifespan", "on"),
        (["--factory"], "factory", True),
        (["--app-dir", "src"], "app_dir", "src"),
        (["--reload"], "reload", True),
        (["--reload-dir", "/", "--reload-dir", "."], "reload_dirs", ["/", "."]),
        (
            ["--reload-include", "*.html", "--reload-include", ".env"],
            "reload_includes",
            ["*.html", ".env"],
        ),
        (["--reload-exclude", "tests/*"], "reload_excludes", ["tests/*"]),
        (["--timeout-keep-alive", "5"], "timeout_keep_alive", 5.0),
        (["--timeout-header", "2.5"], "timeout_header", 2.5),
        (["--timeout-graceful-shutdown", "60"], "timeout_graceful_shutdown", 60.0),
        (["--limit-concurrency", "100"], "limit_concurrency", 100),
        (["--limit-request-head", "8192"], "limit_request_head", 8192),
        (["--limit-request-body", "1048576"], "limit_request_body", 1048576),
        (["--read-high-water", "1024"], "read_high_water", 1024),
        (["--write-high-water", "131072"], "write_high_water", 131072),
        (["--write-low-water", "0"], "write_low_water", 0),
        (["--root-path", "/api"], "root_path", "/api"),
        (["--header", "X-A: 1", "--header", "X-B:2"], "headers", ["X-A: 1", "X-B: 2"]),
        (["--server-header"], "server_header", True),
        (["--workers", "3"], "workers", 3),
        (["--max-requests", "1000"], "max_requests", 1000),
        (["--max-requests-jitter", "50"], "max_requests_jitter", 50),
        (["--no-proxy-headers"], "proxy_headers", False),
        (["--forwarded-allow-ips", "10.0.0.0/8,*"], "forwarded_allow_ips", "10.0.0.0/8,*"),
        (["--no-date-header"], "date_header", False),
        (["--log-level", "debug"], "log_level", "debug"),
        (["--log-level", "TRACE"], "log_level", "trace"),
        (["--no-access-log"], "access_log", False),
        (["--access-log"], "access_log", True),
    ],
)
def test_option_maps_to_field(serve: FakeServe, args: list[str], field: str, value: Any) -> None:
    result = invoke([*args, "main:app"])
    assert result.exit_code == 0, result.output
    assert getattr(serve.config, field) == value
    # Nothing else moved away from its default.
    others = {f: getattr(serve.config, f) for f in Config.__dataclass_fields__ if f != field}
    defaults = Config(app="main:app")
    assert others == {f: getattr(defaults, f) for f in others}


# Options not spelled like their Config field: one --header per header, as uvicorn,
# and one --reload-dir (-include, -exclude) per value.
OPTION_NAMES = {
    "headers": "--header",
    "reload_dirs": "--reload-dir",
    "reload_includes": "--reload-include",
    "reload_excludes": "--reload-exclude",
}


def test_every_config_field_has_an_option_with_an_envvar() -> None:
    params = {p.name: p for p in main.params if p.name != "version"}
    assert set(params) == set(Config.__dataclass_fields__)
    ctx = main.make_context("pyre-http", ["main:app"])
    for name, param in params.items():
        if name == "app":
            assert param.envvar == "PYRE_APP"
            continue
        assert param.opts == [OPTION_NAMES.get(name, "--" + name.replace("_", "-"))] or (
            name == "access_log"
        )
        assert param.resolve_envvar_value(ctx) is None  # nothing set in the environment
        record = param.get_help_record(ctx)
        assert record is not None
        assert f"PYRE_{name.upper()}" in record[1]


def test_exit_status_is_run_configs(serve: FakeServe) -> None:
    serve.status = 3
    result = invoke(["main:app"])
    assert result.exit_code == 3
    assert len(serve.configs) == 1


def test_build_config_programmatic() -> None:
    config = build_config(app="main:app", port=9000, access_log=False)
    assert config == Config(app="main:app", port=9000, access_log=False)
    with pytest.raises(ConfigError, match="port"):
        build_config(app="main:app", port=-1)


# -- environment variables --------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"PYRE_PORT": "9001"}, "port", 9001),
        ({"PYRE_HOST": "::1"}, "host", "::1"),
        ({"PYRE_UDS": "/run/pyre.sock"}, "uds", "/run/pyre.sock"),
        ({"PYRE_LIMIT_CONCURRENCY": "64"}, "limit_concurrency", 64),
        ({"PYRE_TIMEOUT_KEEP_ALIVE": "120"}, "timeout_keep_alive", 120.0),
        ({"PYRE_INTERFACE": "psgi"}, "interface", "psgi"),
        ({"PYRE_WORKERS": "3"}, "workers", 3),
        ({"WEB_CONCURRENCY": "4"}, "workers", 4),
        ({"PYRE_LOG_LEVEL": "warning"}, "log_level", "warning"),
        ({"PYRE_ROOT_PATH": "/v1"}, "root_path", "/v1"),
        ({"PYRE_APP_DIR": "/srv/app"}, "app_dir", "/srv/app"),
        ({"PYRE_RELOAD": "1"}, "reload", True),
        ({"PYRE_RELOAD_DIRS": f"/{os.pathsep}."}, "reload_dirs", ["/", "."]),
        ({"PYRE_RELOAD_INCLUDES": "*.html *.css"}, "reload_includes", ["*.html", "*.css"]),
        ({"PYRE_RELOAD_EXCLUDES": "tests/*"}, "reload_excludes", ["tests/*"]),
        ({"PYRE_FACTORY": "1"}, "factory", True),
        ({"PYRE_FACTORY": "true"}, "factory", True),
        ({"PYRE_FACTORY": "0"}, "factory", False),
        ({"PYRE_ACCESS_LOG": "false"}, "access_log", False),
        ({"PYRE_ACCESS_LOG": "0"}, "access_log", False),
        ({"PYRE_ACCESS_LOG": "no"}, "access_log", False),
        ({"PYRE_ACCESS_LOG": "1"}, "access_log", True),
    ],
)
def test_env_var(serve: FakeServe, env: dict[str, str], field: str, value: Any) -> None:
    result = invoke(["main:app"], env=env)
    assert result.exit_code == 0, result.output
    assert getattr(serve.config, field) == value


def test_app_from_env(serve: FakeServe) -> None:
    result = invoke(["--port", "9002"], env={"PYRE_APP": "web:application"})
    assert result.exit_code == 0, result.output
    assert serve.config.app == "web:application"
    assert serve.config.port == 9002


def test_command_line_beats_env(serve: FakeServe) -> None:
    env = {
        "PYRE_PORT": "9001",
        "PYRE_APP": "env:app",
        "PYRE_ACCESS_LOG": "false",
        "PYRE_LOG_LEVEL": "error",
    }
    result = invoke(["--port", "9003", "--access-log", "--log-level", "debug", "cli:app"], env)
    assert result.exit_code == 0, result.output
    assert (serve.config.port, serve.config.app) == (9003, "cli:app")
    assert serve.config.access_log is True
    assert serve.config.log_level == "debug"


def test_bad_env_value_names_the_variable(serve: FakeServe) -> None:
    result = invoke(["main:app"], env={"PYRE_PORT": "eighty"})
    assert result.exit_code == 2
    assert "--port" in result.output
    assert serve.configs == []


def test_pyre_version_in_env_does_not_hijack_the_run(serve: FakeServe) -> None:
    result = invoke(["main:app"], env={"PYRE_VERSION": "1"})
    assert result.exit_code == 0, result.output
    assert len(serve.configs) == 1


# -- invalid values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--port", "70000"], ["'--port'", "between 0 and 65535"]),
        (["--port", "-1"], ["'--port'"]),
        (["--port", "http"], ["'--port'", "not a valid integer"]),
        (["--interface", "wsgi"], ["'--interface'", "wsgi"]),
        (["--loop", "trio"], ["'--loop'"]),
        (["--lifespan", "sometimes"], ["'--lifespan'"]),
        (["--log-level", "loud"], ["'--log-level'"]),
        (["--timeout-keep-alive", "-1"], ["'--timeout-keep-alive'", "positive"]),
        (["--timeout-header", "0"], ["'--timeout-header'", "positive"]),
        (["--timeout-graceful-shutdown", "nan"], ["'--timeout-graceful-shutdown'"]),
        (["--backlog", "0"], ["'--backlog'"]),
        (["--limit-concurrency", "0"], ["'--limit-concurrency'"]),
        (["--limit-request-head", "0"], ["'--limit-request-head'"]),
        (["--limit-request-body", "-1"], ["'--limit-request-body'"]),
        (["--fd", "-3"], ["'--fd'"]),
        (["--root-path", "api"], ["'--root-path'"]),
        (["--uds", "/tmp/s", "--fd", "3"], ["'--uds'", "'--fd'", "only one"]),
        (["--header", "no colon"], ["'--header'"]),
        (["--reload-dir", "/no/such/dir"], ["'--reload-dir'", "not a directory"]),
        (["--reload-include", ""], ["'--reload-include'", "non-empty"]),
        (["--reload-exclude", ""], ["'--reload-exclude'", "non-empty"]),
    ],
)
def test_invalid_value_exits_2_naming_the_option(
    serve: FakeServe, args: list[str], names: list[str]
) -> None:
    result = invoke([*args, "main:app"])
    assert result.exit_code == 2, result.output
    assert "Error: Invalid value for" in result.output
    for name in names:
        assert name in result.output
    assert serve.configs == []


def test_reload_options_without_reload_warn(serve: FakeServe) -> None:
    result = invoke(["--reload-dir", ".", "main:app"])
    assert result.exit_code == 0, result.output
    assert "take effect only with --reload" in result.output
    assert "only with --reload" not in invoke(["--reload", "--reload-dir", ".", "m:a"]).output


def test_missing_app(serve: FakeServe) -> None:
    result = invoke([])
    assert result.exit_code == 2
    assert "Missing argument 'APP'" in result.output
    assert serve.configs == []


@pytest.mark.parametrize(
    "error",
    [
        ImportFromStringError('Could not import module "nope".'),
        ConfigError("loop", "uvloop was asked for but is not installed"),
    ],
)
def test_startup_error_is_one_line_exit_1(serve: FakeServe, error: Exception) -> None:
    serve.error = error
    result = invoke(["nope:app"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {error}"


def test_other_errors_from_the_server_propagate(serve: FakeServe) -> None:
    serve.error = RuntimeError("bug in the app")
    result = invoke(["main:app"])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)


# -- version and help -------------------------------------------------------------


def test_version(serve: FakeServe) -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.output == f"pyre-http {pyre.__version__}\n"
    assert serve.configs == []


def test_help_lists_options_env_vars_and_defaults() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    assert result.output.startswith("Usage: pyre-http [OPTIONS] APP")
    for text in ("--timeout-keep-alive", "PYRE_LIMIT_CONCURRENCY", "default: 75.0", "2048"):
        assert text in result.output


def test_python_m_pyre_help() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYRE_")}
    out = subprocess.run(
        [sys.executable, "-m", "pyre", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: pyre-http [OPTIONS] APP")
    for name in Config.__dataclass_fields__:
        if name != "app":
            assert OPTION_NAMES.get(name, "--" + name.replace("_", "-")) in out.stdout
    assert "--version" in out.stdout


def test_python_m_pyre_bad_option_exits_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyre", "--port", "99999", "main:app"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 2
    assert "Invalid value for '--port'" in out.stderr
