"""TLS settings of a client: ``verify`` and ``cert`` as httpx takes them, made into
one rustls configuration (``pyre._core.ClientTlsConfig``) that every ``https``
connection of the client shares. The handshake itself runs in Rust, in the
client's poll (crates/pyre-net/src/client/tls.rs).

- ``verify=True`` (the default): the server's certificate must chain to one of the
  Mozilla root certificates compiled into Pyre (webpki-roots; the system store is
  not read), and name the URL's host (a DNS name, or the IP address of an IP URL).
- ``verify="ca.pem"`` (a path): the certificates of that PEM bundle are the only
  roots trusted (a private CA; certifi's bundle: ``verify=certifi.where()``).
- ``verify=ssl_context``: the CA certificates loaded into the context
  (``load_verify_locations``) are the roots; a context with ``CERT_NONE`` means no
  verification; one with no CA loaded uses the compiled-in roots. Only these two
  things are taken from the context (rustls does the TLS, not OpenSSL).
- ``verify=False``: no verification at all. Dangerous: anyone between the client
  and the server can read and change the traffic. For tests and local servers only.
- ``cert="client.pem"`` (certificate and key in one file) or
  ``cert=("client.pem", "key.pem")``: a client certificate, for servers that ask
  for one (mutual TLS). Encrypted keys are not supported.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Hashable

from pyre._core import ClientTlsConfig

StrPath = str | os.PathLike[str]
VerifyTypes = bool | StrPath | ssl.SSLContext
CertTypes = StrPath | tuple[StrPath, StrPath]


def tls_config(verify: VerifyTypes, cert: CertTypes | None) -> tuple[Hashable, ClientTlsConfig]:
    """The settings' key (connections are pooled per key) and their configuration.
    Missing files raise ``FileNotFoundError``, invalid ones ``ValueError``."""
    cert_file = key_file = None
    if cert is not None:
        if isinstance(cert, tuple):
            if len(cert) != 2:
                raise ValueError("cert is a path or a (certificate, key) pair of paths")
            cert_file, key_file = os.fspath(cert[0]), os.fspath(cert[1])
        else:
            cert_file = key_file = os.fspath(cert)
    ca_file: str | None = None
    ca_certs: list[bytes] | None = None
    if isinstance(verify, ssl.SSLContext):
        context = verify
        verify = context.verify_mode != ssl.CERT_NONE
        ca_certs = list(context.get_ca_certs(binary_form=True)) or None  # type: ignore[arg-type]
    elif isinstance(verify, bool):
        pass
    else:
        ca_file = os.fspath(verify)
        verify = True
    key = (
        verify,
        ca_file,
        None if ca_certs is None else tuple(ca_certs),
        cert_file,
        key_file,
    )
    config = ClientTlsConfig(
        verify=verify,
        ca_file=ca_file,
        ca_certs=ca_certs,
        cert_file=cert_file,
        key_file=key_file,
    )
    return key, config
