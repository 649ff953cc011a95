"""URLs: the origin a request goes to, its Host header and its request-target.
Parsed once per distinct URL string (a small cache), since clients tend to repeat
the same URLs."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from pyre.client._errors import LocalProtocolError

Origin = tuple[str, str, int]
DEFAULT_PORTS = {"http": 80, "https": 443}
Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | str


@functools.lru_cache(maxsize=1024)
def split_url(url: str) -> tuple[Origin, bytes, bytes]:
    """``((scheme, host, port), host header, request-target)`` of an absolute URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise LocalProtocolError(f"invalid URL {url!r}: {e}") from None
    scheme = parts.scheme.lower()
    default_port = DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise LocalProtocolError(
            f"unsupported URL {url!r}: only http:// and https:// URLs are supported"
        )
    host = parts.hostname
    if not host:
        raise LocalProtocolError(f"invalid URL {url!r}: no host")
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != default_port:
        authority = f"{authority}:{port}"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    try:
        return (
            (scheme, host, port or default_port),
            authority.encode("idna"),
            target.encode("ascii"),
        )
    except UnicodeError:
        raise LocalProtocolError(
            f"invalid URL {url!r}: non-ASCII characters must be quoted"
        ) from None


def merge_url(base_url: str, url: str, params: Params | None) -> str:
    """``url`` resolved against ``base_url``, with ``params`` added to its query."""
    if base_url:
        url = urljoin(base_url, url)
    if params:
        query = params if isinstance(params, str) else urlencode(params, doseq=True)
        url = url.partition("#")[0]
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    return url


@functools.lru_cache(maxsize=256)
def ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
