"""--workers N: worker processes under a supervisor sharing one listener; a worker
killed with SIGKILL is replaced while service continues; SIGTERM stops them all and
exits 0."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx

from tests.support import serve_command

SUPERVISOR_READY = re.compile(r"Pyre supervisor \[\d+\] on http://127\.0\.0\.1:(\d+)")


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def wait_for(condition, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def supervisor(tmp_path: Path, workers: int = 2):  # type: ignore[no-untyped-def]
    command = [
        sys.executable,
        "-m",
        "pyre",
        "tests.apps.pid_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--workers",
        str(workers),
    ]
    return serve_command(command, SUPERVISOR_READY, tmp=tmp_path)


def test_workers_serve_and_stop_on_sigterm(tmp_path: Path) -> None:
    with supervisor(tmp_path) as server:
        pid = server.process.pid
        workers = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        seen = {int(httpx.get(server.url, timeout=5).text) for _ in range(20)}
        assert seen and seen <= workers
        assert server.stop(signal.SIGTERM) == 0
    for worker in workers:
        assert (
            not Path(f"/proc/{worker}").exists()
            or "Z" in Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
        )


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    with supervisor(tmp_path) as server:
        pid = server.process.pid
        first = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        replaced = wait_for(lambda: (c := children(pid)) and len(c) == 2 and victim not in c and c)
        assert replaced != first
        # Service continues through the change, on the shared listener.
        for _ in range(20):
            assert int(httpx.get(server.url, timeout=5).text) in replaced
        server.wait_for_log("exited with -9")
