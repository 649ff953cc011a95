"""WebSocket benchmark: Pyre against uvicorn and granian, the same ASGI app
(benchmarks/apps/ws_asgi.py) on each, plus Pyre's PSGI (apps/ws_psgi.py).

Scenarios, each measured for --duration seconds after --warmup seconds, --repeat
times per server (the servers taking turns; the median run is reported):

    echo       --connections connections (64), each sending a --size byte text
               message (32) and the next one as soon as the echo is back:
               round trips per second
    broadcast  --subscribers connections (64) to /broadcast, --publishers (4) of
               which send a message and the next one when their own copy comes
               back; the server sends every message to every connection: messages
               delivered per second (all connections' receptions)

The server runs pinned to --server-cpu (0) with taskset; this process, the load
client, to --client-cpu (1). The client is picows (Cython WebSocket frames, on
uvloop): a frame is a callback, not a coroutine, so one client core drives far
more messages than the servers' Python applications can answer; its CPU use is
reported next to each figure (``client CPU``): near 100% would mean it measured
itself. The server's CPU use over the same window is reported too (its whole
process group, from /proc): near 100% means the figure is the server's limit.
Every echo is checked against what was sent.

Run it through ``make bench-ws`` (scripts/bench.sh --websocket), which prepares
.venv-bench with the pinned peers and Pyre built from the working tree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import (  # noqa: E402  (after the path set-up above)
    BIN,
    BenchError,
    cpu_model,
    free_port,
    stop_server,
    version_of,
    wait_until_answers,
)

ASGI_APP = "benchmarks.apps.ws_asgi:app"
PSGI_APP = "benchmarks.apps.ws_psgi:app"
SERVERS = ("pyre", "pyre-psgi", "uvicorn", "granian")
SCENARIOS = ("echo", "broadcast")
UNITS = {"echo": "round trips/s", "broadcast": "messages/s"}


def server_command(name: str, port: int) -> list[str]:
    """Each server's fastest one-worker, one-core settings for this app."""
    host, port_text = "127.0.0.1", str(port)
    quiet = ["--no-access-log", "--log-level", "warning"]
    if name in ("pyre", "pyre-psgi"):
        app, interface = (ASGI_APP, "asgi") if name == "pyre" else (PSGI_APP, "psgi")
        return [
            str(BIN / "pyre-http"),
            app,
            "--interface",
            interface,
            "--host",
            host,
            "--port",
            port_text,
            *quiet,
        ]
    if name == "uvicorn":
        # uvloop, httptools, and websockets' Sans-I/O protocol (uvicorn's default
        # WebSocket implementation when websockets is installed).
        return [
            str(BIN / "uvicorn"),
            ASGI_APP,
            "--host",
            host,
            "--port",
            port_text,
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets-sansio",
            *quiet,
        ]
    if name == "granian":
        # One worker, single-threaded Rust runtime, uvloop, HTTP/1 with WebSockets.
        return [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--host",
            host,
            "--port",
            port_text,
            "--loop",
            "uvloop",
            "--workers",
            "1",
            "--runtime-threads",
            "1",
            "--runtime-mode",
            "st",
            "--http",
            "1",
            *quiet,
            ASGI_APP,
        ]
    raise ValueError(f"unknown server {name!r}")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every process in process group ``pgid``."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid:  # fields from the state on: state ppid pgrp ...
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    port: int
    pgid: int

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.pgid)


@contextlib.contextmanager
def running(name: str, args: argparse.Namespace, workdir: Path) -> Iterator[Server]:
    """Starts a server pinned to the server CPU in its own process group, waits until
    it answers HTTP, yields it, and always stops it."""
    port = free_port()
    command = server_command(name, port)
    if not Path(command[0]).exists():
        raise BenchError(f"not installed: {command[0]}")
    if args.server_cpu is not None:
        command = ["taskset", "-c", str(args.server_cpu), *command]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = workdir / f"{name}-{port}.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_answers(proc, port, 20.0, log)
        yield Server(port, proc.pid)  # its own session: the group id is its pid
    finally:
        stop_server(proc, 10.0)


# ------------------------------------------------------------------------ the client


@dataclass
class Counter:
    received: int = 0
    wrong: int = 0
    running: bool = True


def listener_class(counter: Counter, payload: bytes, *, echo: bool = False) -> Any:
    """A picows listener counting the text messages it receives. ``start()`` sends
    ``payload``; the listener sends it again whenever a message equal to it comes
    back. With ``echo`` every message must be that copy (else it counts as wrong)."""
    from picows import WSListener, WSMsgType

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: Any) -> None:
            self.transport = transport

        def start(self) -> None:
            self.transport.send(WSMsgType.TEXT, payload)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                return
            counter.received += 1
            if not payload:
                return
            if frame.get_payload_as_bytes() == payload:
                if counter.running:
                    transport.send(WSMsgType.TEXT, payload)
            elif echo:
                counter.wrong += 1

    return Listener


async def connect_all(url: str, factories: list[Any]) -> list[Any]:
    from picows import ws_connect

    listeners = []
    for factory in factories:  # one at a time: no connection burst to queue up
        _, listener = await ws_connect(factory, url, max_frame_size=1 << 20)
        listeners.append(listener)
    return listeners


async def measure(
    server: Server, counter: Counter, starters: list[Any], warmup: float, duration: float
) -> dict[str, Any]:
    """Starts the senders, waits ``warmup``, then counts for ``duration``."""
    for listener in starters:
        listener.start()
    await asyncio.sleep(warmup)
    before, started = counter.received, time.perf_counter()
    cpu_before, server_before = time.process_time(), server.cpu_seconds()
    await asyncio.sleep(duration)
    after, ended = counter.received, time.perf_counter()
    cpu_after, server_after = time.process_time(), server.cpu_seconds()
    counter.running = False
    elapsed = ended - started
    return {
        "value": (after - before) / elapsed,
        "messages": after - before,
        "seconds": round(elapsed, 3),
        "client_cpu": round((cpu_after - cpu_before) / elapsed, 3),
        "server_cpu": round((server_after - server_before) / elapsed, 3),
    }


async def close_all(listeners: list[Any]) -> None:
    for listener in listeners:
        listener.transport.disconnect()
    await asyncio.sleep(0.2)


async def bench_echo(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    counter = Counter()
    payload = b"x" * args.size
    factory = listener_class(counter, payload, echo=True)
    url = f"ws://127.0.0.1:{server.port}/echo"
    listeners = await connect_all(url, [factory] * args.connections)
    try:
        result = await measure(server, counter, listeners, args.warmup, args.duration)
    finally:
        await close_all(listeners)
    if counter.wrong:
        raise BenchError(f"{counter.wrong} echoes differed from what was sent")
    result["connections"] = args.connections
    return result


async def bench_broadcast(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    counter = Counter()
    url = f"ws://127.0.0.1:{server.port}/broadcast"
    # Each publisher sends its own payload, so it recognises its own copy.
    publishers = [
        listener_class(counter, b"%03d" % i + b"y" * (args.size - 3))
        for i in range(args.publishers)
    ]
    quiet = listener_class(counter, b"")
    factories = publishers + [quiet] * (args.subscribers - args.publishers)
    listeners = await connect_all(url, factories)
    try:
        senders = listeners[: args.publishers]
        result = await measure(server, counter, senders, args.warmup, args.duration)
    finally:
        await close_all(listeners)
    result["subscribers"] = args.subscribers
    result["publishers"] = args.publishers
    return result


BENCHES = {"echo": bench_echo, "broadcast": bench_broadcast}


# ------------------------------------------------------------------------ report


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median value (the lower middle one of an even count), with
    every run's value; the first error when no run succeeded."""
    measured = sorted((r for r in runs if "value" in r), key=lambda r: r["value"])
    if not measured:
        return runs[0] if runs else {"error": "not run"}
    middle = dict(measured[(len(measured) - 1) // 2])
    middle["values"] = [round(r["value"]) for r in runs if "value" in r]
    return middle


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def format_table(results: dict[str, dict[str, dict[str, Any]]], servers: list[str]) -> str:
    def cell(result: dict[str, Any] | None) -> str:
        if not result or "value" not in result:
            return "failed"
        return f"{result['value']:,.0f} ({result['server_cpu']:.0%}/{result['client_cpu']:.0%})"

    def value(scenario: str, server: str) -> float | None:
        return results.get(scenario, {}).get(server, {}).get("value")

    def show(x: float | None) -> str:
        return f"{x:.2f}x" if x is not None else "n/a"

    head = ["scenario", *servers, "pyre/uvicorn", "pyre/granian"]
    rows = [head]
    for scenario in results:
        rows.append(
            [
                f"{scenario} ({UNITS[scenario]})",
                *(cell(results[scenario].get(s)) for s in servers),
                show(ratio(value(scenario, "pyre"), value(scenario, "uvicorn"))),
                show(ratio(value(scenario, "pyre"), value(scenario, "granian"))),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.append("(server/client CPU use in brackets; pyre: Pyre's ASGI, pyre-psgi: its PSGI)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS), help=", ".join(SERVERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=", ".join(SCENARIOS))
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds")
    parser.add_argument("--connections", type=int, default=64, help="echo connections")
    parser.add_argument("--subscribers", type=int, default=64, help="broadcast connections")
    parser.add_argument("--publishers", type=int, default=4, help="broadcast senders")
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server, median kept")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    args.servers = [s for s in args.servers.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    if set(args.servers) - set(SERVERS) or set(args.scenarios) - set(SCENARIOS):
        parser.error(f"servers from {SERVERS}, scenarios from {SCENARIOS}")
    if not 1 <= args.publishers <= args.subscribers or args.size < 4 or args.repeat < 1:
        parser.error("need 1 <= --publishers <= --subscribers, --size >= 4, --repeat >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    cpus = sorted(os.sched_getaffinity(0))
    if args.server_cpu in cpus and args.client_cpu in cpus and args.server_cpu != args.client_cpu:
        os.sched_setaffinity(0, {args.client_cpu})  # the load client runs here
    else:
        print(f"warning: CPUs {args.server_cpu}/{args.client_cpu} not available; unpinned")
        args.server_cpu = None
    try:
        import uvloop
    except ImportError:
        uvloop = None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        scenario: {name: [] for name in args.servers} for scenario in args.scenarios
    }
    with tempfile.TemporaryDirectory(prefix="pyre-ws-bench-") as tmp:
        # The servers take turns within each repetition, so a busy moment of the
        # machine hits them all alike; the median run is kept.
        for repetition in range(1, args.repeat + 1):
            for name in args.servers:
                for scenario in args.scenarios:
                    print(f"[{repetition}/{args.repeat}] {scenario}: {name}")
                    try:
                        with running(name, args, Path(tmp)) as server:
                            bench = BENCHES[scenario](server, args)
                            result = uvloop.run(bench) if uvloop else asyncio.run(bench)
                    except (BenchError, OSError, RuntimeError, ValueError) as exc:
                        message = f"{type(exc).__name__}: {exc}"
                        print(f"  FAILED: {message}")
                        runs[scenario][name].append({"error": message})
                        continue
                    runs[scenario][name].append(result)
                    print(f"  {result['value']:,.0f} {UNITS[scenario]}  {json.dumps(result)}")
    results = {
        scenario: {name: median_run(by_server[name]) for name in args.servers}
        for scenario, by_server in runs.items()
    }
    table = format_table(results, args.servers)
    print()
    print(table)
    report = {
        "benchmark": "websocket",
        "timestamp_utc": stamp,
        "machine": {
            "cpu_model": cpu_model(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {k: v for k, v in vars(args).items() if k != "output"},
        "versions": {
            d: version_of(d) for d in ("pyre-http", "uvicorn", "granian", "websockets", "picows")
        },
        "results": results,
        "runs": runs,
        "table": table,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"websocket-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    shutil.copyfile(path, args.output / "latest-websocket.json")
    print(f"\nwrote {path}")
    measured = any("value" in r for by in results.values() for r in by.values())
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
