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

from pyre.client._client import Client
from pyre.client._config import Limits, Timeout
from pyre.client._errors import (
    CertificateError,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HTTPStatusError,
    LocalProtocolError,
    NetworkError,
    PoolTimeout,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    TimeoutException,
    TLSError,
    TooManyRedirects,
    TransportError,
    WriteError,
    WriteTimeout,
)
from pyre.client._headers import Headers
from pyre.client._response import Response

__all__ = [
    "CertificateError",
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "HTTPStatusError",
    "Headers",
    "Limits",
    "LocalProtocolError",
    "NetworkError",
    "PoolTimeout",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Response",
    "TLSError",
    "Timeout",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "WriteError",
    "WriteTimeout",
]
