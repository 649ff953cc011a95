"""Authentication helpers: each makes the ``Authorization`` header of a request.

``auth=`` on the client or on one request takes a ``BasicAuth``, a ``BearerAuth``, a
``(username, password)`` pair (Basic), or None. Credentials in the URL
(``http://user:pass@host/``) are Basic too, and removed from the URL. The header is
one of the request's headers, so a redirect to another origin drops it (see
_redirects.py); an ``Authorization`` header given explicitly wins over ``auth=``.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit, urlunsplit


class Auth:
    """Anything with ``authorization() -> str`` works as ``auth=``."""

    def authorization(self) -> str:
        raise NotImplementedError


class BasicAuth(Auth):
    """RFC 7617 Basic: ``base64(user:password)``, encoded as UTF-8."""

    def __init__(self, username: str | bytes, password: str | bytes = "") -> None:
        self.username = username
        self.password = password

    def authorization(self) -> str:
        user = self.username.encode() if isinstance(self.username, str) else self.username
        password = self.password.encode() if isinstance(self.password, str) else self.password
        return "Basic " + base64.b64encode(user + b":" + password).decode("ascii")

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, ***)"


class BearerAuth(Auth):
    """RFC 6750 Bearer: ``Authorization: Bearer TOKEN``."""

    def __init__(self, token: str) -> None:
        if any(c in token for c in "\r\n"):
            raise ValueError("a bearer token cannot hold CR or LF")
        self.token = token

    def authorization(self) -> str:
        return f"Bearer {self.token}"

    def __repr__(self) -> str:
        return "BearerAuth(***)"


AuthTypes = Auth | tuple[str | bytes, str | bytes]


def to_auth(auth: AuthTypes | None) -> Auth | None:
    if auth is None or isinstance(auth, Auth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(*auth)
    raise TypeError(
        f"auth must be (username, password), BasicAuth, BearerAuth or None, not {auth!r}"
    )


def url_auth(url: str) -> tuple[str, Auth | None]:
    """``url`` without its userinfo, and the Basic credentials it held (if any)."""
    if "@" not in url:
        return url, None
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = urlunsplit(parts._replace(netloc=host))
    return bare, BasicAuth(unquote(user), unquote(password))
