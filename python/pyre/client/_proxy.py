"""Which proxy a request goes through: ``proxy=`` or the environment, and NO_PROXY.

How it works: ``ProxyRules`` is built once per client. ``proxy="http://host:port"``
sends every request through that proxy (the environment is then not read). Without
it and with ``trust_env=True`` (the default, as httpx and curl), the variables are
read when the client is made: ``http_proxy`` for http URLs, ``https_proxy`` for
https URLs, ``all_proxy`` for both (the lowercase name wins over the uppercase one;
``HTTP_PROXY`` is ignored inside a CGI script, the "httpoxy" rule of
``urllib.request.getproxies_environment``), and ``no_proxy`` lists the hosts reached
directly.

A plain-http request through a proxy goes to the proxy's connection with the
absolute URL as its request-target (``GET http://host/path HTTP/1.1``, RFC 9112
section 3.2.2), the origin's ``Host`` header, and ``Proxy-Authorization: Basic`` from
the proxy URL's ``user:password@``. The pool keys such connections by the proxy's
origin, so one kept-alive connection to the proxy serves every http origin behind it.

An https request through a proxy goes through a tunnel (RFC 9110 section 9.3.6):
the client connects to the proxy, sends ``CONNECT host:port`` (with
``Proxy-Authorization`` when the proxy URL has credentials), and on a 2xx answer
starts TLS to the origin inside that connection (``ClientCore.start_tls``), which is
verified as a direct one. The proxy sees only the host and port. The pool keys a
tunnel by the origin, its TLS settings and the proxy, so it is reused for the next
request to that origin and never mixed with a direct connection. Any other answer
is a ``ProxyError`` naming the status. Proxies spoken to over TLS
(``https://proxy``) and SOCKS are refused with ``ProxyError``.

NO_PROXY entries, separated by commas or spaces, case-insensitive (curl's rules):

- ``*``: no proxy at all;
- ``example.com``, ``.example.com`` or ``*.example.com``: that host and every host
  under it (``api.example.com``), not ``badexample.com``;
- ``10.1.2.3``, ``::1`` or ``[::1]``: that address; ``10.0.0.0/8``: that network;
- any of those with ``:port``: only on that port.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pyre.client._auth import BasicAuth
from pyre.client._errors import ProxyError
from pyre.client._pool import Origin

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Proxy:
    """A parsed proxy URL: where to connect and the credentials to send it."""

    url: str  # without credentials, for messages
    origin: Origin
    authorization: bytes | None = None

    def __repr__(self) -> str:
        return f"Proxy({self.url!r})"


def parse_proxy(url: str) -> Proxy:
    """``http://[user:password@]host[:port]`` (``host:port`` alone means http)."""
    if "://" not in url:
        url = f"http://{url}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ProxyError(f"invalid proxy URL {_redact(url)!r}: {e}") from None
    scheme = parts.scheme.lower()
    if scheme == "https":
        raise ProxyError(
            f"proxy {_redact(url)!r}: a proxy spoken to over TLS (https://) is not supported"
        )
    if scheme != "http":
        raise ProxyError(f"proxy {_redact(url)!r}: only http:// proxies are supported")
    host = parts.hostname
    if not host:
        raise ProxyError(f"invalid proxy URL {_redact(url)!r}: no host")
    if parts.path not in ("", "/") or parts.query:
        raise ProxyError(f"invalid proxy URL {_redact(url)!r}: a proxy URL has no path")
    authorization = None
    if parts.username is not None:
        credentials = BasicAuth(unquote(parts.username), unquote(parts.password or ""))
        authorization = credentials.authorization().encode("ascii")
    port = port or 80
    shown = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return Proxy(shown, ("http", host, port, None), authorization)


def _redact(url: str) -> str:
    """``url`` with its password hidden (error messages end up in logs)."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, sep, userinfo = head.partition("://")
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{tail}" if sep else f"{user}:***@{tail}"


class _NoProxyEntry:
    __slots__ = ("domain", "network", "port")

    def __init__(self, text: str) -> None:
        self.port: int | None = None
        self.network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
        self.domain = ""
        host = text
        if host.startswith("["):  # [v6] or [v6]:port
            inside, _, after = host[1:].partition("]")
            host = inside
            if after.startswith(":") and after[1:].isdigit():
                self.port = int(after[1:])
        elif host.count(":") == 1:
            name, _, port = host.partition(":")
            if port.isdigit():
                host, self.port = name, int(port)
        try:
            self.network = ipaddress.ip_network(host, strict=False)
            return
        except ValueError:
            pass
        self.domain = host.lstrip("*").lstrip(".").rstrip(".").lower()

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            try:
                return ipaddress.ip_address(host) in self.network
            except ValueError:
                return False
        if not self.domain:
            return False
        host = host.rstrip(".").lower()
        return host == self.domain or host.endswith("." + self.domain)


class NoProxy:
    """A NO_PROXY value: which hosts are reached directly."""

    def __init__(self, value: str) -> None:
        items = [item.strip() for item in value.replace(" ", ",").split(",")]
        items = [item for item in items if item]
        self.everything = "*" in items
        self.entries = [_NoProxyEntry(item) for item in items if item != "*"]

    def matches(self, host: str, port: int) -> bool:
        return self.everything or any(entry.matches(host, port) for entry in self.entries)


class ProxyRules:
    """The proxy (or None) for each request of one client."""

    def __init__(self, proxy: str | None, trust_env: bool) -> None:
        self.by_scheme: dict[str, Proxy] = {}
        self.no_proxy = NoProxy("")
        if proxy is not None:
            parsed = parse_proxy(proxy)
            self.by_scheme = {"http": parsed, "https": parsed}
        elif trust_env:
            found = urllib.request.getproxies_environment()
            for scheme in ("http", "https"):
                url = found.get(scheme) or found.get("all")
                if url:
                    self.by_scheme[scheme] = parse_proxy(url)
            self.no_proxy = NoProxy(found.get("no", ""))

    def __bool__(self) -> bool:
        return bool(self.by_scheme)

    def proxy_for(self, scheme: str, host: str, port: int | None) -> Proxy | None:
        """The proxy for a URL, or None to connect directly."""
        proxy = self.by_scheme.get(scheme)
        if proxy is None:
            return None
        if self.no_proxy.matches(host, port or DEFAULT_PORTS.get(scheme, 80)):
            return None
        return proxy
