"""Extensions loaded, unloaded and reloaded while a Pyre server serves requests
(tests/apps/extensions_app.py), including reloads that fail and must leave the old
version serving; and cookies set and read through the framework."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from pyre.framework.responses import cookie_header
from tests.support import serve

APP = "tests.apps.extensions_app:app"

VERSION = """
from pyre import framework

RECORD = {record!r}


async def tag(request, call_next):
    response = await call_next(request)
    response.headers.append(("x-ext", "{version}"))
    return response


class Views(framework.Blueprint):
    @framework.endpoint("/ext/version")
    async def version(self):
        return "{version}"

    @framework.endpoint("/ext/item/{{code:code}}")
    async def item(self, code: str):
        return {{"code": code}}


def setup(app):
    app.add_converter("code", r"[A-Z]{{3}}")
    app.add_blueprint(Views())
    app.add_middleware(tag)


def teardown(app):
    with open(RECORD, "a") as f:
        f.write("teardown {version}\\n")
"""


def write(directory: Path, name: str, text: str) -> None:
    (directory / f"{name}.py").write_text(text)


def test_load_reload_unload_while_serving(tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    record = tmp_path / "record.txt"
    write(modules, "viewsext", VERSION.format(version="v1", record=str(record)))
    env = {"PYTHONPATH": f"{modules}:{Path.cwd()}:{os.environ.get('PYTHONPATH', '')}"}
    with (
        serve(APP, env=env, tmp=tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        assert client.get("/ext/version").status_code == 404

        assert client.post("/admin/load/viewsext").json() == {"ok": True, "loaded": ["viewsext"]}
        response = client.get("/ext/version")
        assert response.text == "v1"
        assert response.headers["x-ext"] == "v1"
        assert client.get("/ext/item/ABC").json() == {"code": "ABC"}
        assert client.get("/ext/item/abc").status_code == 404

        # Reload to v2 while another client keeps requesting: every answer is v1 or v2.
        seen: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as other:
                for _ in range(2000):
                    if stop.is_set():
                        return
                    r = other.get("/ext/version")
                    seen.append(f"{r.status_code} {r.text}")

        def wait_for(condition: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 10
            while not condition():
                assert time.monotonic() < deadline, seen[-5:]
                time.sleep(0.01)

        worker = threading.Thread(target=hammer)
        worker.start()
        wait_for(lambda: len(seen) >= 20)
        write(modules, "viewsext", VERSION.format(version="v2", record=str(record)))
        assert client.post("/admin/reload/viewsext").json()["ok"] is True
        assert client.get("/ext/version").text == "v2"
        wait_for(lambda: "200 v2" in seen[-5:])
        stop.set()
        worker.join(30)
        assert set(seen) == {"200 v1", "200 v2"}, set(seen)
        assert record.read_text() == "teardown v1\n"

        # A reload whose code does not import keeps v2 in service.
        write(modules, "viewsext", "def setup(app):\n    return (\n")
        failed = client.post("/admin/reload/viewsext")
        assert failed.status_code == 409
        assert failed.json()["error"] == "ExtensionFailed"
        assert "SyntaxError" in failed.json()["message"]
        assert client.get("/ext/version").text == "v2"
        assert client.get("/ext/version").headers["x-ext"] == "v2"

        # A reload whose setup raises, after registering a route, keeps v2 too.
        write(
            modules,
            "viewsext",
            "from pyre import framework\n"
            "class B(framework.Blueprint):\n"
            "    @framework.endpoint('/ext/broken')\n"
            "    async def broken(self):\n"
            "        return 'no'\n"
            "def setup(app):\n"
            "    app.add_blueprint(B())\n"
            "    raise RuntimeError('setup refuses')\n",
        )
        failed = client.post("/admin/reload/viewsext")
        assert failed.json()["error"] == "ExtensionFailed"
        assert "setup refuses" in failed.json()["message"]
        assert client.get("/ext/broken").status_code == 404
        assert client.get("/ext/version").text == "v2"

        # Unload: teardown runs and everything it registered is gone.
        assert client.post("/admin/unload/viewsext").json() == {"ok": True, "loaded": []}
        assert record.read_text() == "teardown v1\nteardown v2\n"
        gone = client.get("/ext/version")
        assert gone.status_code == 404
        assert "x-ext" not in gone.headers
        assert client.get("/ext/item/ABC").status_code == 404


def test_extension_errors(tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    write(modules, "nosetup", "X = 1\n")
    write(modules, "fine", "def setup(app):\n    pass\n")
    write(
        modules,
        "asyncsetup",
        "import asyncio\n"
        "from pyre import framework\n"
        "class V(framework.Blueprint):\n"
        "    @framework.endpoint('/async-ext')\n"
        "    async def v(self):\n"
        "        return 'set up asynchronously'\n"
        "async def setup(app):\n"
        "    await asyncio.sleep(0)\n"
        "    app.add_blueprint(V())\n"
        "async def teardown(app):\n"
        "    await asyncio.sleep(0)\n",
    )
    env = {"PYTHONPATH": f"{modules}:{Path.cwd()}:{os.environ.get('PYTHONPATH', '')}"}
    with (
        serve(APP, env=env, tmp=tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):

        def error(action: str, name: str) -> str:
            response = client.post(f"/admin/{action}/{name}")
            assert response.status_code == 409, response.text
            return response.json()["error"]

        assert error("load", "nosetup") == "NoEntryPointError"
        assert error("load", "does_not_exist") == "ExtensionFailed"
        assert error("unload", "fine") == "ExtensionNotLoaded"
        assert error("reload", "fine") == "ExtensionNotLoaded"
        assert client.post("/admin/load/fine").json()["ok"] is True
        assert error("load", "fine") == "ExtensionAlreadyLoaded"
        assert client.post("/admin/load/asyncsetup").json()["ok"] is True
        assert client.get("/async-ext").text == "set up asynchronously"
        assert client.post("/admin/unload/asyncsetup").json()["ok"] is True
        assert client.get("/async-ext").status_code == 404


# ------------------------------------------------------------------------ cookies


@pytest.mark.parametrize(
    "value",
    ["plain", "with space", 'quote"d', "semi;colon", "comma,here", "back\\slash", ""],
)
def test_cookie_values_read_back_by_pythons_parser(value: str) -> None:
    header = cookie_header("k", value, None, None, "/", None, False, False, "lax", False)
    parsed = SimpleCookie()
    parsed.load(header)
    assert parsed["k"].value == value
    assert parsed["k"]["path"] == "/"
    assert parsed["k"]["samesite"] == "Lax"


def test_cookie_header_as_a_browser_sees_it() -> None:
    header = cookie_header(
        "session", "abc123", 3600, None, "/", "example.com", True, True, "strict", True
    )
    assert header == (
        "session=abc123; Max-Age=3600; Path=/; Domain=example.com; Secure; HttpOnly;"
        " SameSite=Strict; Partitioned"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"key": "bad name"}, "not a token"), ({"samesite": "sometimes"}, "samesite")],
)
def test_bad_cookies_are_refused(kwargs: dict[str, str], message: str) -> None:
    arguments = {"key": "k", "samesite": "lax", **kwargs}
    with pytest.raises(ValueError, match=message):
        cookie_header(
            arguments["key"],
            "v",
            None,
            None,
            "/",
            None,
            False,
            False,
            arguments["samesite"],
            False,
        )


def test_cookie_round_trip_through_the_server(tmp_path: Path) -> None:
    with serve(APP, tmp=tmp_path) as server, httpx.Client(base_url=server.url) as client:
        response = client.post("/cookie/set", content="mint chip; ünïcode")
        set_cookie = response.headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "Max-Age=60" in set_cookie
        assert client.get("/cookie/get").json() == {"flavour": "mint chip; ünïcode"}
        deleted = client.post("/cookie/delete").headers["set-cookie"]
        assert deleted.startswith('flavour=""; Max-Age=0; Expires=') or deleted.startswith(
            "flavour=; Max-Age=0; Expires="
        )
        assert client.get("/cookie/get").json() == {"flavour": None}
