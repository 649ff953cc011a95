"""FileResponse on Pyre (PSGI, sendfile) and on uvicorn (ASGI): validators,
conditional requests (304), byte ranges (206, multipart/byteranges), unsatisfiable
ranges (416) and If-Range, each body checked byte for byte against the file."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from tests.support import serve, serve_uvicorn

APP = "tests.apps.framework_app:app"
SIZE = 300_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("files") / "data.bin"
    content = os.urandom(SIZE)
    path.write_bytes(content)
    return path, content


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp(f"files-{request.param}")
    starter = serve if request.param == "pyre" else serve_uvicorn
    with starter(APP, tmp=tmp) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def get(client: httpx.Client, path: Path, method: str = "GET", **headers: str) -> httpx.Response:
    fields = {name.replace("_", "-"): value for name, value in headers.items()}
    return client.request(method, "/file", params={"path": str(path)}, headers=fields)


def test_whole_file_with_validators(client: httpx.Client, data: tuple[Path, bytes]) -> None:
    path, content = data
    response = get(client, path)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == "application/x-test"
    assert response.headers["accept-ranges"] == "bytes"
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', response.headers["etag"])
    assert response.headers["last-modified"].endswith("GMT")


def test_head(client: httpx.Client, data: tuple[Path, bytes]) -> None:
    path, _ = data
    response = get(client, path, "HEAD")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(SIZE)


@pytest.mark.parametrize(
    ("header", "status"),
    [("matching", 304), ("*", 304), ('"other"', 200), ('W/"weak-of-it"', 304)],
)
def test_if_none_match(
    client: httpx.Client, data: tuple[Path, bytes], header: str, status: int
) -> None:
    path, _ = data
    etag = get(client, path, "HEAD").headers["etag"]
    value = {"matching": etag, 'W/"weak-of-it"': "W/" + etag}.get(header, header)
    response = get(client, path, if_none_match=value)
    assert response.status_code == status
    assert response.content == (b"" if status == 304 else data[1])
    if status == 304:
        assert response.headers["etag"] == etag


def test_if_modified_since(client: httpx.Client, data: tuple[Path, bytes]) -> None:
    path, content = data
    later = formatdate(path.stat().st_mtime + 3600, usegmt=True)
    earlier = formatdate(path.stat().st_mtime - 3600, usegmt=True)
    assert get(client, path, if_modified_since=later).status_code == 304
    assert get(client, path, if_modified_since=earlier).content == content


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=299990-999999", 299990, SIZE - 1),
    ],
)
def test_single_range(
    client: httpx.Client, data: tuple[Path, bytes], spec: str, start: int, end: int
) -> None:
    path, content = data
    response = get(client, path, range=spec)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == content[start : end + 1]


def test_multiple_ranges(client: httpx.Client, data: tuple[Path, bytes]) -> None:
    path, content = data
    response = get(client, path, range="bytes=0-9, 100-199, -5")
    assert response.status_code == 206
    media, _, boundary = response.headers["content-type"].partition("; boundary=")
    assert media == "multipart/byteranges"
    assert response.headers["content-length"] == str(len(response.content))
    parts = response.content.split(f"--{boundary}".encode())
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    expected = [(0, 9), (100, 199), (SIZE - 5, SIZE - 1)]
    for part, (start, end) in zip(parts[1:-1], expected, strict=True):
        head, _, body = part.partition(b"\r\n\r\n")
        assert f"content-range: bytes {start}-{end}/{SIZE}".encode() in head
        assert b"content-type: application/x-test" in head
        assert body == content[start : end + 1] + b"\r\n"


def test_unsatisfiable_range_is_416(client: httpx.Client, data: tuple[Path, bytes]) -> None:
    path, _ = data
    response = get(client, path, range=f"bytes={SIZE}-")
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-1", "bytes=5-1", "bytes=0-1" + ",2-3" * 20])
def test_malformed_range_is_ignored(
    client: httpx.Client, data: tuple[Path, bytes], spec: str
) -> None:
    path, content = data
    response = get(client, path, range=spec)
    assert response.status_code == 200
    assert response.content == content


def test_if_range(client: httpx.Client, data: tuple[Path, bytes]) -> None:
    path, content = data
    etag = get(client, path, "HEAD").headers["etag"]
    assert get(client, path, range="bytes=0-9", if_range=etag).content == content[:10]
    stale = get(client, path, range="bytes=0-9", if_range='"stale"')
    assert stale.status_code == 200
    assert stale.content == content


def test_post_gets_the_whole_file_without_ranges(
    client: httpx.Client, data: tuple[Path, bytes]
) -> None:
    path, content = data
    response = get(client, path, "POST", range="bytes=0-9")
    assert response.status_code == 200
    assert response.content == content
