"""``pyre.client``: an async HTTP/1.1 client on Pyre's Rust core.

::

    from pyre.client import Client

    async with Client() as client:
        response = await client.get("http://127.0.0.1:8000/")
        print(response.status, response.headers["content-type"], response.text)

        async with client.stream("GET", "http://127.0.0.1:8000/big") as response:
            async for chunk in response.iter_bytes():
                ...

See docs/client.md.
"""

from __future__ import annotations

from pyre.client._auth import Auth, BasicAuth, BearerAuth
from pyre.client._client import Client
from pyre.client._config import Limits, Timeout
from pyre.client._cookies import Cookies
from pyre.client._errors import (
    CertificateError,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HTTPStatusError,
    LocalProtocolError,
    NetworkError,
    PoolTimeout,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    RequestNotRepeatable,
    TimeoutException,
    TLSError,
    TooManyRedirects,
    TransportError,
    WriteError,
    WriteTimeout,
)
from pyre.client._headers import Headers
from pyre.client._request import Request
from pyre.client._response import Response

__all__ = [
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "CertificateError",
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "Cookies",
    "DecodingError",
    "HTTPStatusError",
    "Headers",
    "Limits",
    "LocalProtocolError",
    "NetworkError",
    "PoolTimeout",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Request",
    "RequestNotRepeatable",
    "Response",
    "TLSError",
    "Timeout",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "WriteError",
    "WriteTimeout",
]
