"""Large request bodies arrive whole, in messages of bounded size (the read buffer's
high-water mark, 64 KiB, plus at most one read), whatever the body's size."""

from __future__ import annotations

import hashlib

import httpx

from tests.support import ServerProcess

HIGH_WATER = 64 * 1024
MESSAGE_BOUND = 2 * HIGH_WATER


def test_large_upload_arrives_whole_in_bounded_messages(probe: ServerProcess) -> None:
    body = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    response = httpx.post(f"{probe.url}/chunks", content=body, timeout=30)
    report = response.json()
    assert report["total"] == len(body)
    assert len(report["sizes"]) > 8
    assert max(report["sizes"]) <= MESSAGE_BOUND, max(report["sizes"])


def test_large_chunked_upload_is_echoed_intact(probe: ServerProcess) -> None:
    pieces = [bytes([i % 251]) * 100_003 for i in range(40)]

    def stream():
        yield from pieces

    response = httpx.post(f"{probe.url}/echo", content=stream(), timeout=30)
    assert response.status_code == 200
    expected = b"".join(pieces)
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(expected).digest()
