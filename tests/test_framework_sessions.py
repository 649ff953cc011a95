"""Sessions through a real Pyre server: round trips, Set-Cookie only on change,
Vary: Cookie when read, tampered, foreign and expired cookies giving an empty session,
key rotation, and the server-side store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from unittest import mock

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from pyre.framework.sessions import SALT
from tests.support import ServerProcess, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve("tests.apps.sessions_app:app", tmp=tmp_path_factory.mktemp("s")) as process:
        yield process


@pytest.fixture(scope="module")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("store")
    with serve("tests.apps.sessions_app:store_app", tmp=tmp) as process:
        yield process


def sign(value: object, key: str = "new-key", at: float | None = None) -> str:
    serializer = URLSafeTimedSerializer(key, salt=SALT)
    if at is None:
        return serializer.dumps(value)
    with mock.patch("time.time", return_value=at):
        return serializer.dumps(value)


def test_round_trip(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        login = client.post("/login/ann")
        assert "session=" in login.headers["set-cookie"]
        assert "HttpOnly" in login.headers["set-cookie"]
        assert client.get("/me").json() == {"user": "ann"}
        assert [client.post("/count").json()["count"] for _ in range(3)] == [1, 2, 3]
        logout = client.post("/logout")
        assert "Max-Age=0" in logout.headers["set-cookie"]
        assert client.get("/me").json() == {"user": None}


def test_set_cookie_only_when_changed_and_vary_when_read(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.post("/login/bo")
        read = client.get("/me")
        assert "set-cookie" not in read.headers
        assert read.headers["vary"] == "Cookie"
        plain = client.get("/plain")
        assert "set-cookie" not in plain.headers
        assert "vary" not in plain.headers


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        sign({"user": "mallory"}, key="someone-elses-key"),
        sign({"user": "old"}, at=time.time() - 7200),  # older than max_age (3600 s)
    ],
    ids=["garbage", "foreign-key", "expired"],
)
def test_bad_cookies_give_an_empty_session(server: ServerProcess, cookie: str) -> None:
    response = httpx.get(f"{server.url}/me", cookies={"session": cookie})
    assert response.status_code == 200
    assert response.json() == {"user": None}


def test_tampered_cookie_gives_an_empty_session(server: ServerProcess) -> None:
    good = sign({"user": "cy"})
    assert httpx.get(f"{server.url}/me", cookies={"session": good}).json() == {"user": "cy"}
    rest = good.partition(".")[2]
    forged = sign({"user": "admin"}).partition(".")[0] + "." + rest
    assert httpx.get(f"{server.url}/me", cookies={"session": forged}).json() == {"user": None}


def test_key_rotation(server: ServerProcess) -> None:
    old = sign({"user": "dee"}, key="old-key")
    with httpx.Client(base_url=server.url, cookies={"session": old}) as client:
        assert client.get("/me").json() == {"user": "dee"}
        counted = client.post("/count")  # rewritten: signed with the new key now
        fresh = counted.cookies["session"]
    URLSafeTimedSerializer("new-key", salt=SALT).loads(fresh)


def test_server_side_store_keeps_only_an_id_in_the_cookie(store_server: ServerProcess) -> None:
    with httpx.Client(base_url=store_server.url) as client:
        client.post("/login/eve")
        cookie = client.cookies["sid"]
        session_id = URLSafeTimedSerializer("store-key", salt=SALT).loads(cookie)
        assert isinstance(session_id, str) and "eve" not in cookie
        assert client.get("/me").json() == {"user": "eve"}
        client.post("/logout")
        assert client.get("/me").json() == {"user": None}
    # The logged-out id no longer names a session.
    replay = httpx.get(f"{store_server.url}/me", cookies={"sid": cookie})
    assert replay.json() == {"user": None}
