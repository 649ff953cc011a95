"""``TestClient``: test an application through a real Pyre server.

    from pyre.testing import TestClient

    def test_hello():
        with TestClient(app) as client:          # an httpx.Client
            assert client.get("/hello/World").text == "Hello, World!"

    async def test_hello_async():
        async with TestClient(app) as client:    # an httpx.AsyncClient
            assert (await client.get("/hello/World")).status_code == 200

How it works: entering starts Pyre in a background thread, with its own event loop,
on 127.0.0.1 and a free port, and returns an httpx client for it; leaving stops the
server gracefully and waits for it. So the app is exercised exactly as in production:
the same interface choice (PSGI for pyre.framework apps), startup and shutdown hooks
(or ASGI lifespan), framing, streaming and backpressure, and cookies kept by the
client between requests. Keyword arguments are server options
(:class:`pyre.config.Config` fields), e.g. ``TestClient(app, limit_request_body=1024)``.
Requires httpx (``pip install httpx``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pyre.config import Config

START_TIMEOUT = 30.0


class TestClient:
    __test__ = False  # not a pytest test class

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app
        self.options = {"access_log": False, **options}
        self.url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._status: int | None = None
        self._error: BaseException | None = None
        self._client: Any = None

    # -- the server thread ------------------------------------------------------------

    def _start(self) -> str:
        from pyre.serve import serve

        config = Config(app=self.app, host="127.0.0.1", port=0, **self.options)
        ready = threading.Event()

        def started(addresses: list[Any]) -> None:
            host, port = addresses[0]
            self.url = f"http://{host}:{port}"
            ready.set()

        def run() -> None:
            loop = config.event_loop_factory()()
            self._loop = loop
            try:
                self._stop = asyncio.Event()
                self._status = loop.run_until_complete(
                    serve(config, started=started, stop=self._stop)
                )
            except BaseException as exc:
                self._error = exc
            finally:
                loop.close()
                ready.set()

        self._thread = threading.Thread(target=run, name="pyre-testclient", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or self.url is None:
            self._join()
            raise RuntimeError(f"the server did not start (status {self._status})") from self._error
        return self.url

    def _shutdown(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop already finished
                pass
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(START_TIMEOUT)
        if self._error is not None:
            raise RuntimeError("the server failed") from self._error

    # -- sync use ---------------------------------------------------------------------

    def __enter__(self) -> Any:
        import httpx

        url = self._start()
        self._client = httpx.Client(base_url=url, timeout=30)
        return self._client

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._client.close()
        finally:
            self._shutdown()

    # -- async use --------------------------------------------------------------------

    async def __aenter__(self) -> Any:
        import httpx

        url = await asyncio.to_thread(self._start)
        self._client = httpx.AsyncClient(base_url=url, timeout=30)
        return self._client

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._client.aclose()
        finally:
            await asyncio.to_thread(self._shutdown)
