"""--reload: an edited file is served by a new process on the same listener; files not
included (or excluded) do not reload; a syntax error leaves the reloader waiting for
the fix; SIGINT/SIGTERM stop the child and exit 0; bad values are refused.

The applications are written into tmp_path, watched with --reload-dir and imported
with --app-dir. PYTHONDONTWRITEBYTECODE keeps a stale .pyc (same size, same second)
from hiding an edit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import pyre
from pyre import reload
from pyre.config import Config, ConfigError
from tests.support import READY, ROOT, ServerProcess, serve

T = TypeVar("T")

MODULE = "reloadable"
APP = """
import os
from pathlib import Path

MESSAGE = "@MESSAGE@"
PAGE = Path(__file__).with_name("page.html")
TEMPLATE = PAGE.read_text() if PAGE.exists() else ""


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = f"{MESSAGE} {TEMPLATE} {os.getpid()}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
"""
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}


def write_app(directory: Path, message: str) -> None:
    (directory / f"{MODULE}.py").write_text(APP.replace("@MESSAGE@", message))


@contextmanager
def reloading(
    tmp_path: Path, *args: str, files: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Pyre with --reload serving the application written into tmp_path/app (with
    ``files`` beside it), watching and importing from there."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for name, text in (files or {}).items():
        (app_dir / name).write_text(text)
    write_app(app_dir, "one")
    options = ["--reload", "--reload-dir", str(app_dir), "--app-dir", str(app_dir), *args]
    with serve(f"{MODULE}:app", *options, env=NO_PYC, tmp=tmp_path) as server:
        yield server


def get(server: ServerProcess) -> tuple[str, int]:
    """The served message and the serving process's pid."""
    words = httpx.get(server.url, timeout=10).text.split()
    return " ".join(words[:-1]), int(words[-1])


def wait_for(condition: Callable[[], T], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def served(server: ServerProcess, message: str) -> Callable[[], int | None]:
    """A condition: the pid serving ``message``, else None."""

    def check() -> int | None:
        # No retry on transport errors: a connection made during a restart waits in
        # the accept queue or is answered by the old process (see Shutdown in
        # docs/server.md), never closed unanswered.
        text, pid = get(server)
        return pid if text == message else None

    return check


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def gone(pid: int) -> bool:
    """The process has exited (reaped, or a zombie), not left running."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def reloads(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Reloading..." in line]


# -- reloading ---------------------------------------------------------------------


def test_an_edit_is_served_by_a_new_process(tmp_path: Path) -> None:
    with reloading(tmp_path, "--header", "X-Reload: on") as server:
        text, first = get(server)
        assert text == "one"
        assert parent_of(first) == server.process.pid
        write_app(tmp_path / "app", "two-two")
        second = wait_for(served(server, "two-two"))
        assert second != first
        assert parent_of(second) == server.process.pid
        # The child got the whole configuration, not only the app.
        assert httpx.get(server.url, timeout=10).headers["x-reload"] == "on"
        assert server.stop() == 0
    [line] = reloads(server.log)
    assert line.startswith("WARNING:  WatchFiles detected changes in ")
    assert f"{MODULE}.py'" in line
    assert gone(first) and gone(second)


def test_files_not_included_or_excluded_do_not_reload(tmp_path: Path) -> None:
    ignored = ["notes.txt", "skipped_1.py", ".hidden.py", "__pycache__/cached.py"]
    with reloading(tmp_path, "--reload-exclude", "skipped_*.py") as server:
        app_dir = tmp_path / "app"
        for name in ignored:
            (app_dir / name).parent.mkdir(exist_ok=True)
            (app_dir / name).write_text("x = 1\n")
        # Then a change that does reload: had any of the files above reloaded, its
        # name would be logged before or with this one.
        write_app(app_dir, "two-two")
        wait_for(served(server, "two-two"))
        assert server.stop() == 0
    assert len(reloads(server.log)) == 1
    for name in ignored:
        assert Path(name).name not in server.log


def test_an_included_file_reloads(tmp_path: Path) -> None:
    page = {"page.html": "<p>old</p>"}
    with reloading(tmp_path, "--reload-include", "*.html", files=page) as server:
        assert get(server)[0] == "one <p>old</p>"
        (tmp_path / "app" / "page.html").write_text("<p>newer</p>")
        wait_for(served(server, "one <p>newer</p>"))
        assert server.stop() == 0
    [line] = reloads(server.log)
    assert "page.html'" in line


def test_a_syntax_error_waits_for_the_fix(tmp_path: Path) -> None:
    with reloading(tmp_path) as server:
        first = get(server)[1]
        (tmp_path / "app" / f"{MODULE}.py").write_text("def broken(:\n")
        server.wait_for_log("SyntaxError", timeout=15)
        server.wait_for_log("waiting for changes", timeout=15)
        assert server.process.poll() is None
        assert gone(first)
        write_app(tmp_path / "app", "fixed")
        fixed = wait_for(served(server, "fixed"))
        assert parent_of(fixed) == server.process.pid
        assert server.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_child_and_exits_0(tmp_path: Path, sig: int) -> None:
    with reloading(tmp_path) as server:
        child = get(server)[1]
        assert server.stop(sig) == 0
        wait_for(lambda: gone(child), timeout=5)
    server.wait_for_log("Finished server process")
    server.wait_for_log("Stopping reloader process")


SLOW_APP = """
import asyncio
from pathlib import Path

SHUTDOWN = Path(__file__).with_name("lifespan-shutdown")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            if kind == "shutdown":
                SHUTDOWN.write_text("done")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    print("slow request started", flush=True)
    await asyncio.sleep(1.5)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"slow done"})
"""


def test_ctrl_c_in_a_terminal_lets_requests_finish(tmp_path: Path) -> None:
    # Ctrl+C in a terminal signals the reloader and the child (one process group):
    # the child must see it as one signal, finish the request in flight and run
    # lifespan shutdown, not take the reloader's SIGTERM as a second signal.
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    command = [sys.executable, "-m", "pyre", "slow_app:app", "--port", "0", "--reload"]
    command += ["--reload-dir", str(tmp_path), "--app-dir", str(tmp_path)]
    master, terminal = os.openpty()

    def take_the_terminal() -> None:  # after setsid: the pty is the session's terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **NO_PYC},
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=take_the_terminal,
    )
    os.close(terminal)
    output: list[str] = []

    def read() -> None:
        with contextlib.suppress(OSError):  # EIO once every holder of the pty closed it
            while chunk := os.read(master, 65536):
                output.append(chunk.decode(errors="replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        port = int(wait_for(lambda: READY.search("".join(output))).group(1))
        response: list[httpx.Response] = []
        request = threading.Thread(
            target=lambda: response.append(httpx.get(f"http://127.0.0.1:{port}", timeout=10))
        )
        request.start()
        wait_for(lambda: "slow request started" in "".join(output))
        os.write(master, b"\x03")  # Ctrl+C
        assert process.wait(15) == 0
        request.join(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)
        os.close(master)
    log = "".join(output)
    assert [r.text for r in response] == ["slow done"], log
    assert (tmp_path / "lifespan-shutdown").read_text() == "done"
    assert "Killing" not in log


def test_a_killed_reloader_takes_its_child_along(tmp_path: Path) -> None:
    with reloading(tmp_path) as server:
        child = get(server)[1]
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        wait_for(lambda: gone(child), timeout=10)


def test_workers_are_ignored_with_a_warning(tmp_path: Path) -> None:
    with reloading(tmp_path, "--workers", "2") as server:
        server.wait_for_log("--workers 2 is ignored with --reload")
        pids = {get(server)[1] for _ in range(10)}
        assert len(pids) == 1
        assert parent_of(pids.pop()) == server.process.pid


# -- refused values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"reload": "yes"}, "reload", "True or False"),
        ({"reload_dirs": "src"}, "reload_dirs", "list of strings"),
        ({"reload_dirs": ["/no/such/dir"]}, "reload_dirs", "not a directory"),
        ({"reload_dirs": [""]}, "reload_dirs", "non-empty"),
        ({"reload_includes": ["*.html", 3]}, "reload_includes", "non-empty"),
        ({"reload_excludes": [""]}, "reload_excludes", "non-empty"),
    ],
)
def test_bad_values_are_refused(kwargs: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Config(app="main:app", **kwargs)
    assert info.value.fields == (field,)


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """An application object, not an import string."""


def test_reload_needs_an_import_string() -> None:
    with pytest.raises(ConfigError, match="import string") as info:
        pyre.run(asgi_app, reload=True)
    assert info.value.fields == ("reload",)


def test_bad_option_on_the_command_line_exits_2(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyre", "--reload", "--reload-dir", str(tmp_path / "no"), "m:a"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert "Invalid value for '--reload-dir'" in out.stderr
    assert "is not a directory" in out.stderr


def test_missing_watchfiles_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import raises ImportError
    with pytest.raises(ConfigError, match=r"pip install watchfiles"):
        reload.run_reload(Config(app="main:app", reload=True))


# -- which changes reload ----------------------------------------------------------

ROOT_DIR = Path("/srv/project")


@pytest.mark.parametrize(
    ("includes", "excludes", "path", "reloads"),
    [
        ([], [], "main.py", True),
        ([], [], "pkg/deep/module.py", True),
        ([], [], "notes.txt", False),
        ([], [], "templates/page.html", False),
        ([], [], ".hidden.py", False),  # .*
        ([], [], "~scratch.py", False),  # ~*
        ([], [], "__pycache__/main.py", False),  # a tool's directory
        ([], [], ".venv/lib/site.py", False),
        ([], [], ".git/hooks/post.py", False),
        (["*.html"], [], "templates/page.html", True),
        (["templates/*.html"], [], "templates/page.html", True),
        (["templates/*.html"], [], "static/page.html", False),
        (["*.html"], ["page.html"], "templates/page.html", False),
        ([], ["*.py"], "main.py", False),  # the default include dropped
        ([], ["test_*.py"], "tests/test_main.py", False),
        ([], ["test_*.py"], "tests/conftest.py", True),
        ([".env"], [], ".env", True),  # named exactly: wins over .*
        ([".*"], [], ".hidden.py", True),  # the default exclude dropped
        ([".*"], [], ".env", True),
    ],
)
def test_reload_filter(includes: list[str], excludes: list[str], path: str, reloads: bool) -> None:
    config = Config(app="main:app", reload_includes=includes, reload_excludes=excludes)
    check = reload.ReloadFilter(config, [ROOT_DIR], ["__pycache__", ".git", ".venv"])
    assert check.accepts(ROOT_DIR / path) is reloads


def test_reload_filter_excludes_a_directory(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    config = Config(app="main:app", reload_excludes=[str(tmp_path / "build")])
    check = reload.ReloadFilter(config, [tmp_path], [])
    assert not check.accepts(tmp_path / "build" / "gen.py")
    assert check.accepts(tmp_path / "src" / "gen.py")


def test_watch_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    assert reload.watch_dirs(Config(app="m:a")) == [tmp_path]
    assert reload.watch_dirs(Config(app="m:a", app_dir="src")) == [tmp_path]
    outside = Config(app="m:a", app_dir=str(tmp_path / "other"))
    monkeypatch.chdir(tmp_path / "src")
    assert reload.watch_dirs(outside) == [tmp_path / "src", tmp_path / "other"]
    nested = Config(app="m:a", reload_dirs=["pkg", str(tmp_path / "src"), "pkg"])
    assert reload.watch_dirs(nested) == [tmp_path / "src"]
