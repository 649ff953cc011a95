"""Fetch URLs with pyre.client: the status and headers of each, the body streamed to a
file (or counted), several URLs at once over the pool's keep-alive connections.

    .venv/bin/python examples/client_fetch.py http://127.0.0.1:8000/ [URL ...]
    .venv/bin/python examples/client_fetch.py --save out.bin http://127.0.0.1:8000/big

https URLs are verified against the Mozilla roots built in; ``--cafile`` trusts a CA
(or self-signed certificate) of your own instead, as with examples/https_server.py:

    .venv/bin/python examples/client_fetch.py --cafile cert.pem https://localhost:8443/
"""

from __future__ import annotations

import argparse
import asyncio

from pyre.client import Client, Timeout, TransportError


async def fetch(client: Client, url: str, save: str | None) -> None:
    try:
        async with client.stream("GET", url) as response:
            print(f"{url}: {response.status} {response.reason_phrase}")
            for name, value in response.headers.multi_items():
                print(f"  {name}: {value}")
            size = 0
            if save:
                with open(save, "wb") as out:
                    async for chunk in response.iter_bytes():
                        out.write(chunk)
                        size += len(chunk)
            else:
                async for chunk in response.iter_bytes():
                    size += len(chunk)
            print(f"  ({size} body bytes{', saved to ' + save if save else ''})")
    except TransportError as e:
        print(f"{url}: {type(e).__name__}: {e}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--save", help="write the (last) body to this file")
    parser.add_argument("--cafile", help="verify https servers against this CA (PEM)")
    args = parser.parse_args()
    timeout = Timeout(connect=5, read=30, write=30, pool=60)
    verify = args.cafile or True
    async with Client(timeout=timeout, follow_redirects=True, verify=verify) as client:
        await asyncio.gather(*(fetch(client, url, args.save) for url in args.urls))


if __name__ == "__main__":
    asyncio.run(main())
