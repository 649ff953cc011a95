"""Serve HTTPS with Pyre's own TLS (docs/tls.md).

Make a certificate for local use, then serve:

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \\
        -keyout key.pem -out cert.pem -subj /CN=localhost \\
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1
    python examples/https_server.py
    curl --cacert cert.pem https://localhost:8443/

The same from the command line:
    pyre-http examples.https_server:app --port 8443 --ssl-certfile cert.pem --ssl-keyfile key.pem
"""

from __future__ import annotations

import json
from typing import Any

import pyre


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    tls = scope["extensions"].get("tls") or {}
    body = json.dumps(
        {
            "scheme": scope["scheme"],  # "https"
            "tls_version": hex(tls.get("tls_version", 0)),
            "cipher_suite": tls.get("cipher_suite_name"),
            "client_certificates": len(tls.get("client_cert_chain", [])),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    pyre.run(app, port=8443, ssl_certfile="cert.pem", ssl_keyfile="key.pem")
