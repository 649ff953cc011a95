"""Extension reloads that hold in every setup (tests/apps/extensions_app.py on Pyre):
an async ``setup`` swaps in atomically (no request sees a 404), every worker of
``--workers 2`` reloads on SIGUSR1, sibling modules are re-imported, startup and
shutdown hooks of runtime-loaded extensions run, ``app.state`` set in setup is undone
on unload, two extensions may share class and method names, and
``load_extension`` called at import time without ``await`` works."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyre.framework import App, ExtensionFailed
from tests.support import SUPERVISOR_READY, ServerProcess, serve, serve_command

APP = "tests.apps.extensions_app:app"

#: Bounds of the request loops (count and time).
MAX_REQUESTS = 3000
MAX_SECONDS = 30.0

ASYNC_VERSION = """
import asyncio
import os
from pyre import framework


class Views(framework.Blueprint):
    @framework.endpoint("/ext/version")
    async def version(self):
        return "{version} " + str(os.getpid())


async def setup(app):
    await asyncio.sleep(0.05)     # the old routes must go on serving meanwhile
    app.add_blueprint(Views())
    await asyncio.sleep(0.05)
"""


def write(directory: Path, name: str, text: str) -> None:
    (directory / f"{name}.py").write_text(text)


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    directory = tmp_path / "modules"
    directory.mkdir()
    return directory


def env_for(modules: Path, **extra: str) -> dict[str, str]:
    """The server's environment: ``modules`` importable, and the PYTHONPATH the tests
    run with kept (it may name the tree under test)."""
    path = [str(modules), str(Path.cwd()), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": ":".join(p for p in path if p), **extra}


@pytest.fixture
def server(modules: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    with serve(APP, env=env_for(modules), tmp=tmp_path) as running:
        yield running


def test_async_setup_reload_never_answers_404(server: ServerProcess, modules: Path) -> None:
    write(modules, "asyncviews", ASYNC_VERSION.format(version="v0"))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/admin/load/asyncviews").json()["ok"] is True
        seen: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            deadline = time.monotonic() + MAX_SECONDS
            with httpx.Client(base_url=server.url, timeout=10) as other:
                for _ in range(MAX_REQUESTS):
                    if stop.is_set() or time.monotonic() > deadline:
                        return
                    r = other.get("/ext/version")
                    seen.append(f"{r.status_code} {r.text.split(' ')[0]}")

        worker = threading.Thread(target=hammer)
        worker.start()
        try:
            for n in range(1, 11):
                write(modules, "asyncviews", ASYNC_VERSION.format(version=f"v{n}"))
                assert client.post("/admin/reload/asyncviews").json()["ok"] is True
                assert client.get("/ext/version").text.startswith(f"v{n} ")
        finally:
            stop.set()
            worker.join(MAX_SECONDS)
    assert seen, "the hammer made no request"
    assert not [s for s in seen if not s.startswith("200 ")], sorted(set(seen))


def test_every_worker_reloads_on_sigusr1(modules: Path, tmp_path: Path) -> None:
    write(modules, "workerviews", ASYNC_VERSION.format(version="v1"))
    command = [
        sys.executable, "-m", "pyre", APP, "--host", "127.0.0.1", "--port", "0",
        "--workers", "2",
    ]  # fmt: skip
    env = env_for(modules, PYRE_TEST_EXTENSIONS="workerviews")
    with serve_command(command, SUPERVISOR_READY, env=env, tmp=tmp_path) as server:

        def versions_by_pid(count: int) -> dict[str, set[str]]:
            """Each worker's answers over ``count`` fresh connections."""
            found: dict[str, set[str]] = {}
            for _ in range(count):
                with httpx.Client(base_url=server.url, timeout=10) as client:
                    version, pid = client.get("/ext/version").text.split(" ")
                    found.setdefault(pid, set()).add(version)
            return found

        deadline = time.monotonic() + MAX_SECONDS
        before: dict[str, set[str]] = {}
        while len(before) < 2 and time.monotonic() < deadline:
            for pid, versions in versions_by_pid(20).items():
                before.setdefault(pid, set()).update(versions)
        assert len(before) == 2 and all(v == {"v1"} for v in before.values()), before

        write(modules, "workerviews", ASYNC_VERSION.format(version="v2"))
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.post("/admin/reload-all").json()["signalled"] is True
        server.wait_for_log("SIGUSR1: asking every worker to reload", timeout=10)
        for pid in before:
            server.wait_for_log(f"extensions reloaded in [{pid}]: workerviews (ok)", timeout=10)
        after = versions_by_pid(40)
        assert set(after) <= set(before)
        assert all(v == {"v2"} for v in after.values()), after


SIBLING_USER = """
from pyre import framework
import helpers


class Views(framework.Blueprint):
    @framework.endpoint("/ext/helper")
    async def helper(self):
        return helpers.VALUE


def setup(app):
    app.add_blueprint(Views())
"""


def test_sibling_modules_are_reimported(server: ServerProcess, modules: Path) -> None:
    write(modules, "helpers", "VALUE = 'helper v1'\n")
    write(modules, "siblinguser", SIBLING_USER)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/admin/load/siblinguser").json()["ok"] is True
        assert client.get("/ext/helper").text == "helper v1"
        write(modules, "helpers", "VALUE = 'helper v2'\n")
        assert client.post("/admin/reload/siblinguser").json()["ok"] is True
        assert client.get("/ext/helper").text == "helper v2"
        # Unloaded, then loaded again: the sibling is imported afresh too.
        assert client.post("/admin/unload/siblinguser").json()["ok"] is True
        write(modules, "helpers", "VALUE = 'helper v3'\n")
        assert client.post("/admin/load/siblinguser").json()["ok"] is True
        assert client.get("/ext/helper").text == "helper v3"


HOOKS_AND_STATE = """
from pyre import framework

RECORD = {record!r}


def note(line):
    with open(RECORD, "a") as f:
        f.write(line + "\\n")


class Views(framework.Blueprint):
    @framework.endpoint("/ext/hooked")
    async def hooked(self):
        return "hooked"


def setup(app):
    app.add_blueprint(Views())
    app.state.db = "connection {version}"
    app.state.preexisting = "replaced by the extension"

    @app.on_startup
    async def started():
        note("startup {version}")

    @app.on_shutdown
    def stopped():
        note("shutdown {version}")
"""


def test_hooks_run_and_state_is_undone(
    server: ServerProcess, modules: Path, tmp_path: Path
) -> None:
    record = tmp_path / "hooks.txt"
    record.write_text("")
    write(modules, "hooked", HOOKS_AND_STATE.format(record=str(record), version="v1"))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/admin/state").json() == {"preexisting": "'before any extension'"}
        assert client.post("/admin/load/hooked").json()["ok"] is True
        assert record.read_text() == "startup v1\n"
        assert client.get("/admin/state").json() == {
            "db": "'connection v1'",
            "preexisting": "'replaced by the extension'",
        }
        write(modules, "hooked", HOOKS_AND_STATE.format(record=str(record), version="v2"))
        assert client.post("/admin/reload/hooked").json()["ok"] is True
        assert record.read_text() == "startup v1\nstartup v2\nshutdown v1\n"
        assert client.get("/admin/state").json()["db"] == "'connection v2'"
        assert client.post("/admin/unload/hooked").json()["ok"] is True
        assert record.read_text() == "startup v1\nstartup v2\nshutdown v1\nshutdown v2\n"
        assert client.get("/admin/state").json() == {"preexisting": "'before any extension'"}
        assert client.get("/ext/hooked").status_code == 404


def test_a_failing_startup_hook_keeps_the_old_version(server: ServerProcess, modules: Path) -> None:
    write(modules, "startfails", ASYNC_VERSION.format(version="v1"))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/admin/load/startfails").json()["ok"] is True
        write(
            modules,
            "startfails",
            ASYNC_VERSION.format(version="v2")
            + "\n    @app.on_startup\n    def boom():\n        raise RuntimeError('no db')\n",
        )
        failed = client.post("/admin/reload/startfails")
        assert failed.status_code == 409
        assert "no db" in failed.json()["message"]
        assert client.get("/ext/version").text.startswith("v1 ")


TWIN = """
from pyre import framework


class Views(framework.Blueprint):
    @framework.endpoint("/{name}/version")
    async def version(self):
        return "{name}"


def setup(app):
    app.add_blueprint(Views())
"""


def test_two_extensions_with_the_same_class_and_method_names(modules: Path) -> None:
    write(modules, "twin_a", TWIN.replace("{name}", "a"))
    write(modules, "twin_b", TWIN.replace("{name}", "b"))
    sys.path.insert(0, str(modules))
    try:
        app = App()
        asyncio.run(app.load_extension("twin_a"))
        asyncio.run(app.load_extension("twin_b"))
        assert sorted(app.extensions) == ["twin_a", "twin_b"]
        assert app.url_for("twin_a.Views.version") == "/a/version"
        assert app.url_for("twin_b.Views.version") == "/b/version"
        with pytest.raises(KeyError, match="several endpoints"):
            app.url_for("Views.version")
        asyncio.run(app.unload_extension("twin_a"))
        assert app.url_for("Views.version") == "/b/version"
    finally:
        sys.path.remove(str(modules))
        for name in ("twin_a", "twin_b"):
            sys.modules.pop(name, None)


IMPORT_TIME_MAIN = """
from tests.apps.extensions_app import Admin
from pyre.framework import App

app = App()
app.add_blueprint(Admin(app))
app.load_extension("synclater")      # no await, no loop yet: loaded now
app.load_extension("asynclater")     # async setup: loaded at startup
"""


def test_load_extension_at_import_time_without_await(modules: Path, tmp_path: Path) -> None:
    write(
        modules,
        "synclater",
        "from pyre import framework\n"
        "class S(framework.Blueprint):\n"
        "    @framework.endpoint('/sync-ext')\n"
        "    async def s(self):\n"
        "        return 'sync setup'\n"
        "def setup(app):\n"
        "    app.add_blueprint(S())\n",
    )
    write(
        modules,
        "asynclater",
        ASYNC_VERSION.format(version="async-setup").replace("/ext/version", "/async-ext"),
    )
    write(modules, "importtimemain", IMPORT_TIME_MAIN)
    with (
        serve("importtimemain:app", env=env_for(modules), tmp=tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        assert client.get("/sync-ext").text == "sync setup"
        assert client.get("/async-ext").text.startswith("async-setup ")
        assert client.post("/admin/load/synclater").json()["error"] == "ExtensionAlreadyLoaded"
    assert "RuntimeWarning" not in server.log
    assert "never awaited" not in server.log


def test_load_extension_without_a_loop_in_process(modules: Path) -> None:
    write(
        modules,
        "nolooplater",
        "from pyre import framework\n"
        "class N(framework.Blueprint):\n"
        "    @framework.endpoint('/noloop')\n"
        "    async def n(self):\n"
        "        return 'x'\n"
        "def setup(app):\n"
        "    app.add_blueprint(N())\n",
    )
    write(modules, "brokenlater", "def setup(app):\n    raise ValueError('bad setup')\n")
    sys.path.insert(0, str(modules))
    try:
        app = App()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            app.load_extension("nolooplater")
        assert app.url_for("N.n") == "/noloop"
        with pytest.raises(ExtensionFailed, match="bad setup"):
            app.load_extension("brokenlater")
        assert "brokenlater" not in app.extensions
    finally:
        sys.path.remove(str(modules))
        for name in ("nolooplater", "brokenlater"):
            sys.modules.pop(name, None)


def test_sigusr1_reloads_a_single_process(server: ServerProcess, modules: Path) -> None:
    write(modules, "singleviews", ASYNC_VERSION.format(version="v1"))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/admin/load/singleviews").json()["ok"] is True
        write(modules, "singleviews", ASYNC_VERSION.format(version="v2"))
        assert client.post("/admin/reload-all").json()["signalled"] is True
        server.wait_for_log("extensions reloaded in", timeout=10)
        assert client.get("/ext/version").text.startswith("v2 ")
