"""Following redirects: the next request a 3xx response asks for (RFC 9110 15.4).

The rules, as a table of status -> what happens to the method and the body:

====================  ===============================================
301, 302              POST becomes GET without a body (what browsers do, and
                      what RFC 9110 allows); other methods are kept
303                   every method but HEAD becomes GET without a body
307, 308              method and body are kept; a body that can be sent only
                      once (an iterator) raises ``RequestNotRepeatable``
====================  ===============================================

- ``Location`` is resolved against the URL that answered (a relative reference,
  ``//host/path``, ``?query``); characters not allowed in a URL (spaces, non-ASCII)
  are percent-encoded, as browsers do. A ``Location`` that is empty, not a URL
  (``http://[bad``), or of another scheme (``ftp:``, ``javascript:``) raises
  ``RemoteProtocolError``: a server that sends it is broken.
- ``Authorization`` and a ``Cookie`` header set by the caller are dropped when the
  redirect leaves the origin (scheme, host or port differs), except the upgrade from
  ``http://host`` to ``https://host`` on the default ports (as httpx allows).
  Cookies from the client's jar are chosen again for each URL by the jar's rules.
- ``max_redirects`` bounds the chain (a redirect loop ends there) with
  ``TooManyRedirects``; ``response.history`` lists the redirect responses in order.
"""

from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

from pyre.client._content import EMPTY, Body
from pyre.client._errors import RemoteProtocolError, RequestNotRepeatable

RawHeaders = list[tuple[bytes, bytes]]

# Content headers dropped when a redirect turns the request into a GET.
CONTENT_HEADERS = frozenset((b"content-length", b"content-type", b"transfer-encoding"))
# Headers that carry credentials, not sent to another origin.
CREDENTIAL_HEADERS = frozenset((b"authorization", b"cookie"))
DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters kept as they are when percent-encoding a Location (every reserved and
# unreserved character of RFC 3986, and "%" so that encoded bytes stay encoded).
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def redirect_url(url: str, location: str) -> str:
    """``location`` resolved against ``url``; raises ``RemoteProtocolError`` when it
    is not an http(s) URL."""
    location = location.strip()
    if not location:
        raise RemoteProtocolError("invalid redirect: an empty Location header")
    location = quote(location, safe=URL_SAFE)
    try:
        new_url = urljoin(url, location)
        parts = urlsplit(new_url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as e:
        raise RemoteProtocolError(f"invalid redirect Location {location!r}: {e}") from None
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise RemoteProtocolError(
            f"invalid redirect Location {location!r}: not an http or https URL"
        )
    if not parts.hostname:
        raise RemoteProtocolError(f"invalid redirect Location {location!r}: no host")
    return new_url


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


def same_origin_for_credentials(old_url: str, new_url: str) -> bool:
    """May credentials follow a redirect from ``old_url`` to ``new_url``?"""
    old, new = _origin(old_url), _origin(new_url)
    if old == new:
        return True
    # http://host -> https://host on the default ports: an upgrade, not a new site.
    return old == ("http", new[1], 80) and new == ("https", old[1], 443)


def next_request(
    method: str, url: str, headers: RawHeaders, body: Body, status: int, location: str
) -> tuple[str, str, RawHeaders, Body]:
    """``(method, url, headers, body)`` of the request a redirect asks for."""
    new_url = redirect_url(url, location)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", EMPTY
        headers = [h for h in headers if h[0].lower() not in CONTENT_HEADERS]
    elif body is not EMPTY and not body.replayable:
        raise RequestNotRepeatable(
            f"cannot follow the {status} redirect to {new_url}: it asks to send the "
            "request body again, and an iterator body can be sent only once (give "
            "bytes or a path, or follow the redirect yourself)"
        )
    if not same_origin_for_credentials(url, new_url):
        headers = [h for h in headers if h[0].lower() not in CREDENTIAL_HEADERS]
    return method, new_url, headers, body
