"""What asyncio gives a request's coroutine when Pyre steps it from Rust
(crates/pyre-py/src/stepping.rs) instead of wrapping it in an asyncio Task: one
current task throughout, a context of its own per request, timeouts, TaskGroups,
cancellation (by the application, on disconnect through the app's own watcher, at
shutdown) and whole tracebacks. Every case runs on ASGI and PSGI; the routes are in
tests/apps/stepping.py."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, serve, wait_for

APPS = {
    "asgi": ("tests.apps.stepping:app", "asgi"),
    "psgi": ("tests.apps.stepping:psgi", "psgi"),
}


@pytest.fixture(params=sorted(APPS), scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    app, interface = APPS[request.param]
    tmp = tmp_path_factory.mktemp(f"stepping-{interface}")
    with serve(app, "--interface", interface, tmp=tmp) as server:
        yield server


def get(server: ServerProcess, path: str) -> Any:
    response = httpx.get(server.url + path, timeout=10)
    assert response.status_code == 200, (response.status_code, response.text, server.log)
    return response.json()


def test_the_current_task_is_the_stepped_request_throughout(server: ServerProcess) -> None:
    answer = get(server, "/task")
    assert answer["type"] == "RequestTask", "the request was not stepped from Rust"
    assert answer["present"] and answer["same"]
    assert answer["cancelling"] == 0 and answer["coro"] and answer["done"] is False
    assert get(server, "/sleep0") == {"same": True}


def test_each_request_has_a_context_of_its_own(server: ServerProcess) -> None:
    answers: dict[str, Any] = {}

    def ask(value: str) -> None:
        answers[value] = get(server, f"/context?v={value}")

    threads = [threading.Thread(target=ask, args=(v,)) for v in ("a", "b", "c", "d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    # Each saw the default before setting its own, and its own after the others ran.
    assert answers == {v: {"before": "unset", "after": v} for v in "abcd"}


NEEDS_311 = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="asyncio.timeout and TaskGroup came in Python 3.11"
)


@NEEDS_311
def test_timeouts_and_wait_for(server: ServerProcess) -> None:
    assert get(server, "/timeout") == {"timed_out": True, "cancelling": 0}
    assert get(server, "/wait-for") == {"timed_out": True, "future_cancelled": True}


@NEEDS_311
def test_a_timeout_around_a_body_read_leaves_the_body_readable(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /timeout-receive HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
        time.sleep(0.4)  # past the application's 0.1 s timeout
        sock.sendall(b"hello")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body == {"timed_out": True, "body": "hello"}


@NEEDS_311
def test_task_groups(server: ServerProcess) -> None:
    assert get(server, "/taskgroup") == {"results": [0, 1, 4]}
    assert get(server, "/taskgroup-error") == {
        "caught": ["raised from nested_failure"],
        "cancelling": 0,
    }


def test_the_application_cancels_itself_and_uncancels(server: ServerProcess) -> None:
    assert get(server, "/self-cancel") == {"cancelled": True, "remaining": 0}


def test_an_exception_keeps_its_whole_traceback(server: ServerProcess) -> None:
    response = httpx.get(server.url + "/raise", timeout=10)
    assert response.status_code == 500
    server.wait_for_log("raised from nested_failure")
    for frame in ("in route", "in fails_after_sleep", "in nested_failure"):
        server.wait_for_log(frame)


@NEEDS_311
def test_a_disconnect_reaches_the_watcher_which_cancels_its_sibling(server: ServerProcess) -> None:
    before = len(server.calls())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /disconnect HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)
    wait_for(lambda: "group done" in server.calls()[before:])
    assert server.calls()[before:] == ["client gone", "sleeper cancelled", "group done"]


@pytest.mark.parametrize("interface", sorted(APPS))
def test_shutdown_cancels_a_stepped_request(interface: str, tmp_path: Path) -> None:
    app, interface = APPS[interface]
    options = ("--interface", interface, "--timeout-graceful-shutdown", "1")
    with serve(app, *options, tmp=tmp_path) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /forever HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for(lambda: "forever started" in server.calls())
        assert server.stop() == 0, server.log
        sock.close()
        assert server.calls() == ["forever started", "forever cancelled"]


@pytest.mark.parametrize(
    ("app", "logged"),
    [
        ("not_async", "the application returned NoneType, not an awaitable"),
        ("raises_on_call", "ValueError: raised by the call itself"),
    ],
)
def test_an_application_that_gives_no_coroutine_gets_a_500(
    app: str, logged: str, tmp_path: Path
) -> None:
    options = ("--interface", "asgi", "--lifespan", "off")
    with serve(f"tests.apps.stepping:{app}", *options, tmp=tmp_path) as server:
        for _ in range(2):  # and the server goes on serving
            response = httpx.get(server.url + "/", timeout=10)
            assert response.status_code == 500
        server.wait_for_log(logged)
        server.wait_for_log("Exception in ASGI application")
