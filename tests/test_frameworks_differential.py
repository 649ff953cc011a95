"""Django and Litestar applications answer exactly the same on Pyre as on uvicorn.

Each application (tests/apps/django_app.py, tests/apps/litestar_app.py) runs once on
Pyre (`python -m pyre`) and once on uvicorn, both on a free loopback port. The same raw
HTTP/1.1 requests go to both over fresh sockets (``Connection: close``, so each answer
ends with the close and no connection reuse can differ), and the answers must match:
the status line byte for byte, the header fields as a multiset (names lower-cased, the
values as sent) and the body bytes.

Only two header fields are dropped before comparing, because they legitimately differ:

* ``date``: the clock moves between the two requests;
* ``server``: each server names itself (``uvicorn``, ``pyre``).

Framing (``content-length`` / ``transfer-encoding``) is compared apart from the other
fields, and allowed to differ in exactly two ways, both valid HTTP/1.1 and found by this
test (every other field must match as is, and the decoded bodies must be equal):

* When the application sends no ``content-length`` and its first body message is also
  its last (``more_body`` false: an empty StreamingHttpResponse or Stream, Django's
  APPEND_SLASH redirect), Pyre knows the whole body before writing the head and sends
  ``content-length: N``; uvicorn always sends ``transfer-encoding: chunked`` for a
  response without a length. The same N bytes arrive either way (seen here with N = 0).
* For HEAD of such a response (no length from the application), uvicorn says
  ``transfer-encoding: chunked`` and Pyre sends no framing field: a HEAD answer has no
  body to frame, and RFC 9110 section 9.3.2 lets a server omit fields whose values are
  only known while generating the content.

When uvicorn sends a ``content-length`` (the application set it), Pyre must send the
same one; when both chunk, both must say so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support import ServerProcess, exchange, serve, serve_uvicorn

DJANGO = "tests.apps.django_app:application"
LITESTAR = "tests.apps.litestar_app:app"

# Fields that must legitimately differ between two servers (see the module docstring).
DROPPED = {"date", "server"}
# Compared by `same_framing`, not as ordinary fields.
FRAMING = {b"content-length", b"transfer-encoding"}


@dataclass(frozen=True)
class Answer:
    status_line: bytes
    headers: Counter[tuple[bytes, bytes]]
    body: bytes
    framing: Counter[tuple[bytes, bytes]]

    def describe(self) -> str:
        fields = "\n".join(
            f"  {name.decode()}: {value.decode(errors='replace')}"
            for name, value in sorted((self.headers + self.framing).elements())
        )
        return f"{self.status_line.decode()}\n{fields}\n  body={self.body[:300]!r}"


def dechunk(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body += data[:size]
        assert data[size : size + 2] == b"\r\n", "chunk not followed by CRLF"
        data = data[size + 2 :]


def parse(raw: bytes, *, head: bool) -> Answer:
    assert b"\r\n\r\n" in raw, f"no complete response head: {raw!r}"
    head_bytes, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.split(b"\r\n")
    headers: Counter[tuple[bytes, bytes]] = Counter()
    for line in lines:
        name, _, value = line.partition(b":")
        headers[(name.strip().lower(), value.strip())] += 1
    names = {name for name, _ in headers}
    if not head and (b"transfer-encoding", b"chunked") in headers:
        body = dechunk(rest)
    else:
        body = rest
        if not head and b"content-length" in names:
            length = int(next(value for name, value in headers if name == b"content-length"))
            assert len(body) == length, f"content-length {length}, got {len(body)} bytes"
    kept = Counter({key: n for key, n in headers.items() if key[0].decode() not in DROPPED})
    framing = Counter({key: n for key, n in kept.items() if key[0] in FRAMING})
    return Answer(status_line, kept - framing, body, framing)


def request(method: str, target: str, body: bytes = b"", headers: tuple[str, ...] = ()) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: example.test", "Connection: close", *headers]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


JSON = "Content-Type: application/json"

DJANGO_REQUESTS = {
    "hello": request("GET", "/hello"),
    "head-hello": request("HEAD", "/hello"),
    "json": request("GET", "/json"),
    "echo": request("POST", "/echo", b"some \x00 bytes \xff", ("Content-Type: application/x-raw",)),
    "echo-empty": request("POST", "/echo", b""),
    "echo-get": request("GET", "/echo"),
    "query": request("GET", "/query?x=1&x=2&y=%C3%A9&empty="),
    "not-found": request("GET", "/no/such/page"),
    "boom-async": request("GET", "/boom"),
    "boom-sync": request("GET", "/sync-boom"),
    "stream": request("GET", "/stream?n=4"),
    "stream-empty": request("GET", "/stream?n=0"),
    "head-stream": request("HEAD", "/stream?n=2"),
    "redirect": request("GET", "/redirect"),
    "cookie": request("GET", "/cookie"),
    "multi": request("GET", "/multi", headers=("X-Custom: one", "X-Custom: two")),
    "wrong-method": request("POST", "/only-get", b"x"),
    "append-slash": request("GET", "/slash?keep=1"),
    "slash": request("GET", "/slash/"),
}

LITESTAR_REQUESTS = {
    "hello": request("GET", "/hello"),
    "head-hello": request("HEAD", "/hello"),
    "json": request("GET", "/json"),
    "item": request("POST", "/items", b'{"name": "widget", "price": 2.5}', (JSON,)),
    "item-tags": request("POST", "/items", b'{"name":"w","price":1,"tags":["a","b"]}', (JSON,)),
    "item-bad-json": request("POST", "/items", b'{"name": "widget", ', (JSON,)),
    "item-wrong-type": request("POST", "/items", b'{"name": "w", "price": "free"}', (JSON,)),
    "item-missing-field": request("POST", "/items", b'{"name": "w"}', (JSON,)),
    "item-wrong-method": request("GET", "/items"),
    "user": request("GET", "/users/42"),
    "user-bad-int": request("GET", "/users/abc"),
    "query": request("GET", "/query?limit=5&tag=x%20y"),
    "query-bad-int": request("GET", "/query?limit=many"),
    "not-found": request("GET", "/no/such/page"),
    "boom": request("GET", "/boom"),
    "stream": request("GET", "/stream?n=4"),
    "stream-empty": request("GET", "/stream?n=0"),
    "redirect": request("GET", "/redirect"),
    "cookie": request("GET", "/cookie"),
    "multi": request("GET", "/multi", headers=("X-Custom: one",)),
    "sync": request("GET", "/sync"),
    "started": request("GET", "/started"),
    "wrong-method": request("DELETE", "/hello"),
}


@pytest.fixture(scope="module")
def django_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    tmp = tmp_path_factory.mktemp("django")
    with serve(DJANGO, tmp=tmp) as pyre, serve_uvicorn(DJANGO, tmp=tmp) as uvicorn:
        yield pyre, uvicorn


@pytest.fixture(scope="module")
def litestar_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    tmp = tmp_path_factory.mktemp("litestar")
    with serve(LITESTAR, tmp=tmp) as pyre, serve_uvicorn(LITESTAR, tmp=tmp) as uvicorn:
        yield pyre, uvicorn


CHUNKED = Counter({(b"transfer-encoding", b"chunked"): 1})


def same_framing(on_pyre: Answer, on_uvicorn: Answer, *, head: bool) -> bool:
    """Whether the framing fields agree, up to the two differences the module docstring
    describes (a known whole body given a length by Pyre; no framing on HEAD)."""
    if on_pyre.framing == on_uvicorn.framing:
        return True
    if on_uvicorn.framing != CHUNKED:
        return False  # uvicorn sent the application's content-length: Pyre must too
    if head:
        return not on_pyre.framing
    return on_pyre.framing == Counter({(b"content-length", str(len(on_pyre.body)).encode()): 1})


def compare(servers: tuple[ServerProcess, ServerProcess], raw_request: bytes) -> None:
    pyre, uvicorn = servers
    is_head = raw_request.startswith(b"HEAD ")
    on_pyre = parse(exchange(pyre.port, raw_request), head=is_head)
    on_uvicorn = parse(exchange(uvicorn.port, raw_request), head=is_head)
    differs = (on_pyre.status_line, on_pyre.headers, on_pyre.body) != (
        on_uvicorn.status_line,
        on_uvicorn.headers,
        on_uvicorn.body,
    ) or not same_framing(on_pyre, on_uvicorn, head=is_head)
    assert not differs, (
        f"request {raw_request!r}\n"
        f"--- Pyre:\n{on_pyre.describe()}\n--- uvicorn:\n{on_uvicorn.describe()}\n"
        f"--- Pyre log:\n{pyre.log[-2000:]}"
    )


@pytest.mark.parametrize("name", DJANGO_REQUESTS)
def test_django_same_as_uvicorn(
    django_servers: tuple[ServerProcess, ServerProcess], name: str
) -> None:
    compare(django_servers, DJANGO_REQUESTS[name])


@pytest.mark.parametrize("name", LITESTAR_REQUESTS)
def test_litestar_same_as_uvicorn(
    litestar_servers: tuple[ServerProcess, ServerProcess], name: str
) -> None:
    compare(litestar_servers, LITESTAR_REQUESTS[name])


def test_litestar_startup_hook_ran_on_both(
    litestar_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    for server in litestar_servers:
        assert parse(exchange(server.port, LITESTAR_REQUESTS["started"]), head=False).body == (
            b'{"started":true}'
        )
