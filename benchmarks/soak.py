"""Soak (`make soak`): one Pyre process serving benchmarks/apps/soak_app.py takes mixed
traffic for a bounded time (5 minutes by default), with clients aborting at random
points; afterwards its open descriptors and connections must be back to baseline and
its RSS within 5% of it.

How it runs: several client processes each run an asyncio loop of concurrent tasks;
each task repeatedly picks one of: small requests on a keep-alive connection, a small
request with ``Connection: close``, a pipelined batch, a streamed download (read whole,
or abandoned part-way), a streamed upload with Content-Length or chunked (sent whole,
or abandoned part-way), and a slow request. An abandoned connection is closed with a
reset (SO_LINGER 0) or a plain close, at random. Responses are checked (status and
body size); a failure that is not one of our own aborts counts as an error.

The baseline is taken after a warm-up phase of the same traffic and a settle, so lazy
allocations (buffer pools, interned strings, the allocator's arenas) are counted in
it; the final figures are taken after the clients stop and the connections settle.
Printed: requests done, aborts, errors, and fds, connections and RSS before and after
(with growth %). Exit status 1 when a bar fails or a client saw an error.

Usage: python benchmarks/soak.py [--duration 300] [--warmup 30] [--clients 3]
       [--tasks 12]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import socket
import struct
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pyreproc import Server, raise_fd_limit, wait_until

APP = "benchmarks.apps.soak_app:app"
RSS_GROWTH_LIMIT = 5.0  # percent
IO_TIMEOUT = 30.0  # a single read or write that takes longer is an error


class Aborted(Exception):
    """The client gave up on purpose."""


# --- Reading responses --------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader, limit: int | None = None) -> tuple[int, int]:
    """One response: its status and body size. With ``limit``, stops reading (raises
    Aborted) once that many body bytes arrived."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    size = 0
    if "content-length" in fields:
        remaining = int(fields["content-length"])
        while remaining:
            chunk = await asyncio.wait_for(reader.read(min(remaining, 65536)), IO_TIMEOUT)
            if not chunk:
                raise ConnectionError("closed mid-body")
            remaining -= len(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                raise Aborted
    elif fields.get("transfer-encoding") == "chunked":
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), IO_TIMEOUT)
            length = int(line.split(b";")[0], 16)
            if length == 0:
                await asyncio.wait_for(reader.readuntil(b"\r\n"), IO_TIMEOUT)
                break
            await asyncio.wait_for(reader.readexactly(length + 2), IO_TIMEOUT)
            size += length
            if limit is not None and size >= limit:
                raise Aborted
    return status, size


def request(path: str, *, close: bool = False, extra: str = "") -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: soak\r\n{connection}{extra}\r\n".encode()


def reset(writer: asyncio.StreamWriter) -> None:
    """Closes with a reset (RST) instead of a FIN, half the time."""
    sock = writer.get_extra_info("socket")
    if sock is not None and random.random() < 0.5:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


# --- The mix ------------------------------------------------------------------------


async def keep_alive(reader, writer, stats: Counter) -> None:
    for _ in range(random.randint(1, 20)):
        writer.write(request("/small"))
        status, size = await read_response(reader)
        assert status == 200 and size == 2, (status, size)
        stats["requests"] += 1


async def one_and_close(reader, writer, stats: Counter) -> None:
    writer.write(request("/small", close=True))
    status, _ = await read_response(reader)
    assert status == 200 and await reader.read() == b""
    stats["requests"] += 1


async def pipelined(reader, writer, stats: Counter) -> None:
    count = random.randint(2, 16)
    writer.write(b"".join(request(f"/small?i={i}") for i in range(count)))
    for _ in range(count):
        status, _ = await read_response(reader)
        assert status == 200
        stats["requests"] += 1


async def download(reader, writer, stats: Counter) -> None:
    total = random.randint(1, 4 << 20)
    abort_at = random.randint(0, total) if random.random() < 0.3 else None
    writer.write(request(f"/download?total={total}"))
    status, size = await read_response(reader, limit=abort_at)
    assert status == 200 and size == total, (status, size, total)
    stats["requests"] += 1


async def upload(reader, writer, stats: Counter) -> None:
    total = random.randint(1, 4 << 20)
    abort_at = random.randint(0, total) if random.random() < 0.3 else None
    chunked = random.random() < 0.5
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    writer.write(f"POST /upload HTTP/1.1\r\nHost: soak\r\n{framing}\r\n\r\n".encode())
    sent, piece = 0, bytes(65536)
    while sent < total:
        n = min(len(piece), total - sent)
        if abort_at is not None and sent + n >= abort_at:
            raise Aborted
        writer.write(b"%x\r\n%s\r\n" % (n, piece[:n]) if chunked else piece[:n])
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
        sent += n
    if chunked:
        writer.write(b"0\r\n\r\n")
    status, size = await read_response(reader)
    assert status == 200 and size == len(str(total)), (status, size)
    stats["requests"] += 1


async def slow(reader, writer, stats: Counter) -> None:
    writer.write(request(f"/slow?ms={random.randint(1, 200)}"))
    if random.random() < 0.2:
        await asyncio.sleep(random.random() * 0.1)
        raise Aborted  # gone before the answer
    status, _ = await read_response(reader)
    assert status == 200
    stats["requests"] += 1


async def head_only(reader, writer, stats: Counter) -> None:
    """Half a request head, then gone."""
    data = request("/small")
    writer.write(data[: random.randint(1, len(data) - 1)])
    await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
    raise Aborted


MIX = [
    (keep_alive, 30),
    (one_and_close, 15),
    (pipelined, 15),
    (download, 12),
    (upload, 12),
    (slow, 10),
    (head_only, 6),
]


async def task(port: int, until: float, stats: Counter) -> None:
    actions, weights = zip(*MIX, strict=True)
    while time.monotonic() < until:
        action = random.choices(actions, weights)[0]
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, limit=1 << 20), IO_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError) as exc:
            stats[f"error: connect {type(exc).__name__}"] += 1
            continue
        try:
            await action(reader, writer, stats)
            writer.close()
        except Aborted:
            stats["aborts"] += 1
            reset(writer)
        except (OSError, AssertionError, asyncio.TimeoutError, ValueError, EOFError) as exc:
            stats[f"error: {action.__name__} {type(exc).__name__} {exc}"[:120]] += 1
            writer.close()


def client(port: int, seconds: float, tasks: int, seed: int, results) -> None:
    random.seed(seed)
    stats: Counter = Counter()

    async def main() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(task(port, until, stats) for _ in range(tasks)))

    asyncio.run(main())
    results.put(dict(stats))


def traffic(port: int, seconds: float, clients: int, tasks: int, seed: int) -> Counter:
    results: multiprocessing.Queue = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=client, args=(port, seconds, tasks, seed + i, results))
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    total: Counter = Counter()
    for _ in processes:
        total.update(results.get(timeout=seconds + 120))
    for process in processes:
        process.join(30)
    return total


def metric(server: Server, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return float("nan")


def snapshot(server: Server) -> dict[str, float]:
    return {
        "fds": server.fds(),
        "connections": server.connections(),
        "connections_open": metric(server, "pyre_connections_open"),
        "in_flight": metric(server, "pyre_requests_in_flight"),
        "rss_kib": server.rss_kib(),
    }


def settle(server: Server, baseline: dict[str, float] | None) -> dict[str, float]:
    """Waits (up to 30 s) for connections to drop to the baseline's, then 2 s more."""
    target = baseline["connections"] if baseline else 0
    wait_until(lambda: server.connections() <= target, 30)
    time.sleep(2)
    return snapshot(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of traffic")
    parser.add_argument("--warmup", type=float, default=30, help="seconds before the baseline")
    parser.add_argument("--clients", type=int, default=3, help="client processes")
    parser.add_argument("--tasks", type=int, default=12, help="concurrent tasks per client")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    raise_fd_limit()
    server = Server(APP, "--metrics-port", "0")
    print(f"pyre {APP} on port {server.port} (pid {server.pid})")
    print(f"{args.clients} client processes x {args.tasks} tasks; seed {args.seed}")
    failures = []
    try:
        print(f"warm-up: {args.warmup:.0f} s", flush=True)
        warm = traffic(server.port, args.warmup, args.clients, args.tasks, args.seed * 1000)
        before = settle(server, None)
        print(f"  warm-up: {warm.get('requests', 0)} requests, {warm.get('aborts', 0)} aborts")
        print(f"baseline: {before}")
        print(f"soak: {args.duration:.0f} s", flush=True)
        started = time.monotonic()
        stats = traffic(server.port, args.duration, args.clients, args.tasks, args.seed)
        elapsed = time.monotonic() - started
        after = settle(server, before)
        print(f"after:    {after}")
        errors = {k: v for k, v in stats.items() if k.startswith("error")}
        growth = 100.0 * (after["rss_kib"] - before["rss_kib"]) / before["rss_kib"]
        print(
            f"\nrequests {stats.get('requests', 0)} in {elapsed:.0f} s "
            f"({stats.get('requests', 0) / elapsed:.0f}/s), aborts {stats.get('aborts', 0)}, "
            f"errors {sum(errors.values())}"
        )
        for name, count in sorted(errors.items()):
            print(f"  {count} x {name}")
        print(f"fds:         {before['fds']:.0f} -> {after['fds']:.0f}")
        print(f"connections: {before['connections']:.0f} -> {after['connections']:.0f} (tcp)")
        print(
            f"             {before['connections_open']:.0f} -> {after['connections_open']:.0f}"
            " (pyre_connections_open)"
        )
        print(f"in flight:   {before['in_flight']:.0f} -> {after['in_flight']:.0f}")
        print(
            f"RSS:         {before['rss_kib'] / 1024:.1f} MiB -> {after['rss_kib'] / 1024:.1f} MiB "
            f"({growth:+.2f}%, limit {RSS_GROWTH_LIMIT}%)"
        )
        if after["fds"] != before["fds"]:
            failures.append("fds not back to baseline")
        if after["connections"] != before["connections"]:
            failures.append("connections not back to baseline")
        if after["connections_open"] != before["connections_open"]:
            failures.append("pyre_connections_open not back to baseline")
        if after["in_flight"] != before["in_flight"]:
            failures.append("requests still in flight")
        if growth >= RSS_GROWTH_LIMIT:
            failures.append(f"RSS grew {growth:.2f}%")
        if errors:
            failures.append("clients saw errors")
        if not server.alive():
            failures.append("the server died")
    finally:
        status = server.stop()
    print(f"pyre exit status {status}")
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
