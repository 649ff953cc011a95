"""One Pyre server process for the attack and soak runs (benchmarks/attack.py,
benchmarks/soak.py): started from the project's Python on a free loopback port, its
ready line awaited, and its resources read from /proc while it serves (open file
descriptors, resident memory, CPU seconds, established connections on its port).

The file-descriptor soft limit is raised to the hard limit first, in this process, so
that the server (and slowhttptest) inherit it: Pyre itself does not raise it."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Pyre running on http://127\.0\.0\.1:(\d+)")
METRICS = re.compile(r"Pyre metrics on (http://\S+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Server:
    """``python -m pyre APP --port 0 ARGS...``; stop() sends SIGINT and waits."""

    def __init__(self, app: str, *args: str) -> None:
        command = [sys.executable, "-m", "pyre", app, "--host", "127.0.0.1", "--port", "0"]
        self.process = subprocess.Popen(
            [*command, "--no-access-log", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.port = 0
        self.metrics_url = ""
        ready = threading.Event()

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                if match := METRICS.search(line):
                    self.metrics_url = match.group(1)
                if match := READY.search(line):
                    self.port = int(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(30) or not self.port:
            self.process.kill()
            raise SystemExit("pyre did not start:\n" + "\n".join(self.lines))

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def connections(self) -> int:
        """Established TCP connections whose local port is the server's."""
        count = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == self.port and fields[3] == "01":
                count += 1
        return count

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
