"""Starlette and FastAPI applications run unmodified on a real Pyre process.

The applications (tests/apps/starlette_app.py, tests/apps/fastapi_app.py) are ordinary
framework code. Each framework gets one server for the module; the shutdown tests start
their own. Events that happen after a response (background tasks, dependency cleanup,
cancellation, lifespan) are read from the calls file the apps write to.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, connect, serve

STARLETTE = "tests.apps.starlette_app:app"
FASTAPI = "tests.apps.fastapi_app:app"
TIMEOUT = httpx.Timeout(5.0)


SHORT_GRACE = ("--timeout-graceful-shutdown", "3")


@pytest.fixture(scope="module")
def starlette(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # A short grace period: a test may leave a background task waiting for its gate.
    with serve(STARLETTE, *SHORT_GRACE, tmp=tmp_path_factory.mktemp("starlette")) as server:
        yield server


@pytest.fixture(scope="module")
def fastapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve(FASTAPI, *SHORT_GRACE, tmp=tmp_path_factory.mktemp("fastapi")) as server:
        yield server


def wait_for_call(server: ServerProcess, line: str, timeout: float = 5.0) -> list[str]:
    """Polls the calls file until ``line`` appears; returns all calls."""
    deadline = time.monotonic() + timeout
    while True:
        calls = server.calls()
        if line in calls:
            return calls
        if time.monotonic() > deadline:
            raise AssertionError(f"{line!r} not recorded within {timeout}s: {calls}\n{server.log}")
        time.sleep(0.02)


def go(server: ServerProcess, token: str) -> None:
    """Creates the file a background task waits for."""
    Path(f"{server.calls_file}.go-{token}").touch()


def stream_chunks(client: httpx.Client, path: str) -> tuple[httpx.Response, list[bytes]]:
    with client.stream("GET", path) as response:
        chunks = [chunk for chunk in response.iter_bytes() if chunk]
    return response, chunks


def read_head(sock: socket.socket, until: bytes, timeout: float = 5.0) -> bytes:
    """Reads from a raw socket until ``until`` has been received."""
    sock.settimeout(timeout)
    data = b""
    while until not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {until!r}: {data!r}")
        data += chunk
    return data


def drain(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything until the server closes; fails if it does not within ``timeout``."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"connection still open after {timeout}s: {data[-200:]!r}")


# --- Starlette ----------------------------------------------------------------------


def test_starlette_routing_json_and_middleware(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.content == b"hello, starlette"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["content-length"] == "16"
        assert response.headers["x-middleware"] == "tagged"

        response = client.get("/users/42")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"id": 42, "type": "int"}
        assert response.headers["content-length"] == str(len(response.content))

        head = client.head("/")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == "16"


def test_starlette_exception_handler(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.get("/users/abc")  # the int convertor does not match
        assert response.status_code == 404
        assert response.json() == {"error": "Not Found"}
        assert response.headers["x-middleware"] == "tagged"

        response = client.get("/items/widget")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"error": "no item named widget"}

        assert client.get("/items/known").json() == {"name": "known"}


def test_starlette_unhandled_error_is_500_and_connection_survives(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.get("/boom")
        assert response.status_code == 500
        assert response.text == "Internal Server Error"
        after = client.get("/users/7")
        assert after.json() == {"id": 7, "type": "int"}
    starlette.wait_for_log("RuntimeError: boom")


def test_starlette_form_urlencoded(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.post(
            "/form", data={"name": "Zoë Ünïcode", "tag": ["a&b", "c=d"], "empty": ""}
        )
    assert response.status_code == 200
    assert response.json() == {
        "content_type": "application/x-www-form-urlencoded",
        "fields": {"name": ["Zoë Ünïcode"], "tag": ["a&b", "c=d"], "empty": [""]},
    }


def test_starlette_form_urlencoded_chunked_body(starlette: ServerProcess) -> None:
    body = b"first=" + b"x" * 5000 + b"&second=two+words"

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(body), 700):
            yield body[i : i + 700]

    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.post(
            "/form",
            content=pieces(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200
    assert response.json()["fields"] == {"first": ["x" * 5000], "second": ["two words"]}


def test_starlette_form_multipart_upload(starlette: ServerProcess) -> None:
    content = bytes(range(256)) * 12 + b"\r\n--not-a-boundary\r\n"
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.post(
            "/form",
            data={"title": "holiday"},
            files={"photo": ("photo.bin", content, "application/octet-stream")},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["content_type"].startswith("multipart/form-data; boundary=")
    assert body["fields"] == {
        "title": ["holiday"],
        "photo": [
            {
                "filename": "photo.bin",
                "content_type": "application/octet-stream",
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        ],
    }


def test_starlette_streaming_response(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response, chunks = stream_chunks(client, "/stream?n=6&delay=0.05")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert response.headers["x-middleware"] == "tagged"
    assert b"".join(chunks) == b"".join(f"chunk {i}\n".encode() for i in range(6))
    assert len(chunks) >= 3, chunks


def test_starlette_big_streaming_response_arrives_whole(starlette: ServerProcess) -> None:
    total = 20 * 1024 * 1024 + 5
    piece = bytes(range(256)) * 256
    expected = hashlib.sha256()
    for start in range(0, total, len(piece)):
        expected.update(piece[: min(len(piece), total - start)])
    digest, size = hashlib.sha256(), 0
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        with client.stream("GET", f"/bigstream?total={total}") as response:
            assert response.headers["transfer-encoding"] == "chunked"
            for chunk in response.iter_raw():
                digest.update(chunk)
                size += len(chunk)
    assert size == total
    assert digest.hexdigest() == expected.hexdigest()


def test_starlette_file_response_uses_pathsend(starlette: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(os.urandom(2 * 1024 * 1024 + 7))
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.get("/file", params={"path": str(path)})
        head = client.head("/file", params={"path": str(path)})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-length"] == str(path.stat().st_size)
    assert response.content == path.read_bytes()
    assert head.status_code == 200
    assert head.headers["content-length"] == str(path.stat().st_size)
    assert head.content == b""


def test_starlette_background_task_runs_after_response(starlette: ServerProcess) -> None:
    token = "s-bg-1"
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.post(f"/background?token={token}")
        assert response.status_code == 200
        assert response.json() == {"queued": token}
        assert response.headers["content-length"] == str(len(response.content))
        # The background task is still waiting for us: it has not finished.
        wait_for_call(starlette, f"background started {token}")
        assert f"background done {token}" not in starlette.calls()
        # The same connection serves the next request while the task is running.
        port = response.headers["x-client-port"]
        again = client.get("/users/5")
        assert again.json() == {"id": 5, "type": "int"}
        assert again.headers["x-client-port"] == port
        go(starlette, token)
        calls = wait_for_call(starlette, f"background done {token}")
    assert f"background gave up {token}" not in calls


def test_starlette_lifespan_state(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        assert client.get("/state").json() == {"greeting": "hello from the lifespan"}
    assert starlette.calls()[0] == "lifespan startup"


def test_starlette_current_task_and_contextvars(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.get("/task", headers={"x-request-id": "req-1"})
        assert response.status_code == 200
        assert response.json() == {
            "has_task": True,
            "task_running": True,
            "anyio_task": True,
            "request_id": "req-1",
            "main_thread": True,
        }
        # A sync endpoint runs in a worker thread with the request's context copied.
        assert client.get("/sync", headers={"x-request-id": "req-2"}).json() == {
            "main_thread": False,
            "id": "req-2",
        }


def test_starlette_anyio_task_group(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.get("/taskgroup", headers={"x-request-id": "tg"})
    assert response.status_code == 200
    assert response.json() == {
        "order": ["fast", "slow"],
        "results": {
            "fast": {"request_id": "tg", "has_task": True},
            "slow": {"request_id": "tg", "has_task": True},
        },
    }


def test_starlette_contextvars_do_not_leak_between_requests(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        first = client.get("/leak?set=one")
        second = client.get("/leak?set=two")
        assert first.headers["x-client-port"] == second.headers["x-client-port"]
    assert first.json() == {"seen": None}
    assert second.json() == {"seen": None}


def test_starlette_is_disconnected_while_connected(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        response = client.get("/connected")
    assert response.status_code == 200, starlette.log
    assert response.json() == {"first": False, "second": False, "third": False}


def test_starlette_is_disconnected_sees_client_leave(starlette: ServerProcess) -> None:
    with connect(starlette.port) as sock:
        sock.sendall(b"GET /disconnect HTTP/1.1\r\nHost: test\r\n\r\n")
        wait_for_call(starlette, "disconnect polling")
        time.sleep(0.1)
    calls = wait_for_call(starlette, "disconnect seen")
    assert "disconnect never seen" not in calls


def test_starlette_keep_alive_across_features(starlette: ServerProcess) -> None:
    with httpx.Client(base_url=starlette.url, timeout=TIMEOUT) as client:
        responses = [
            client.get("/"),
            client.get("/users/1"),
            client.post("/form", data={"a": "1"}),
            client.post("/form", files={"f": ("f.txt", b"data", "text/plain")}),
            client.get("/items/missing"),
            client.get("/state"),
            client.get("/sync"),
        ]
        streamed, chunks = stream_chunks(client, "/stream?n=3&delay=0.01")
        responses.append(streamed)
        responses.append(client.get("/task"))
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 404, 200, 200, 200, 200]
    assert b"".join(chunks) == b"chunk 0\nchunk 1\nchunk 2\n"
    ports = {r.headers["x-client-port"] for r in responses}
    assert len(ports) == 1, ports


def test_starlette_concurrent_requests(starlette: ServerProcess) -> None:
    async def one(client: httpx.AsyncClient, i: int) -> None:
        kind = i % 5
        if kind == 0:
            response = await client.get(f"/users/{i}")
            assert response.json() == {"id": i, "type": "int"}
        elif kind == 1:
            response = await client.get(f"/stream?n=4&delay=0.02&i={i}")
            assert response.content == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
        elif kind == 2:
            response = await client.post("/form", data={"i": str(i)})
            assert response.json()["fields"] == {"i": [str(i)]}
        elif kind == 3:
            response = await client.get("/taskgroup", headers={"x-request-id": f"c{i}"})
            assert response.json()["results"]["slow"]["request_id"] == f"c{i}"
        else:
            response = await client.get("/task", headers={"x-request-id": f"c{i}"})
            assert response.json()["request_id"] == f"c{i}"
        assert response.status_code == 200
        assert response.headers["x-middleware"] == "tagged"

    async def main() -> None:
        async with httpx.AsyncClient(base_url=starlette.url, timeout=TIMEOUT) as client:
            await asyncio.gather(*(one(client, i) for i in range(20)))

    asyncio.run(main())


# --- FastAPI ------------------------------------------------------------------------


def test_fastapi_path_and_query_validation(fastapi: ServerProcess) -> None:
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        response = client.get("/items/3?q=abc&limit=7")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"item_id": 3, "q": "abc", "limit": 7}
        assert client.get("/items/3").json() == {"item_id": 3, "q": None, "limit": 10}

        response = client.get("/items/0")
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == ("greater_than_equal", ["path", "item_id"])

        response = client.get("/items/nope")
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == ("int_parsing", ["path", "item_id"])

        response = client.get("/items/3?q=toolong")
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == ("string_too_long", ["query", "q"])

        assert client.get("/nowhere").status_code == 404


def test_fastapi_json_body_and_response_model(fastapi: ServerProcess) -> None:
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        response = client.post(
            "/items", json={"name": "lamp", "price": 10, "tags": ["a", "b"], "secret": "s3"}
        )
        assert response.status_code == 201
        assert response.json() == {
            "name": "lamp",
            "price": 10.0,
            "tags": ["a", "b"],
            "price_with_tax": 12.0,
        }
        assert response.headers["content-length"] == str(len(response.content))

        response = client.post("/items", json={"name": "", "price": -1})
        assert response.status_code == 422
        kinds = {(e["type"], tuple(e["loc"])) for e in response.json()["detail"]}
        assert kinds == {
            ("string_too_short", ("body", "name")),
            ("greater_than", ("body", "price")),
        }

        response = client.post(
            "/items", content=b'{"name": "x", ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["type"] == "json_invalid"


def test_fastapi_form_and_upload(fastapi: ServerProcess) -> None:
    content = os.urandom(4000)
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        response = client.post(
            "/form",
            data={"name": "Ada", "age": "36"},
            files={"upload": ("notes.dat", content, "application/octet-stream")},
        )
        assert response.status_code == 200
        assert response.json() == {
            "name": "Ada",
            "age": 36,
            "filename": "notes.dat",
            "content_type": "application/octet-stream",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }

        response = client.post(
            "/form",
            data={"name": "Ada", "age": "old"},
            files={"upload": ("n.txt", b"x", "text/plain")},
        )
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == ("int_parsing", ["body", "age"])

        response = client.post("/form", data={"name": "Ada", "age": "3"})
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == ("missing", ["body", "upload"])


def test_fastapi_dependencies(fastapi: ServerProcess) -> None:
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        response = client.get("/protected", headers={"x-token": "let-me-in", "x-session": "u1"})
        assert response.status_code == 200
        assert response.json() == {"token": "let-me-in", "user": "u1", "app": "pyre-test"}

        response = client.get("/protected", headers={"x-token": "wrong"})
        assert response.status_code == 401
        assert response.json() == {"detail": "bad token"}

        response = client.get("/protected")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["header", "x-token"]
    calls = wait_for_call(fastapi, "session closed u1")
    assert calls.index("session open u1") < calls.index("session closed u1")


def test_fastapi_streaming_response(fastapi: ServerProcess) -> None:
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        response, chunks = stream_chunks(client, "/stream?n=5&delay=0.05")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["transfer-encoding"] == "chunked"
    assert b"".join(chunks) == b"".join(f"part {i}\n".encode() for i in range(5))
    assert len(chunks) >= 3, chunks


def test_fastapi_background_tasks_run_after_response(fastapi: ServerProcess) -> None:
    token = "f-bg-1"
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        response = client.post("/notify", params={"token": token})
        assert response.status_code == 202
        assert response.json() == {"queued": token}
        wait_for_call(fastapi, f"background started {token}")
        assert f"background done {token} main_thread=False" not in fastapi.calls()
        # The connection is free for the next request while the task runs.
        assert client.get("/items/9").json() == {"item_id": 9, "q": None, "limit": 10}
        go(fastapi, token)
        wait_for_call(fastapi, f"background done {token} main_thread=False")
        calls = wait_for_call(fastapi, f"async background {token}")
    # Background tasks run in the order they were added.
    assert calls.index(f"background done {token} main_thread=False") < calls.index(
        f"async background {token}"
    )


def test_fastapi_lifespan_state(fastapi: ServerProcess) -> None:
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        assert client.get("/state").json() == {"settings": {"name": "pyre-test", "version": 3}}


def test_fastapi_sync_and_async_endpoints(fastapi: ServerProcess) -> None:
    with httpx.Client(base_url=fastapi.url, timeout=TIMEOUT) as client:
        assert client.get("/sync?n=21").json() == {"main_thread": False, "double": 42}
        assert client.get("/async").json() == {"has_task": True, "main_thread": True}


def test_fastapi_concurrent_requests_and_keep_alive(fastapi: ServerProcess) -> None:
    async def one(client: httpx.AsyncClient, i: int) -> None:
        kind = i % 4
        if kind == 0:
            response = await client.get(f"/sync?n={i}")
            assert response.json() == {"main_thread": False, "double": 2 * i}
        elif kind == 1:
            response = await client.post("/items", json={"name": f"n{i}", "price": i})
            assert response.status_code == 201
            assert response.json()["name"] == f"n{i}"
        elif kind == 2:
            response = await client.get(f"/stream?n=3&delay=0.02&i={i}")
            assert response.content == b"part 0\npart 1\npart 2\n"
        else:
            response = await client.post(
                "/form",
                data={"name": f"n{i}", "age": str(i)},
                files={"upload": ("u.txt", b"u" * i, "text/plain")},
            )
            assert response.json()["size"] == i
        assert response.status_code in (200, 201)

    async def main() -> None:
        async with httpx.AsyncClient(base_url=fastapi.url, timeout=TIMEOUT) as client:
            await asyncio.gather(*(one(client, i) for i in range(20)))

    asyncio.run(main())

    # Keep-alive: one raw connection, several FastAPI requests, one after the other.
    with connect(fastapi.port) as sock:
        for i in range(1, 4):
            sock.sendall(f"GET /items/{i} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            expected = json.dumps({"item_id": i, "q": None, "limit": 10}, separators=(",", ":"))
            data = read_head(sock, expected.encode())
            assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
            assert data.endswith(expected.encode()), data


# --- Shutdown -----------------------------------------------------------------------


@pytest.mark.parametrize("app", [STARLETTE, FASTAPI], ids=["starlette", "fastapi"])
def test_shutdown_cancels_endless_stream(app: str, tmp_path: Path) -> None:
    with serve(app, "--timeout-graceful-shutdown", "1", tmp=tmp_path) as server:
        with connect(server.port) as sock:
            sock.sendall(b"GET /forever HTTP/1.1\r\nHost: test\r\n\r\n")
            head = read_head(sock, b"tick 2\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            wait_for_call(server, "forever started")
            started = time.monotonic()
            server.process.send_signal(signal.SIGINT)
            try:
                status = server.process.wait(6)
            except Exception:
                raise AssertionError(f"server did not exit within 6s\n{server.log}") from None
            elapsed = time.monotonic() - started
            rest = drain(sock)
        assert status == 0, server.log
        assert 0.9 <= elapsed < 4, (elapsed, server.log)
        # The stream was cut, not finished: no last chunk.
        assert not rest.endswith(b"0\r\n\r\n"), rest[-100:]
        calls = server.calls()
        assert "forever finally" in calls, (calls, server.log)
        # The task was cancelled: inside the generator when the cancellation found it
        # sleeping ("forever cancelled"); when it found it in the framework's send,
        # the generator is closed instead (finally only). Either way nothing failed.
        assert "Exception in ASGI application" not in server.log, server.log
        # Lifespan shutdown ran after the stream was stopped. (A generator the
        # framework left suspended is finalized by the loop's shutdown_asyncgens,
        # after lifespan shutdown, as under uvicorn: its "finally" may come last.)
        assert "lifespan shutdown" in calls, calls
        assert calls.index("lifespan shutdown") > calls.index("forever started"), calls


@pytest.mark.parametrize("app", [STARLETTE, FASTAPI], ids=["starlette", "fastapi"])
def test_shutdown_lets_stream_in_flight_finish(app: str, tmp_path: Path) -> None:
    prefix = b"chunk" if app == STARLETTE else b"part"
    with serve(app, "--timeout-graceful-shutdown", "5", tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            with client.stream("GET", "/stream?n=8&delay=0.1") as response:
                chunks = response.iter_bytes()
                first = next(chunks)
                server.process.send_signal(signal.SIGINT)
                body = first + b"".join(chunks)
        assert response.status_code == 200
        assert body == b"".join(prefix + f" {i}\n".encode() for i in range(8))
        assert server.process.wait(5) == 0, server.log
    assert server.calls()[-1] == "lifespan shutdown"


@pytest.mark.parametrize("app", [STARLETTE, FASTAPI], ids=["starlette", "fastapi"])
def test_shutdown_lets_background_task_finish(app: str, tmp_path: Path) -> None:
    """A background task is part of the application call: graceful shutdown gives it
    the grace period, as it does a response still streaming."""
    token = "shutdown-bg"
    path = f"/background?token={token}" if app == STARLETTE else f"/notify?token={token}"
    with serve(app, "--timeout-graceful-shutdown", "5", tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            assert client.post(path).status_code in (200, 202)
        wait_for_call(server, f"background started {token}")
        server.process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        go(server, token)
        assert server.process.wait(5) == 0, server.log
        calls = server.calls()
    assert any(c.startswith(f"background done {token}") for c in calls), (calls, server.log)
    assert calls[-1] == "lifespan shutdown", calls
