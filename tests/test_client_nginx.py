"""pyre.client against Debian's nginx (installed by scripts/test-deps.sh) on loopback:
static files (Content-Length, sendfile on nginx's side), gzip-compressed responses
(chunked, since nginx compresses on the fly), keep-alive reuse up to nginx's
``keepalive_requests`` and a new connection after it, HEAD, redirects, and uploads."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyre.client import Client
from tests.nginx import run_nginx

TEXT = b"All work and no play makes Jack a dull boy.\n" * 2000


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


STATIC = """
    sendfile on;
    keepalive_requests 50;
    client_max_body_size 20m;
    server {{
        listen 127.0.0.1:{{port}};
        root {root};
        location /gz/ {{
            gzip on;
            gzip_types text/plain;
            gzip_min_length 0;
            types {{ text/plain txt; }}
        }}
        location = /moved {{ return 301 /files/small.txt; }}
        location = /upload {{ return 204; }}
    }}
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("nginx-client")
    root = tmp / "root"
    (root / "files").mkdir(parents=True)
    (root / "gz").mkdir()
    (root / "files" / "small.txt").write_bytes(b"small\n")
    (root / "files" / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    (root / "gz" / "text.txt").write_bytes(TEXT)
    with run_nginx(tmp, STATIC.format(root=root)) as port:
        yield f"http://127.0.0.1:{port}", root


def test_static_files(nginx: tuple[str, Path]) -> None:
    base, root = nginx

    async def main() -> None:
        async with Client(base_url=base) as client:
            response = await client.get("/files/small.txt")
            assert (response.status, response.content) == (200, b"small\n")
            assert response.headers["server"].startswith("nginx")
            big = await client.get("/files/big.bin")
            assert big.content == (root / "files" / "big.bin").read_bytes()
            async with client.stream("GET", "/files/big.bin") as streamed:
                pieces = [piece async for piece in streamed.iter_bytes()]
            assert b"".join(pieces) == big.content
            assert len(pieces) > 1
            missing = await client.get("/files/nope")
            assert missing.status == 404
            head = await client.head("/files/big.bin")
            assert head.headers["content-length"] == str(8 * 1024 * 1024)
            assert head.content == b""

    run(main())


def test_gzip_chunked_responses_are_decoded(nginx: tuple[str, Path]) -> None:
    base, _ = nginx

    async def main() -> None:
        async with Client(base_url=base) as client:
            response = await client.get("/gz/text.txt")
            assert response.headers["content-encoding"] == "gzip"
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.content == TEXT
            async with client.stream("GET", "/gz/text.txt") as streamed:
                raw = b"".join([piece async for piece in streamed.iter_raw()])
            assert gzip.decompress(raw) == TEXT
            plain = await client.get("/gz/text.txt", headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain.headers
            assert plain.content == TEXT

    run(main())


def test_keep_alive_reuse_until_the_server_closes(nginx: tuple[str, Path]) -> None:
    base, _ = nginx

    async def main() -> None:
        async with Client(base_url=base) as client:
            for _ in range(49):
                assert (await client.get("/files/small.txt")).status == 200
            assert client.open_connections == 1
            # The 50th request is nginx's last on the connection (Connection: close).
            last = await client.get("/files/small.txt")
            assert last.headers["connection"] == "close"
            assert client.open_connections == 0
            assert (await client.get("/files/small.txt")).status == 200
            assert client.open_connections == 1
            results = await asyncio.gather(*(client.get("/files/small.txt") for _ in range(40)))
            assert all(r.content == b"small\n" for r in results)

    run(main())


def test_redirect_and_uploads(nginx: tuple[str, Path]) -> None:
    base, root = nginx

    async def main() -> None:
        async with Client(base_url=base, follow_redirects=True) as client:
            response = await client.get("/moved")
            assert (response.status, response.content) == (200, b"small\n")
            assert response.history[0].status == 301
            sent = await client.post("/upload", content=root / "files" / "big.bin")
            assert sent.status == 204
            chunked = await client.post("/upload", content=iter([b"a" * 100_000] * 20))
            assert chunked.status == 204
            assert (await client.get("/files/small.txt")).status == 200

    run(main())
