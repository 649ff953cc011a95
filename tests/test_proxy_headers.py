"""Proxy headers (--proxy-headers, --forwarded-allow-ips): the client address, scheme
and host taken from X-Forwarded-* or Forwarded only when the peer is trusted, with
the first untrusted hop from the right as the client; on ASGI (the probe's scope) and
on PSGI (the request's attributes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, connect, read_until_closed, serve

XFF = {
    "x-forwarded-for": "1.2.3.4",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "example.com",
}


def asgi_view(server: ServerProcess, headers: dict[str, str]) -> dict[str, Any]:
    scope = httpx.get(f"{server.url}/scope", headers=headers).json()
    host = next(v for k, v in scope["headers"] if k == "host")
    return {"client": scope["client"], "scheme": scope["scheme"], "host": host}


def psgi_view(server: ServerProcess, headers: dict[str, str]) -> dict[str, Any]:
    seen = httpx.get(f"{server.url}/request", headers=headers).json()
    host = next(v for k, v in seen["items"] if k == "host")
    return {"client": seen["client"], "scheme": seen["scheme"], "host": host}


INTERFACES = {
    "asgi": ("tests.apps.probe:app", asgi_view),
    "psgi": ("tests.apps.psgi_app:app", psgi_view),
}


@pytest.fixture(params=list(INTERFACES))
def start(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., tuple[ServerProcess, Callable[..., dict[str, Any]]]]]:
    app, view = INTERFACES[request.param]
    contexts: list[AbstractContextManager[ServerProcess]] = []

    def _start(*args: str) -> tuple[ServerProcess, Callable[..., dict[str, Any]]]:
        context = serve(app, *args, tmp=tmp_path)
        contexts.append(context)
        server = context.__enter__()
        return server, lambda headers: view(server, headers)

    yield _start
    for context in reversed(contexts):
        context.__exit__(None, None, None)


def test_trusted_peer_by_default(start: Callable[..., Any]) -> None:
    _, view = start()
    seen = view(XFF)
    assert seen["client"] == ["1.2.3.4", 0]
    assert seen["scheme"] == "https"
    assert seen["host"] == "example.com"


def test_untrusted_peer_is_not_believed(start: Callable[..., Any]) -> None:
    server, view = start("--forwarded-allow-ips", "10.0.0.0/8")
    seen = view(XFF)
    assert seen["client"][0] == "127.0.0.1"
    assert seen["scheme"] == "http"
    assert seen["host"] == f"127.0.0.1:{server.port}"


def test_disabled(start: Callable[..., Any]) -> None:
    _, view = start("--no-proxy-headers")
    assert view(XFF)["client"][0] == "127.0.0.1"


def test_first_untrusted_hop_from_the_right(start: Callable[..., Any]) -> None:
    _, view = start("--forwarded-allow-ips", "127.0.0.1, 10.0.0.0/8")
    # The client tried to forge 6.6.6.6; 1.2.3.4 reached our trusted proxy 10.0.0.5.
    seen = view({"x-forwarded-for": "6.6.6.6, 1.2.3.4, 10.0.0.5"})
    assert seen["client"] == ["1.2.3.4", 0]
    all_trusted = view({"x-forwarded-for": "10.0.0.1, 10.0.0.2"})
    assert all_trusted["client"] == ["10.0.0.1", 0]


def test_forwarded_header(start: Callable[..., Any]) -> None:
    _, view = start()
    seen = view({"forwarded": 'for="[2001:db8::1]:4711";proto=https;host=example.org'})
    assert seen == {"client": ["2001:db8::1", 4711], "scheme": "https", "host": "example.org"}


def test_star_trusts_everyone_and_bad_schemes_are_ignored(start: Callable[..., Any]) -> None:
    _, view = start("--forwarded-allow-ips", "*")
    seen = view({"x-forwarded-for": "5.6.7.8", "x-forwarded-proto": "gopher"})
    assert seen["client"] == ["5.6.7.8", 0]
    assert seen["scheme"] == "http"


@pytest.mark.parametrize("interface", list(INTERFACES))
def test_an_absolute_form_target_names_the_host(interface: str, tmp_path: Path) -> None:
    # RFC 9112 section 3.2.2: the target's authority, not the Host field, names the host.
    app = INTERFACES[interface][0]
    path = "/scope" if interface == "asgi" else "/request"
    with serve(app, tmp=tmp_path) as server, connect(server.port) as sock:
        sock.sendall(
            f"GET http://target.example:8080{path}?q=1 HTTP/1.1\r\n"
            "Host: example.com\r\nConnection: close\r\n\r\n".encode()
        )
        head, _, body = read_until_closed(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        if b"transfer-encoding: chunked" in head.lower():
            body = b"".join(body.split(b"\r\n")[1::2])
        seen = json.loads(body)
        pairs = seen["headers"] if interface == "asgi" else seen["items"]
        assert [v for k, v in pairs if k == "host"] == ["target.example:8080"]
