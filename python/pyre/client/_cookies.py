"""The client's cookie jar: ``Set-Cookie`` kept per domain and path, sent back.

How it works: the jar is the standard library's ``http.cookiejar.CookieJar``, which
implements the matching rules browsers follow (domain and path match, ``Expires`` and
``Max-Age``, ``Secure`` cookies sent only over https, a cookie for another domain or
a public suffix refused). It speaks to ``urllib.request`` objects, so two small
adapters stand in for them: ``_JarRequest`` (the URL a request goes to, and where the
jar writes the ``Cookie`` header) and ``_JarResponse`` (the ``Set-Cookie`` fields).
Malformed ``Set-Cookie`` values are ignored by the jar, as browsers ignore them.

``Cookies`` is the mapping users see as ``client.cookies`` (name -> value), with
``set(name, value, domain=, path=)`` for a cookie of one site, and ``jar`` for
everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping
from email.message import Message
from http.cookiejar import Cookie, CookieJar
from typing import Any, Union
from urllib.parse import urlsplit

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

CookieTypes = Union[Mapping[str, str], CookieJar, "Cookies"]


class _JarRequest:
    """The parts of ``urllib.request.Request`` that ``CookieJar`` reads and writes."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        parts = urlsplit(url)
        self.type = parts.scheme
        self.host = parts.netloc.rpartition("@")[2]
        self.origin_req_host = parts.hostname or ""
        self.unverifiable = False
        self.headers = dict(headers or {})
        self.cookie_header: str | None = None

    def get_full_url(self) -> str:
        return self.url

    def get_host(self) -> str:
        return self.host

    def get_type(self) -> str:
        return self.type

    def is_unverifiable(self) -> bool:
        return self.unverifiable

    def get_origin_req_host(self) -> str:
        return self.origin_req_host

    def has_header(self, name: str) -> bool:
        return name.lower() == "cookie" and self.cookie_header is not None

    def get_header(self, name: str, default: Any = None) -> Any:
        return self.headers.get(name, default)

    def header_items(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def add_unredirected_header(self, name: str, value: str) -> None:
        if name.lower() == "cookie":
            self.cookie_header = value


class _JarResponse:
    """The part of ``urllib``'s response that ``CookieJar`` reads: its headers."""

    def __init__(self, set_cookies: list[str]) -> None:
        self._message = Message()
        for value in set_cookies:
            self._message["Set-Cookie"] = value

    def info(self) -> Message:
        return self._message


def _cookie(name: str, value: str, domain: str, path: str) -> Cookie:
    return Cookie(
        version=0,
        name=name,
        value=value,
        port=None,
        port_specified=False,
        domain=domain,
        domain_specified=bool(domain),
        domain_initial_dot=domain.startswith("."),
        path=path,
        path_specified=bool(path),
        secure=False,
        expires=None,
        discard=True,
        comment=None,
        comment_url=None,
        rest={},
    )


class Cookies(MutableMapping[str, str]):
    """Cookies by name. ``cookies[name]`` is the value of that name (the first one,
    if several domains set it); ``cookies.set(name, value, domain="api.example",
    path="/")`` adds one for a site (no domain: sent to every host); ``cookies.jar``
    is the underlying ``http.cookiejar.CookieJar``."""

    def __init__(self, cookies: CookieTypes | None = None) -> None:
        if isinstance(cookies, CookieJar):
            self.jar = cookies
            return
        self.jar = CookieJar()
        if isinstance(cookies, Cookies):
            for cookie in cookies.jar:
                self.jar.set_cookie(cookie)
        elif cookies is not None:
            for name, value in cookies.items():
                self.set(name, value)

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        self.jar.set_cookie(_cookie(name, value, domain, path))

    def get(self, name: str, default: Any = None, domain: str | None = None) -> Any:  # type: ignore[override]
        for cookie in self.jar:
            if cookie.name == name and (domain is None or cookie.domain == domain):
                return cookie.value
        return default

    def delete(self, name: str, domain: str | None = None) -> None:
        doomed = [c for c in self.jar if c.name == name and (domain is None or c.domain == domain)]
        for cookie in doomed:
            self.jar.clear(cookie.domain, cookie.path, cookie.name)

    def clear(self, domain: str | None = None) -> None:  # type: ignore[override]
        self.jar.clear(domain) if domain is not None else self.jar.clear()

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        if self.get(name) is None:
            raise KeyError(name)
        self.delete(name)

    def __iter__(self) -> Iterator[str]:
        return iter({cookie.name: None for cookie in self.jar})

    def __len__(self) -> int:
        return len({cookie.name for cookie in self.jar})

    def __bool__(self) -> bool:
        # CookieJar keeps its cookies in ``_cookies`` (domain -> path -> name); looking
        # there spares every request of a client without cookies an iteration of the
        # jar. (Emptied domains may stay as empty dicts: then this is True, and the
        # jar is simply asked and finds nothing.)
        return bool(getattr(self.jar, "_cookies", True))

    def __repr__(self) -> str:
        shown = ", ".join(f"{c.name}={c.value} for {c.domain or '*'}{c.path}" for c in self.jar)
        return f"<Cookies[{shown}]>"

    # What the client calls.

    def header_for(self, url: str) -> str | None:
        """The ``Cookie`` header value the jar has for ``url`` (None: no cookie)."""
        request = _JarRequest(url)
        self.jar.add_cookie_header(request)  # type: ignore[arg-type]
        return request.cookie_header

    def extract(self, url: str, set_cookies: list[str]) -> None:
        """Stores the ``Set-Cookie`` values of a response to a request for ``url``."""
        # A value with control characters (other than tab) is ignored whole
        # (RFC 6265bis section 5.6): it could only end up breaking a Cookie header.
        set_cookies = [v for v in set_cookies if not _CONTROL.search(v)]
        if set_cookies:
            self.jar.extract_cookies(_JarResponse(set_cookies), _JarRequest(url))  # type: ignore[arg-type]

    def with_request_cookies(self, cookies: CookieTypes, url: str) -> Cookies:
        """A copy with ``cookies`` (a request's ``cookies=``) added for ``url``'s host
        only, so that a redirect to another host does not carry them."""
        merged = Cookies(self)
        host = urlsplit(url).hostname or ""
        # The jar compares with the "effective" host name: a name without a dot
        # ("localhost") is "localhost.local" to it (RFC 2965 section 1).
        host = host if "." in host or ":" in host else f"{host}.local"
        source = cookies if isinstance(cookies, Mapping) else Cookies(cookies)
        for name, value in source.items():
            merged.set(name, value, domain=host)
        return merged
