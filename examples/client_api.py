"""pyre.client calling a JSON API: the pyre.framework example application
(examples/framework_app/), served by ``make serve-framework``.

    make serve-framework &
    .venv/bin/python examples/client_api.py http://127.0.0.1:8000

It sends JSON and reads JSON, logs in and stays logged in through the session
cookie the client's jar keeps, turns error statuses into exceptions with
``raise_for_status()``, and shows what a proxy setting would do. See
docs/client.md.
"""

from __future__ import annotations

import argparse
import asyncio

from pyre.client import Client, HTTPStatusError, Timeout, TransportError


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000")
    args = parser.parse_args()

    timeout = Timeout(connect=2, read=10, write=10, pool=5)
    # trust_env=False: this example talks to a local server, whatever HTTP_PROXY says.
    async with Client(base_url=args.base_url, timeout=timeout, trust_env=False) as client:
        hello = await client.get("/hello/World")
        print("GET /hello/World ->", hello.raise_for_status().status, hello.text)

        greeting = await client.post("/hello/Ann", json={"age": 42})
        print("POST /hello/Ann  ->", greeting.raise_for_status().json()["message"])

        # The session cookie set by the login is kept by the client and sent back.
        await client.post("/account/login/ann")
        print("cookies kept     ->", dict(client.cookies))
        me = await client.get("/account/me")
        print("GET /account/me  ->", me.json())
        await client.post("/account/logout")
        print("after logout     ->", (await client.get("/account/me")).json())

        try:
            (await client.get("/no/such/endpoint")).raise_for_status()
        except HTTPStatusError as e:
            print("an error status  ->", e, f"(request: {e.request.method} {e.request.url})")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except TransportError as e:
        raise SystemExit(f"{type(e).__name__}: {e}") from None
