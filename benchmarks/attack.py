"""Slow-client attacks on Pyre with slowhttptest (`make attack`): slowloris (-H),
slow body (-B, POST /echo) and slow read (-X, a small receive window), each with
1,000 connections for a bounded time. Slowloris and slow body go to one Pyre process
serving examples/hello.py. Slow read goes to a second one serving
benchmarks/apps/stream_asgi.py's /generate (1 MiB per request): hello.py's answers
(at most 10 pipelined by slowhttptest, under 2 KiB) would fit in the socket buffers
and never make the server wait on a slow reader.

While each attack runs, a normal client in another process opens a fresh connection
for every request (GET / and a small POST in turn, 5 s timeout) and counts successes,
failures and latency. Every second the server's established connections, open
descriptors and RSS are sampled from /proc. Printed per attack: the normal client's
success rate, p50 and p99; slowhttptest's own verdict (connected/closed/pending over
time and whether its probe found the service available); the server's peak and final
connections; and the 408s Pyre sent for heads that came too slowly (its metrics).

Usage: python benchmarks/attack.py [--duration 60] [--connections 1000]
       [--attacks slowloris,slowbody,slowread]. Exit status 1 when the normal client
saw a failure or the server died.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pyreproc import Server, raise_fd_limit, wait_until

APP = "examples.hello:app"
STREAM_APP = "benchmarks.apps.stream_asgi:app"
SLOW_READ_TARGET = "/generate?total=1048576"
NORMAL_TIMEOUT = 5.0
NORMAL_PAUSE = 0.02  # between the normal client's requests: it probes, it does not load


def attack_args(name: str, url: str, connections: int, duration: int) -> list[str]:
    """slowhttptest's arguments for one attack (1,000 connections opened at 200 a
    second, its probe giving up after 5 s)."""
    common = ["-c", str(connections), "-r", "200", "-l", str(duration), "-p", "5"]
    if name == "slowloris":  # a header line every 5 s, never the end of the head
        return ["-H", "-i", "5", "-u", url + "/", *common]
    if name == "slowbody":  # Content-Length 8192, a few body bytes every 5 s
        return ["-B", "-i", "5", "-s", "8192", "-t", "POST", "-u", url + "/echo", *common]
    if name == "slowread":  # 1 MiB answers, 16 bytes read a second, window 16-64
        args = ["-X", "-n", "1", "-z", "16", "-w", "16", "-y", "64"]
        return [*args, "-u", url + SLOW_READ_TARGET, *common]
    raise ValueError(name)


# --- The normal client --------------------------------------------------------------


def normal_client(port: int, post: str, stop: multiprocessing.synchronize.Event, results) -> None:
    ok, failed, latencies, errors = 0, 0, [], {}
    requests = [
        b"GET / HTTP/1.1\r\nHost: normal\r\nConnection: close\r\n\r\n",
        f"POST {post} HTTP/1.1\r\nHost: normal\r\nConnection: close\r\n".encode()
        + b'Content-Length: 15\r\n\r\n{"n": "normal"}',
    ]
    i = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=NORMAL_TIMEOUT) as sock:
                sock.settimeout(NORMAL_TIMEOUT)
                sock.sendall(requests[i % 2])
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            if reply.startswith(b"HTTP/1.1 200 "):
                ok += 1
                latencies.append(time.monotonic() - started)
            else:
                failed += 1
                errors[reply[:30].decode("latin-1")] = (
                    errors.get(reply[:30].decode("latin-1"), 0) + 1
                )
        except OSError as exc:
            failed += 1
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        i += 1
        time.sleep(NORMAL_PAUSE)
    results.put((ok, failed, latencies, errors))


@dataclass
class Outcome:
    name: str
    ok: int = 0
    failed: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: dict = field(default_factory=dict)
    peak_connections: int = 0
    peak_fds: int = 0
    peak_rss_kib: int = 0
    rss_before_kib: int = 0
    settled_connections: int = 0
    server_connections: list = field(default_factory=list)
    """The server's open connections, sampled every second of the attack (its own
    count: slowhttptest's slow-read mode does not notice connections reset under it)."""
    slowhttptest: str = ""
    timeline: str = ""
    timeouts_408: int = 0
    alive: bool = True


def rejected_408(server: Server) -> int:
    if not server.metrics_url:
        return 0
    with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("pyre_rejected_requests_total") and 'status="408"' in line
    )


def summarize_csv(path: Path) -> tuple[str, str]:
    """slowhttptest's per-second statistics: a verdict line, and a timeline sampled
    every 10 seconds (connected/closed/pending, service available)."""
    if not path.exists():
        return "no statistics written", ""
    rows = list(csv.reader(path.open()))
    header, rows = rows[0], [r for r in rows[1:] if r]
    index = {name.strip().lower(): i for i, name in enumerate(header)}

    def col(row: list[str], name: str) -> str:
        return row[index[name]].strip() if name in index else "?"

    available = [col(r, "service available") for r in rows]
    up = sum(1 for a in available if a != "0")  # 0, or the connection count when up
    peak = max((int(col(r, "connected")) for r in rows if col(r, "connected").isdigit()), default=0)
    verdict = (
        f"{len(rows)} s sampled; service available in {up}/{len(rows)} s; peak connected "
        f"{peak}; closed at the end {col(rows[-1], 'closed')}"
    )
    timeline = "\n".join(
        f"    t={col(r, 'seconds'):>4}s connected={col(r, 'connected'):>5} "
        f"closed={col(r, 'closed'):>6} pending={col(r, 'pending'):>5} "
        f"available={'no' if col(r, 'service available') == '0' else 'yes'}"
        for r in rows[::10]
    )
    return verdict, timeline


def run_attack(server: Server, name: str, connections: int, duration: int, out: Path) -> Outcome:
    outcome = Outcome(name)
    before_408 = rejected_408(server)
    outcome.rss_before_kib = server.rss_kib()
    stop = multiprocessing.Event()
    results: multiprocessing.Queue = multiprocessing.Queue()
    post = "/upload" if name == "slowread" else "/echo"
    client = multiprocessing.Process(target=normal_client, args=(server.port, post, stop, results))
    client.start()
    url = f"http://127.0.0.1:{server.port}"
    prefix = out / name
    command = [
        "slowhttptest",
        *attack_args(name, url, connections, duration),
        "-g",
        "-o",
        str(prefix),
    ]
    print(f"  $ {' '.join(command)}", flush=True)
    attack = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while attack.poll() is None:
        outcome.server_connections.append(server.connections())
        outcome.peak_connections = max(outcome.peak_connections, server.connections())
        outcome.peak_fds = max(outcome.peak_fds, server.fds())
        outcome.peak_rss_kib = max(outcome.peak_rss_kib, server.rss_kib())
        time.sleep(1)
    output = attack.stdout.read() if attack.stdout else ""
    stop.set()
    ok, failed, latencies, errors = results.get(timeout=30)
    client.join(10)
    outcome.ok, outcome.failed, outcome.errors = ok, failed, errors
    if latencies:
        quantiles = statistics.quantiles(latencies, n=100)
        outcome.p50_ms, outcome.p99_ms = quantiles[49] * 1000, quantiles[98] * 1000
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)  # its colours
    exit_lines = [line.strip() for line in output.splitlines() if "Exit status" in line]
    verdict, outcome.timeline = summarize_csv(prefix.with_suffix(".csv"))
    outcome.slowhttptest = "; ".join([*exit_lines[-1:], verdict])
    wait_until(lambda: server.connections() == 0, 15)
    outcome.settled_connections = server.connections()
    outcome.timeouts_408 = rejected_408(server) - before_408
    outcome.alive = server.alive()
    return outcome


def report(outcome: Outcome) -> None:
    total = outcome.ok + outcome.failed
    rate = 100.0 * outcome.ok / total if total else 0.0
    print(f"\n== {outcome.name}")
    print(
        f"  normal client: {outcome.ok}/{total} ok ({rate:.2f}%), "
        f"p50 {outcome.p50_ms:.1f} ms, p99 {outcome.p99_ms:.1f} ms"
        + (f", failures: {outcome.errors}" if outcome.errors else "")
    )
    print(f"  slowhttptest: {outcome.slowhttptest}")
    if outcome.timeline:
        print(outcome.timeline)
    every_10s = " ".join(str(n) for n in outcome.server_connections[::10])
    print(f"  server's open connections every 10 s: {every_10s}")
    print(
        f"  server: peak {outcome.peak_connections} connections, {outcome.peak_fds} fds, "
        f"{outcome.peak_rss_kib / 1024:.1f} MiB RSS (before: "
        f"{outcome.rss_before_kib / 1024:.1f} MiB); {outcome.timeouts_408} heads timed out "
        f"(408); connections 15 s after the attack: {outcome.settled_connections}; "
        f"alive: {outcome.alive}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds per attack")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--attacks", default="slowloris,slowbody,slowread")
    args = parser.parse_args()
    if not shutil.which("slowhttptest"):
        raise SystemExit("slowhttptest not found (scripts/attack.sh installs it)")
    limit = raise_fd_limit()
    print(f"fd limit {limit}; {args.connections} connections per attack, {args.duration} s each")
    server = Server(APP, "--metrics-port", "0")
    print(f"pyre {APP} on port {server.port} (pid {server.pid}), defaults otherwise")
    streamer = Server(STREAM_APP, "--metrics-port", "0")
    print(f"pyre {STREAM_APP} on port {streamer.port} (pid {streamer.pid}), for slow read")
    outcomes = []
    try:
        with tempfile.TemporaryDirectory(prefix="pyre-attack-") as out:
            for name in args.attacks.split(","):
                print(
                    f"\n-- {name}: {args.connections} connections for {args.duration} s", flush=True
                )
                outcomes.append(
                    run_attack(
                        streamer if name == "slowread" else server,
                        name,
                        args.connections,
                        args.duration,
                        Path(out),
                    )
                )
                report(outcomes[-1])
    finally:
        status = server.stop()
        streamer.stop()
    print(f"\npyre exit status {status}")
    bad = [o.name for o in outcomes if o.failed or not o.alive]
    if bad:
        print(f"FAIL: normal clients failed or the server died during: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
