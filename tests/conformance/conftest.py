"""One Pyre process per conformance module and transport, serving
tests/apps/conformance.py: every case runs over plain TCP and over TLS (a
certificate made by trustme), so the transport layer changes no answer."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Iterator

import pytest
import trustme

from tests.conformance.wire import TLS_PORTS
from tests.support import ServerProcess, serve, serve_command
from tests.test_tls import TLS_READY


@pytest.fixture(scope="module", params=["tcp", "tls"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("conformance")
    if request.param == "tcp":
        with serve("tests.apps.conformance:app", tmp=tmp) as process:
            yield process
        return
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    command = [
        sys.executable,
        "-m",
        "pyre",
        "tests.apps.conformance:app",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
    ]
    with serve_command(command, TLS_READY, tmp=tmp) as process:
        TLS_PORTS[process.port] = context
        try:
            yield process
        finally:
            TLS_PORTS.pop(process.port, None)
