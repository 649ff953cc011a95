"""The server answers a real client: the smallest end-to-end check."""

import httpx

from tests.support import ServerProcess


def test_get_and_post(probe: ServerProcess) -> None:
    with httpx.Client(base_url=probe.url) as client:
        assert client.get("/").text == "ok"
        response = client.post("/echo", content=b"hello")
        assert response.status_code == 200
        assert response.content == b"hello"
        assert response.headers["content-length"] == "5"
    assert probe.calls() == ["GET /", "POST /echo"]
