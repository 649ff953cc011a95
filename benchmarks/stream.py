"""Streaming benchmark: large bodies both ways and memory under slow or idle clients,
Pyre against its peers on one machine, every scenario running all its servers in the
same run (see benchmarks/README.md, "Streaming").

Scenarios (servers in brackets; each runs benchmarks/apps/stream_asgi.py unless noted):

    download  a 1 GiB file: Pyre by http.response.pathsend, nginx by sendfile, uvicorn
              with Starlette's FileResponse (apps/starlette_file.py); read by curl;
              throughput, median of --repeat downloads after one warm-up
    upload    a 1 GiB chunked upload read by the app [pyre, uvicorn, granian];
              throughput, median of --repeat uploads after one warm-up
    readers   --readers clients reading a 256 MiB generated stream at --reader-rate
              bytes/s each for --duration seconds [pyre, uvicorn, granian]; the server's
              peak RSS growth over its RSS before the clients came
    uploads   --uploads clients each sending a 1 GiB body as fast as they can to an app
              that reads slowly, for --duration seconds [pyre, uvicorn, granian]; peak
              RSS growth
    idle      --idle keep-alive connections, each after one request [pyre, uvicorn,
              granian]; RSS growth per connection

Servers run pinned to one CPU (--server-cpu) and this process (the clients) to another
(--client-cpu). RSS is the sum over the server's process group (granian's worker and
its parent; nginx's master and worker). Run it through ``make bench-stream``
(scripts/bench-stream.sh prepares .venv-bench, nginx and curl).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import (  # noqa: E402  (after the path set-up above)
    BenchError,
    cpu_model,
    free_port,
    read_log,
    stop_server,
    version_of,
)
from benchmarks.run import server_command as run_server_command  # noqa: E402

APP = "benchmarks.apps.stream_asgi:app"
STARLETTE_FILE_APP = "benchmarks.apps.starlette_file:app"
GiB = 1 << 30
MiB = 1 << 20
SCENARIOS = ("download", "upload", "readers", "uploads", "idle")
SERVERS = {
    "download": ("pyre", "nginx", "uvicorn"),
    "upload": ("pyre", "uvicorn", "granian"),
    "readers": ("pyre", "uvicorn", "granian"),
    "uploads": ("pyre", "uvicorn", "granian"),
    "idle": ("pyre", "uvicorn", "granian"),
}
# What each scenario's figure is, and whether more is better.
UNITS = {
    "download": ("MB/s", True),
    "upload": ("MB/s", True),
    "readers": ("MiB peak RSS growth", False),
    "uploads": ("MiB peak RSS growth", False),
    "idle": ("KiB RSS per connection", False),
}
# The acceptance bars, checked and printed at the end.
BARS = {
    ("download", "nginx"): ("ratio_min", 0.9),
    ("upload", "uvicorn"): ("ratio_min", 1.5),
    ("readers", None): ("max", 16.0),
    ("uploads", None): ("max", 16.0),
    ("idle", None): ("max", 2.0),
}


# ------------------------------------------------------------------------ servers


def server_command(name: str, port: int, app: str, prefix: Path) -> list[str]:
    """The HTTP benchmark's command for each server (benchmarks/run.py), with the
    streaming app and two changes; nginx is this benchmark's own."""
    if name == "nginx":
        return ["nginx", "-p", str(prefix), "-c", str(write_nginx_conf(prefix, port))]
    command = run_server_command(name, port, app)
    if name == "uvicorn":
        # Keep-alive as long as Pyre's, so idle connections stay open to be measured.
        command += ["--timeout-keep-alive", "75"]
    if name == "granian":
        # Its default backlog (1024) also caps the connections it serves at once
        # (--backpressure), which would refuse the idle scenario's connections.
        command[-1:-1] = ["--backlog", "16384"]
    return command


def write_nginx_conf(prefix: Path, port: int) -> Path:
    """One worker, sendfile on, the benchmark file at /file, everything under prefix."""
    file = os.environ["BENCH_FILE"]
    user = "user root;" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    {temp} uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /file {{ alias {file}; default_type application/octet-stream; }}
        location / {{ return 200 "Hello, world!"; }}
    }}
}}
"""
    )
    return conf


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[bytes]
    port: int


@contextlib.contextmanager
def running(name: str, app: str, args: argparse.Namespace, workdir: Path) -> Iterator[Running]:
    """Starts a server pinned to the server CPU in its own process group, waits until
    it answers, and always stops it."""
    port = free_port()
    prefix = workdir / f"{name}-{port}"
    prefix.mkdir()
    command = server_command(name, port, app, prefix)
    if not (shutil.which(command[0]) or Path(command[0]).exists()):
        raise BenchError(f"not installed: {command[0]}")
    if args.server_cpu is not None:
        command = ["taskset", "-c", str(args.server_cpu), *command]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = prefix / "server.log"
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
        wait_until_up(proc, port, log)
        yield Running(name, proc, port)
    finally:
        stop_server(proc, 10.0)


def wait_until_up(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"exited with code {proc.returncode}: {read_log(log)}")
        with contextlib.suppress(OSError):
            status, _ = http_exchange(
                port, b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
            )
            if status == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"did not answer on port {port} within 20 s: {read_log(log)}")


def http_exchange(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Sends a raw request on a new connection and reads to EOF: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = bytearray()
        while piece := sock.recv(1 << 16):
            data += piece
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def group_rss_kib(pgid: int) -> int:
    """The summed VmRSS (KiB) of the processes in process group `pgid`."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


class PeakRss:
    """Samples a process group's RSS every 50 ms in the background (asyncio)."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.peak = group_rss_kib(pgid)
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, group_rss_kib(self.pgid))
            await asyncio.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, group_rss_kib(self.pgid))


# ---------------------------------------------------------------------- scenarios


def bench_download(server: Running, args: argparse.Namespace) -> dict[str, Any]:
    url = f"http://127.0.0.1:{server.port}/file"
    size = Path(os.environ["BENCH_FILE"]).stat().st_size
    speeds = []
    for attempt in range(args.repeat + 1):
        done = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download} %{time_total}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        code, downloaded, seconds = done.stdout.split()
        if code != "200" or int(downloaded) != size:
            raise BenchError(f"download: status {code}, {downloaded} of {size} bytes")
        if attempt:  # the first download warms up (page cache, connections)
            speeds.append(size / float(seconds) / 1e6)
    return {"value": statistics.median(speeds), "runs": speeds}


def bench_upload(server: Running, args: argparse.Namespace) -> dict[str, Any]:
    piece = bytes(range(256)) * (MiB // 256)
    frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
    count = args.upload_size // len(piece)
    head = (
        b"POST /upload HTTP/1.1\r\nHost: b\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    speeds = []
    for attempt in range(args.repeat + 1):
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
            sock.sendall(head)
            for _ in range(count):
                sock.sendall(frame)
            sock.sendall(b"0\r\n\r\n")
            data = bytearray()
            while chunk := sock.recv(65536):
                data += chunk
        seconds = time.perf_counter() - started
        body = bytes(data).partition(b"\r\n\r\n")[2]
        if body.strip() != str(count * len(piece)).encode() and not body.endswith(
            str(count * len(piece)).encode() + b"\r\n0\r\n\r\n"
        ):
            raise BenchError(f"upload: the app reported {body[:60]!r}")
        if attempt:
            speeds.append(count * len(piece) / seconds / 1e6)
    return {"value": statistics.median(speeds), "runs": speeds}


async def _slow_reader(port: int, rate: float, until: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /generate?total=%d HTTP/1.1\r\nHost: b\r\n\r\n" % (256 * MiB))
    started = time.monotonic()
    received = 0
    try:
        while time.monotonic() < until:
            data = await reader.read(16384)
            if not data:
                break
            received += len(data)
            ahead = received / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    finally:
        counts.append(received)
        writer.transport.abort()


def bench_readers(server: Running, args: argparse.Namespace) -> dict[str, Any]:
    # Warm the path once, so start-up allocations are in the baseline.
    http_exchange(
        server.port, b"GET /generate?total=1048576 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
    )

    async def run() -> dict[str, Any]:
        baseline = group_rss_kib(server.proc.pid)
        counts: list[int] = []
        until = time.monotonic() + args.duration
        with PeakRss(server.proc.pid) as rss:
            await asyncio.gather(
                *(
                    _slow_reader(server.port, args.reader_rate, until, counts)
                    for _ in range(args.readers)
                )
            )
        return {
            "value": (rss.peak - baseline) / 1024,
            "baseline_mib": baseline / 1024,
            "read_mib_per_client": statistics.mean(counts) / MiB,
        }

    return asyncio.run(run())


async def _fast_uploader(port: int, until: float, counts: list[int]) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /slow-upload HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n" % GiB)
    piece = bytes(64 * 1024)
    sent = 0
    try:
        while time.monotonic() < until and sent < GiB:
            writer.write(piece)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(writer.drain(), timeout=max(0.01, until - time.monotonic()))
            sent += len(piece)
    except ConnectionError:
        pass
    finally:
        counts.append(sent)
        writer.transport.abort()


def bench_uploads(server: Running, args: argparse.Namespace) -> dict[str, Any]:
    http_exchange(
        server.port,
        b"POST /slow-upload HTTP/1.1\r\nHost: b\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\nhello",
    )

    async def run() -> dict[str, Any]:
        baseline = group_rss_kib(server.proc.pid)
        counts: list[int] = []
        until = time.monotonic() + args.duration
        with PeakRss(server.proc.pid) as rss:
            await asyncio.gather(
                *(_fast_uploader(server.port, until, counts) for _ in range(args.uploads))
            )
        return {
            "value": (rss.peak - baseline) / 1024,
            "baseline_mib": baseline / 1024,
            "sent_mib_per_client": statistics.mean(counts) / MiB,
        }

    return asyncio.run(run())


def bench_idle(server: Running, args: argparse.Namespace) -> dict[str, Any]:
    async def one(port: int, gate: asyncio.Semaphore, keep: list[Any]) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            lengths = [
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            if not lengths:
                raise BenchError(f"idle: a response without Content-Length: {head!r}")
            await reader.readexactly(lengths[0])
            keep.append(writer)

    async def run() -> dict[str, Any]:
        for _ in range(3):
            http_exchange(server.port, b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        await asyncio.sleep(0.5)
        baseline = group_rss_kib(server.proc.pid)
        keep: list[Any] = []
        gate = asyncio.Semaphore(256)
        await asyncio.gather(*(one(server.port, gate, keep) for _ in range(args.idle)))
        await asyncio.sleep(2.0)
        after = group_rss_kib(server.proc.pid)
        open_sockets = count_sockets(server.proc.pid)
        for writer in keep:
            writer.transport.abort()
        if open_sockets < args.idle:
            raise BenchError(f"idle: the server holds {open_sockets} sockets, not {args.idle}")
        return {
            "value": (after - baseline) / args.idle,
            "baseline_mib": baseline / 1024,
            "server_sockets": open_sockets,
        }

    return asyncio.run(run())


def count_sockets(pgid: int) -> int:
    """Open socket descriptors in the server's process group."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}").startswith("socket:"):
                        total += 1
        except (OSError, IndexError, ValueError):
            continue
    return total


BENCHES: dict[str, Callable[[Running, argparse.Namespace], dict[str, Any]]] = {
    "download": bench_download,
    "upload": bench_upload,
    "readers": bench_readers,
    "uploads": bench_uploads,
    "idle": bench_idle,
}


# ------------------------------------------------------------------------ report


def check_bars(results: dict[str, dict[str, dict[str, Any]]]) -> list[tuple[str, bool | None]]:
    lines = []
    for (scenario, peer), (kind, bar) in BARS.items():
        if scenario not in results:
            continue
        pyre = results[scenario].get("pyre", {}).get("value")
        unit = UNITS[scenario][0]
        if kind == "ratio_min":
            other = results[scenario].get(peer or "", {}).get("value")
            if pyre is None or not other:
                lines.append((f"{scenario}: pyre / {peer} not measured", None))
                continue
            value = pyre / other
            lines.append(
                (f"{scenario}: pyre / {peer} = {value:.2f}x (bar: at least {bar}x)", value >= bar)
            )
        else:
            if pyre is None:
                lines.append((f"{scenario}: pyre not measured", None))
                continue
            lines.append((f"{scenario}: pyre {pyre:.2f} {unit} (bar: at most {bar})", pyre <= bar))
    return lines


def format_table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    names = ["pyre", "nginx", "uvicorn", "granian"]
    header = f"{'scenario':<44}" + "".join(f"{n:>10}" for n in names)
    rows = [header, "-" * len(header)]
    for scenario, per_server in results.items():
        unit, _ = UNITS[scenario]
        cells = []
        for name in names:
            entry = per_server.get(name)
            if entry is None:
                cells.append(f"{'':>10}")
            elif "error" in entry:
                cells.append(f"{'failed':>10}")
            else:
                cells.append(
                    f"{entry['value']:>10,.2f}"
                    if entry["value"] < 100
                    else f"{entry['value']:>10,.0f}"
                )
        rows.append(f"{scenario + ' (' + unit + ')':<44}" + "".join(cells))
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument(
        "--servers", default="pyre,nginx,uvicorn,granian", help="comma-separated subset"
    )
    parser.add_argument("--file-size", type=int, default=GiB, help="download file size (1 GiB)")
    parser.add_argument("--upload-size", type=int, default=GiB, help="upload size (1 GiB)")
    parser.add_argument("--repeat", type=int, default=3, help="measured downloads/uploads (3)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of slow clients (15)")
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument(
        "--reader-rate", type=float, default=1e6, help="bytes/s per reader (1 MB/s)"
    )
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--idle", type=int, default=10_000, help="idle keep-alive connections")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.servers = [s for s in args.servers.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    cpus = sorted(os.sched_getaffinity(0))
    if args.server_cpu in cpus and args.client_cpu in cpus and args.server_cpu != args.client_cpu:
        os.sched_setaffinity(0, {args.client_cpu})  # the clients (and curl) run here
    else:
        print(
            f"warning: CPUs {args.server_cpu}/{args.client_cpu} not available; unpinned",
            file=sys.stderr,
        )
        args.server_cpu = None
    raise_fd_limit(args.idle + 2048)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="pyre-stream-") as tmp:
        workdir = Path(tmp)
        if "download" in args.scenarios:
            file = workdir / "download.bin"
            block = os.urandom(MiB)
            with file.open("wb") as f:
                for _ in range(args.file_size // MiB):
                    f.write(block)
            os.environ["BENCH_FILE"] = str(file)
        for scenario in args.scenarios:
            results[scenario] = {}
            for name in SERVERS[scenario]:
                if name not in args.servers:
                    continue
                app = STARLETTE_FILE_APP if (scenario, name) == ("download", "uvicorn") else APP
                print(f"{scenario}: {name}")
                try:
                    with running(name, app, args, workdir) as server:
                        result = BENCHES[scenario](server, args)
                except (
                    BenchError,
                    OSError,
                    subprocess.SubprocessError,
                    ValueError,
                    RuntimeError,
                ) as exc:
                    print(f"  FAILED: {type(exc).__name__}: {exc}")
                    results[scenario][name] = {"error": f"{type(exc).__name__}: {exc}"}
                    continue
                results[scenario][name] = result
                details = {k: v for k, v in result.items() if k != "value"}
                print(f"  {result['value']:,.2f} {UNITS[scenario][0]}  {json.dumps(details)}")
    print()
    print(format_table(results))
    print()
    bars = check_bars(results)
    for text, ok in bars:
        print(f"  [{'pass' if ok else 'FAIL' if ok is False else 'n/a '}] {text}")
    report = {
        "benchmark": "stream",
        "timestamp_utc": stamp,
        "machine": {
            "cpu_model": cpu_model(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {k: v for k, v in vars(args).items() if k != "output"},
        "versions": {d: version_of(d) for d in ("pyre-http", "uvicorn", "granian", "starlette")},
        "results": results,
        "bars": [{"check": text, "ok": ok} for text, ok in bars],
    }
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"stream-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    shutil.copyfile(path, args.output / "latest-stream.json")
    print(f"\nwrote {path}")
    return 0 if all(ok is not False for _, ok in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
