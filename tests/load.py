"""A small, bounded load generator for restart tests: threads, each with one
keep-alive connection (``http.client``, which reconnects after ``Connection: close``
but never retries a request), counting every outcome.

A request *fails* when it was sent and no complete 200 response came back (a reset,
an early close, a short body). A *refused* request never reached a server: the
connection was refused, which a client knows is safe to retry. Restart tests assert
that nothing fails.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Load:
    port: int
    path: str = "/"
    threads: int = 6
    #: Bounds: requests per thread, and seconds in all.
    max_requests: int = 5000
    max_seconds: float = 30.0
    #: Stop a thread at its first refused connection (the server is gone).
    stop_when_refused: bool = False
    outcomes: Counter[str] = field(default_factory=Counter)
    pids: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for _ in range(self.threads):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(self.max_seconds + 10)

    def count(self, outcome: str) -> int:
        with self._lock:
            return self.outcomes[outcome]

    def wait_for(self, outcome: str, at_least: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count(outcome) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {at_least} {outcome!r}: {self.summary()}")
            time.sleep(0.02)

    def summary(self) -> str:
        with self._lock:
            return f"{dict(self.outcomes)} pids={dict(self.pids)} errors={self.errors[:5]}"

    def _record(self, outcome: str, pid: int | None = None, error: str = "") -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if pid is not None:
                self.pids[pid] += 1
            if error:
                self.errors.append(error)

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() > self._deadline:
                    return
                try:
                    if connection.sock is None:
                        connection.connect()
                except ConnectionRefusedError:
                    self._record("refused")
                    if self.stop_when_refused:
                        return
                    time.sleep(0.01)
                    continue
                try:
                    connection.request("GET", self.path)
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self._record("failed", error=repr(exc))
                    connection.close()
                    continue
                if response.status == 200 and body.isdigit():
                    self._record("ok", int(body))
                else:
                    self._record("failed", error=f"{response.status} {body[:80]!r}")
                if response.will_close:
                    connection.close()
        finally:
            connection.close()
