"""The built-in CORS and GZip middleware on the native path (PSGI on Pyre, and ASGI
on uvicorn), and response headers as a mutable mapping
(tests/apps/framework_middleware_app.py)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyre.framework.datastructures import MutableHeaders
from pyre.framework.middleware.gzip import accepts_gzip
from tests.apps.framework_middleware_app import BIG
from tests.support import serve, serve_uvicorn

APP = "tests.apps.framework_middleware_app:app"
OPEN_APP = "tests.apps.framework_middleware_app:open_app"
GOOD = "https://good.example"


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp(f"middleware-{request.param}")
    starter = serve if request.param == "pyre" else serve_uvicorn
    with starter(APP, tmp=tmp) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def preflight(client: httpx.Client, origin: str, method: str, headers: str = "") -> httpx.Response:
    fields = {"origin": origin, "access-control-request-method": method}
    if headers:
        fields["access-control-request-headers"] = headers
    return client.options("/big", headers=fields)


# -- CORS -------------------------------------------------------------------------------


def test_preflight_allowed(client: httpx.Client) -> None:
    response = preflight(client, GOOD, "POST", "x-token, content-type")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == GOOD
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    assert "x-token" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-max-age"] == "123"
    assert "Origin" in response.headers["vary"]


def test_preflight_by_regex(client: httpx.Client) -> None:
    response = preflight(client, "https://api.trusted.example", "GET")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://api.trusted.example"
    # The regex is matched whole: a suffix does not sneak in.
    assert preflight(client, "https://api.trusted.example.evil", "GET").status_code == 400


@pytest.mark.parametrize(
    ("origin", "method", "headers", "refused"),
    [
        ("https://evil.example", "GET", "", "origin"),
        ("null", "GET", "", "origin"),
        (GOOD, "DELETE", "", "method"),
        (GOOD, "GET", "x-secret", "headers"),
        (GOOD, "GET", "x-token, x-secret", "headers"),
        ("https://evil.example", "PUT", "x-secret", "origin, method, headers"),
    ],
)
def test_preflight_refused(
    client: httpx.Client, origin: str, method: str, headers: str, refused: str
) -> None:
    response = preflight(client, origin, method, headers)
    assert response.status_code == 400
    assert response.text == f"Disallowed CORS {refused}"
    if "origin" in refused:
        assert "access-control-allow-origin" not in response.headers


def test_simple_request_from_an_allowed_origin(client: httpx.Client) -> None:
    response = client.get("/big", headers={"origin": GOOD})
    assert response.headers["access-control-allow-origin"] == GOOD
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "x-total"
    assert "Origin" in response.headers["vary"]


def test_unknown_origin_gets_no_cors_headers(client: httpx.Client) -> None:
    response = client.get("/big", headers={"origin": "https://evil.example"})
    assert response.status_code == 200  # served; the browser withholds it
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


def test_errors_and_404s_carry_cors_headers(client: httpx.Client) -> None:
    for path, status in (("/error", 418), ("/nowhere", 404)):
        response = client.get(path, headers={"origin": GOOD})
        assert response.status_code == status
        assert response.headers["access-control-allow-origin"] == GOOD


def test_no_origin_no_cors(client: httpx.Client) -> None:
    response = client.get("/small")
    assert not [k for k in response.headers if k.startswith("access-control-")]
    assert client.options("/big").status_code == 405  # not a preflight: routed


def test_allow_all_origins(tmp_path: Path) -> None:
    with serve(OPEN_APP, tmp=tmp_path) as server, httpx.Client(base_url=server.url) as client:
        simple = client.get("/small", headers={"origin": "https://anyone.example"})
        assert simple.headers["access-control-allow-origin"] == "*"
        with_cookie = client.get(
            "/small", headers={"origin": "https://anyone.example", "cookie": "a=1"}
        )
        assert with_cookie.headers["access-control-allow-origin"] == "https://anyone.example"
        response = preflight(client, "https://anyone.example", "PATCH", "x-anything")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-allow-headers"] == "x-anything"


# -- GZip -------------------------------------------------------------------------------


def test_gzip_whole_body(client: httpx.Client) -> None:
    response = client.get("/big", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["vary"]
    assert int(response.headers["content-length"]) < len(BIG)
    assert response.text == BIG  # httpx decodes it


@pytest.mark.parametrize("accept", ["identity", "gzip;q=0", "br", "", "*;q=0"])
def test_gzip_not_accepted(client: httpx.Client, accept: str) -> None:
    response = client.get("/big", headers={"accept-encoding": accept})
    assert "content-encoding" not in response.headers
    assert response.content == BIG.encode()
    assert "Accept-Encoding" in response.headers["vary"]


def test_gzip_skips_small_encoded_events_and_files(client: httpx.Client) -> None:
    accept = {"accept-encoding": "gzip"}
    small = client.get("/small", headers=accept)
    assert "content-encoding" not in small.headers
    encoded = client.get("/encoded", headers=accept)
    assert encoded.headers["content-encoding"] == "x-precompressed"
    events = client.get("/events", headers=accept)
    assert "content-encoding" not in events.headers
    assert events.headers["content-type"].startswith("text/event-stream")
    file = client.get("/file", headers=accept)
    assert "content-encoding" not in file.headers
    assert file.headers["accept-ranges"] == "bytes"


def test_gzip_streams_piece_by_piece(client: httpx.Client) -> None:
    expected = b"".join(f"piece {n} ".encode() * 100 for n in range(3))
    with client.stream("GET", "/stream", headers={"accept-encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        raw = b"".join(response.iter_raw())
    decompressor = zlib.decompressobj(31)
    assert decompressor.decompress(raw) + decompressor.flush() == expected
    assert gzip.decompress(raw) == expected


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*", True),
        ("*;q=0", False),
        ("br;q=1, identity", False),
        ("gzip;q=bogus", False),
        ("", False),
    ],
)
def test_accept_encoding_table(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


# -- headers as a mapping ----------------------------------------------------------------


def test_response_headers_mapping_over_the_wire(client: httpx.Client) -> None:
    response = client.get("/headers")
    assert response.headers["x-one"] == "replaced"
    assert response.headers.get_list("x-one") == ["replaced"]
    assert "x-gone" not in response.headers
    assert response.headers["x-default"] == "d"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2; Path=/; SameSite=Lax"]


def test_mutable_headers_table() -> None:
    headers = MutableHeaders({"Content-Type": "text/plain"})
    headers.append(("set-cookie", "a=1"))
    headers.append("Set-Cookie", "b=2")
    assert headers["content-type"] == "text/plain"
    assert headers.getlist("SET-COOKIE") == ["a=1", "b=2"]
    assert len(headers) == 2 and list(headers) == ["Content-Type", "set-cookie"]
    headers["set-cookie"] = "only=1"
    assert headers.raw == [("Content-Type", "text/plain"), ("set-cookie", "only=1")]
    del headers["CONTENT-TYPE"]
    assert "content-type" not in headers
    with pytest.raises(KeyError):
        del headers["content-type"]
    with pytest.raises(KeyError):
        headers["missing"]
    headers.add_vary("Origin")
    headers.add_vary("origin")
    headers.add_vary("Accept-Encoding")
    assert headers["vary"] == "Origin, Accept-Encoding"
    headers.extend({"x-a": "1"})
    assert headers == [("set-cookie", "only=1"), ("vary", "Origin, Accept-Encoding"), ("x-a", "1")]
