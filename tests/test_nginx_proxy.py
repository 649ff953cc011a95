"""Debian's nginx (installed by scripts/test-deps.sh) as a reverse proxy on loopback in
front of Pyre over a Unix socket, configured as docs/deployment.md shows: proxied
requests, X-Forwarded-For handling, streaming through the proxy, and upstream
keep-alive."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.nginx import run_nginx
from tests.support import ServerProcess, serve_uds

#: The nginx configuration of docs/deployment.md, on a loopback port.
PROXY = """
    upstream pyre {{
        server unix:{upstream};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{{port}};
        client_max_body_size 10m;
        location / {{
            proxy_pass http://pyre;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerProcess]]:
    tmp = tmp_path_factory.mktemp("nginx")
    sock = tmp / "pyre.sock"
    with serve_uds("tests.apps.probe:app", sock, "--forwarded-allow-ips", "*", tmp=tmp) as pyre:
        with run_nginx(tmp, PROXY.format(upstream=sock)) as port:
            # Before any request: the event loop's own sockets only.
            pyre.baseline = pyre_connections(pyre)  # type: ignore[attr-defined]
            yield f"http://127.0.0.1:{port}", pyre


def pyre_connections(pyre: ServerProcess) -> int:
    """Connected Unix sockets the Pyre process holds: its connections from nginx,
    plus the event loop's wake-up socketpair (its listener is not connected)."""
    pid = pyre.process.pid
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/unix", encoding="ascii") as f:
        for row in f.read().splitlines()[1:]:
            fields = row.split()
            # st 03 = connected (01 = unconnected/listening).
            if fields[6] in inodes and fields[5] == "03":
                count += 1
    return count


def test_proxied_requests_carry_the_client(stack: tuple[str, ServerProcess]) -> None:
    url, _ = stack
    scope = httpx.get(f"{url}/scope?x=1", headers={"host": "example.com"}).json()
    # Over the Unix socket the peer has no address; nginx's X-Forwarded-For does.
    assert scope["client"] == ["127.0.0.1", 0]
    assert scope["scheme"] == "http"
    assert scope["query_string"] == "x=1"
    assert ["host", "example.com"] in scope["headers"]


def test_a_forged_forwarded_for_is_not_the_client(stack: tuple[str, ServerProcess]) -> None:
    url, _ = stack
    # nginx appends the real peer; with '*' every hop is trusted, so the leftmost
    # wins: trusting '*' is only right when nothing but the proxy can reach Pyre.
    scope = httpx.get(f"{url}/scope", headers={"x-forwarded-for": "6.6.6.6"}).json()
    assert scope["client"] == ["6.6.6.6", 0]


def test_streaming_through_the_proxy(stack: tuple[str, ServerProcess]) -> None:
    url, _ = stack
    with httpx.stream("GET", f"{url}/stream?n=5") as response:
        pieces = list(response.iter_bytes())
    assert b"".join(pieces) == b"".join(b"chunk %d\n" % i for i in range(5))


def test_uploads_through_the_proxy(stack: tuple[str, ServerProcess]) -> None:
    url, _ = stack
    body = os.urandom(2 * 1024 * 1024)
    response = httpx.post(f"{url}/echo", content=body, timeout=30)
    assert response.content == body


def test_upstream_keep_alive(stack: tuple[str, ServerProcess]) -> None:
    url, pyre = stack
    before = pyre_connections(pyre)
    with httpx.Client(base_url=url) as client:
        for _ in range(20):
            assert client.get("/").text == "ok"
    # nginx keeps its upstream connections open between requests and reuses them:
    # afterwards Pyre holds idle connections from nginx (none would be left without
    # keep-alive), and 20 sequential requests added at most one. (The baseline,
    # taken before any request, is the event loop's own socketpair.)
    after = pyre_connections(pyre)
    baseline = pyre.baseline  # type: ignore[attr-defined]
    assert after - baseline >= 1, (baseline, after)
    assert after - before <= 1, (before, after)
