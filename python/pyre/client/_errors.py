"""The client's exceptions. Every failure of a request is a ``TransportError``; its
subclasses say which step failed, so callers can retry what is safe to retry:

- ``TimeoutException``: ``ConnectTimeout``, ``ReadTimeout``, ``WriteTimeout``,
  ``PoolTimeout`` (also ``TimeoutError``);
- ``NetworkError``: ``ConnectError``, ``ReadError``, ``WriteError`` (the socket failed),
  ``TLSError`` (the TLS layer failed) and its ``CertificateError`` (the server's
  certificate was refused);
- ``RemoteProtocolError``: the server broke HTTP/1.1 (the message says how);
- ``LocalProtocolError``: the request itself is invalid (also ``ValueError``);
- ``TooManyRedirects``, ``RequestNotRepeatable`` (a 307/308 redirect of a body that
  can be sent only once), ``DecodingError``;
- ``ProxyError``: a proxy URL that cannot be used, or a proxy that refused to open a
  CONNECT tunnel (the message names its answer);
- and ``HTTPStatusError`` from ``Response.raise_for_status()`` (not a transport
  error: the exchange itself succeeded).
"""

from __future__ import annotations

from typing import Any


class TransportError(Exception):
    """A request could not be completed."""


class TimeoutException(TransportError, TimeoutError):
    """A step of the request took longer than its timeout."""


class ConnectTimeout(TimeoutException):
    """The connection was not established within the connect timeout."""


class ReadTimeout(TimeoutException):
    """The server sent nothing for longer than the read timeout."""


class WriteTimeout(TimeoutException):
    """The server took no request bytes for longer than the write timeout."""


class PoolTimeout(TimeoutException):
    """No connection became free within the pool timeout."""


class NetworkError(TransportError):
    """The socket failed."""


class ConnectError(NetworkError):
    """The connection could not be established (refused, unreachable, no address)."""


class ReadError(NetworkError):
    """The connection failed while the response was read."""


class WriteError(NetworkError):
    """The connection failed while the request was sent."""


class TLSError(NetworkError):
    """The TLS layer of an ``https`` connection failed: the server closed or reset the
    connection during the handshake, answered with something that is not TLS, sent
    an alert (``HandshakeFailure``, ``CertificateRequired``, ...), or cut a record
    short. The message names what happened."""


class CertificateError(TLSError):
    """The server's certificate failed verification; the message names the reason:
    expired, not valid yet, unknown issuer (self-signed, or a CA not in the trust
    store), not valid for the host name or IP address, bad signature, ..."""


class RemoteProtocolError(TransportError):
    """The server broke HTTP/1.1: garbage, bad framing, an oversized head, a body cut
    short. The message names what it did wrong."""


class LocalProtocolError(TransportError, ValueError):
    """The request is invalid (a header with CR/LF, a body longer than declared)."""


class TooManyRedirects(TransportError):
    """More redirects than ``max_redirects`` (a loop ends here too)."""


class RequestNotRepeatable(TransportError):
    """A 307/308 redirect asks to send the body again, and the body was an iterator
    that can be sent only once."""


class ProxyError(TransportError):
    """A proxy URL that cannot be used (not http://, no host, a bad port), or a proxy
    that answered ``CONNECT`` with something other than 2xx."""


class DecodingError(TransportError):
    """The body's Content-Encoding could not be decoded."""


class HTTPStatusError(Exception):
    """Raised by ``Response.raise_for_status()`` for 4xx and 5xx responses; ``request``
    and ``response`` say which."""

    def __init__(self, message: str, *, request: Any = None, response: Any) -> None:
        super().__init__(message)
        self.request = request
        self.response = response


# The classes the Rust runtime raises, in the order ClientCore takes them.
CORE_ERRORS = (
    ConnectError,
    RemoteProtocolError,
    ReadError,
    WriteError,
    LocalProtocolError,
    TLSError,
    CertificateError,
)
