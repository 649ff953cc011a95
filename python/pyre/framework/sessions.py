"""Sessions: ``request.session``, a dict kept between requests in a signed cookie
(itsdangerous), or in a server-side store with only the session's id in the cookie.

How it works: ``app.enable_sessions(...)`` adds an outermost middleware. It gives
each request a :class:`Session` that reads the cookie only when first used. After
the handler, a session that changed is written back (``Set-Cookie``; an emptied one
deletes the cookie), and a session that was read adds ``Vary: Cookie`` so caches
keep users apart. A cookie that was tampered with, signed with an unknown key or
expired gives an empty session, never an error. Keys rotate: the last of
``secret_key`` (a list) signs, every one of them verifies.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, MutableMapping
from typing import Any, Protocol

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "pyre.framework.session"


class SessionStore(Protocol):
    """Where server-side sessions live; the cookie then holds only a signed id."""

    async def load(self, session_id: str) -> dict[str, Any] | None: ...
    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None: ...
    async def delete(self, session_id: str) -> None: ...


class MemoryStore:
    """Sessions in this process's memory, expiring after ``max_age`` (one worker
    only: other processes do not see them)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, dict[str, Any]]] = {}

    async def load(self, session_id: str) -> dict[str, Any] | None:
        entry = self._data.get(session_id)
        if entry is None:
            return None
        expires, data = entry
        if expires < time.monotonic():
            del self._data[session_id]
            return None
        return dict(data)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        self._data[session_id] = (time.monotonic() + max_age, dict(data))

    async def delete(self, session_id: str) -> None:
        self._data.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._data)


class Session(MutableMapping[str, Any]):
    """A request's session: a dict that remembers whether it was read or changed."""

    def __init__(self, data: dict[str, Any], session_id: str | None = None) -> None:
        self._data = data
        self.session_id = session_id
        self.accessed = False
        self.modified = False

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = self.modified = True
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        self.accessed = self.modified = True
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self._data)

    def __len__(self) -> int:
        self.accessed = True
        return len(self._data)

    def clear(self) -> None:
        self.accessed = self.modified = True
        self._data.clear()

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Session({self._data!r})"


class SessionMiddleware:
    """The middleware ``App.enable_sessions`` installs (see the module docstring)."""

    def __init__(
        self,
        secret_key: str | bytes | list[str | bytes],
        *,
        cookie_name: str = "session",
        max_age: int = 14 * 24 * 3600,
        path: str = "/",
        domain: str | None = None,
        same_site: str = "lax",
        https_only: bool = False,
        store: SessionStore | None = None,
    ) -> None:
        keys = secret_key if isinstance(secret_key, list) else [secret_key]
        if not keys or not all(keys):
            raise ValueError("sessions need a non-empty secret_key")
        # itsdangerous signs with the last key and accepts all of them.
        self.serializer = URLSafeTimedSerializer(keys, salt=SALT)
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.path = path
        self.domain = domain
        self.same_site = same_site
        self.https_only = https_only
        self.store = store

    async def load(self, request: Any) -> Session:
        """The session the request's cookie names (empty when none is valid); a
        WebSocket's is read this way, without the middleware (read-only there)."""
        raw = request.cookies.get(self.cookie_name)
        if raw is None:
            return Session({})
        try:
            value = self.serializer.loads(raw, max_age=self.max_age)
        except BadSignature:  # tampered, unknown key, or expired
            return Session({})
        if self.store is None:
            return Session(value if isinstance(value, dict) else {})
        if not isinstance(value, str):
            return Session({})
        data = await self.store.load(value)
        return Session(data or {}, session_id=value if data is not None else None)

    async def __call__(self, request: Any, call_next: Any) -> Any:
        session = await self.load(request)
        request.session = session
        response = await call_next(request)
        if session.accessed:
            response.headers.append(("vary", "Cookie"))
        if not session.modified:
            return response
        if not session.to_dict():
            if self.store is not None and session.session_id:
                await self.store.delete(session.session_id)
            response.delete_cookie(self.cookie_name, path=self.path, domain=self.domain)
            return response
        if self.store is None:
            payload: Any = session.to_dict()
        else:
            session_id = session.session_id or secrets.token_urlsafe(32)
            await self.store.save(session_id, session.to_dict(), self.max_age)
            payload = session_id
        response.set_cookie(
            self.cookie_name,
            self.serializer.dumps(payload),
            max_age=self.max_age,
            path=self.path,
            domain=self.domain,
            secure=self.https_only,
            httponly=True,
            samesite=self.same_site,
        )
        return response
