"""Applications that misuse `send` get clear errors, and the server stays correct;
with `--ws none`, WebSocket upgrade requests are served as plain HTTP (WebSocket
itself: tests/test_websocket_asgi.py)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support import ServerProcess, serve

EXPECTED_ERRORS = 9


def test_malformed_messages_raise_clear_errors(probe: ServerProcess) -> None:
    response = httpx.get(f"{probe.url}/misuse")
    assert response.status_code == 200
    # The str headers were refused, so the valid response has no x header.
    assert response.content == b"fine"
    assert "x" not in response.headers
    # The last error is recorded after the response went out: wait for it (bounded).
    deadline = time.monotonic() + 5
    while len(probe.calls()) < 1 + EXPECTED_ERRORS and time.monotonic() < deadline:
        time.sleep(0.01)
    errors = probe.calls()[1:]
    assert errors == [
        "TypeError: ASGI message must be a dict",
        "ValueError: ASGI message has no 'type'",
        "ValueError: ASGI 'status' must be an int from 100 to 999, got '200'",
        "ValueError: ASGI 'status' must be an int from 100 to 999, got 99",
        "ValueError: unknown ASGI message type 'http.unknown'",
        "RuntimeError: unexpected 'http.response.body': send 'http.response.start' first",
        "TypeError: ASGI 'headers' must be an iterable of [bytes, bytes] pairs",
        "TypeError: ASGI 'body' must be bytes",
        "RuntimeError: unexpected ASGI message 'http.response.body' after the response completed",
    ], errors


def test_websocket_upgrade_is_served_as_plain_http_with_ws_none(tmp_path: Path) -> None:
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    with (
        serve("tests.apps.probe:app", "--ws", "none", tmp=tmp_path) as probe,
        httpx.Client(base_url=probe.url) as client,
    ):
        response = client.get("/scope", headers=headers)
        assert response.status_code == 200
        scope = response.json()
        assert scope["type"] == "http"
        assert ["upgrade", "websocket"] in scope["headers"]
        # The connection still carries HTTP afterwards.
        assert client.get("/").text == "ok"
