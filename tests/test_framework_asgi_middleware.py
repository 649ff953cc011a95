"""Standard ASGI middleware (Starlette's CORSMiddleware and GZipMiddleware) around a
pyre.framework app, and its ``lifespan=`` context manager, on Pyre (where the request
arrives over PSGI and is bridged to ASGI) and on uvicorn."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, serve, serve_uvicorn

APP = "tests.apps.framework_asgi_mw:app"


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    starter = serve if request.param == "pyre" else serve_uvicorn
    with starter(APP, tmp=tmp_path_factory.mktemp(f"mw-{request.param}")) as process:
        yield process


def test_cors_preflight(server: ServerProcess) -> None:
    response = httpx.options(
        f"{server.url}/small",
        headers={"origin": "https://example.com", "access-control-request-method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://example.com"


def test_cors_simple_request(server: ServerProcess) -> None:
    allowed = httpx.get(f"{server.url}/small", headers={"origin": "https://example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://example.com"
    assert allowed.text == "tiny"
    other = httpx.get(f"{server.url}/small", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_gzip(server: ServerProcess) -> None:
    expected = ("all work and no play " * 2000).encode()
    with (
        httpx.Client() as client,
        client.stream("GET", f"{server.url}/big", headers={"accept-encoding": "gzip"}) as response,
    ):
        assert response.headers["content-encoding"] == "gzip"
        compressed = b"".join(response.iter_raw())
    assert len(compressed) < len(expected) // 10
    assert gzip.decompress(compressed) == expected


def test_small_responses_are_not_compressed(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/small", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in response.headers
    assert response.text == "tiny"


def test_request_body_and_streams_through_the_middleware(server: ServerProcess) -> None:
    body = bytes(range(256)) * 4000
    assert httpx.post(f"{server.url}/echo", content=body).content == body
    assert httpx.get(f"{server.url}/stream").text == "piece 0\npiece 1\npiece 2\n"


def test_lifespan_context_manager(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/state").json() == {"greeting": "hello from lifespan"}
    assert "lifespan enter" in server.calls()


def test_lifespan_exit_runs_at_shutdown(tmp_path: Path) -> None:
    with serve(APP, tmp=tmp_path) as process:
        assert httpx.get(f"{process.url}/small").text == "tiny"
        assert process.stop() == 0
        assert process.calls() == ["lifespan enter", "lifespan exit"]
