"""HTTPS side by side: Pyre's own TLS against uvicorn's (``--ssl-*``, Python's ssl),
granian's (rustls) and nginx terminating TLS in front of uvicorn, on one machine in
one run.

Scenarios (each server pinned to --server-cpu, the load generator to --client-cpu):
    keepalive   hello world over TLS, `wrk -c64` on kept-alive connections: requests/s
    handshake   the same with `Connection: close`: every request a new TCP connection
                and a full TLS handshake (new-handshake rate)
    idle        RSS per idle TLS connection: --idle connections open, handshaken and
                one request served each, RSS growth of the server's process group
                divided by their number
    download    a 1 GiB file over TLS with curl: Pyre (pathsend, read and encrypted
                in 16 KiB pieces) against nginx serving it with TLS

The certificate is a self-signed P-256 one made with openssl for the run. Run it
through ``make bench-tls`` (scripts/bench.sh --tls prepares .venv-bench, wrk, nginx
and curl). Results go to benchmarks/results/tls-<time>.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import BIN, ROOT, BenchError, parse_wrk, pinned
from benchmarks.stream import group_rss_kib

HELLO = "benchmarks.apps.hello_asgi:app"
SERVERS = ("pyre", "pyre-psgi", "uvicorn", "granian", "nginx-uvicorn", "nginx")
# Which servers each scenario measures.
SCENARIOS = {
    "keepalive": ("pyre", "pyre-psgi", "uvicorn", "granian", "nginx-uvicorn"),
    "handshake": ("pyre", "uvicorn", "granian", "nginx-uvicorn"),
    "idle": ("pyre", "uvicorn", "granian"),
    "download": ("pyre", "nginx"),
}
RATIOS = (
    ("keepalive", "pyre", "uvicorn"),
    ("keepalive", "pyre", "granian"),
    ("keepalive", "pyre", "nginx-uvicorn"),
    ("keepalive", "pyre-psgi", "granian"),
    ("handshake", "pyre", "uvicorn"),
    ("handshake", "pyre", "granian"),
    ("handshake", "pyre", "nginx-uvicorn"),
    ("download", "pyre", "nginx"),
)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_conf(prefix: Path, port: int, cert: Path, key: Path, upstream: int | None) -> Path:
    """nginx with TLS: proxying to uvicorn on ``upstream`` (kept-alive upstream
    connections), or serving the benchmark file at /file."""
    user = "user root;" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    if upstream is None:
        locations = f"""location = /file {{ alias {os.environ["BENCH_FILE"]};
            default_type application/octet-stream; }}
        location / {{ return 200 "Hello, world!"; }}"""
        upstream_block = ""
    else:
        upstream_block = f"upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}"
        locations = """location / { proxy_pass http://app; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_set_header Host $host; }"""
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
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    {temp}
    {upstream_block}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        {locations}
    }}
}}
"""
    )
    return conf


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    name: str
    port: int
    pgid: int


def commands(
    name: str, port: int, cert: Path, key: Path, prefix: Path, app: str = HELLO
) -> list[list[str]]:
    """The processes that make up server ``name`` on ``port`` (first: the front),
    serving ``app`` (Pyre only; the PSGI one has its own)."""
    tls = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    host = ["--host", "127.0.0.1"]
    quiet_pyre = ["--no-access-log", "--log-level", "warning"]
    if name == "pyre":
        return [[str(BIN / "pyre-http"), app, *host, "--port", str(port), *tls, *quiet_pyre]]
    if name == "pyre-psgi":
        app = "benchmarks.apps.hello_psgi:app"
        return [[str(BIN / "pyre-http"), app, *host, "--port", str(port), *tls, *quiet_pyre]]
    uvicorn = [str(BIN / "uvicorn"), HELLO, *host, "--loop", "uvloop", "--http", "httptools"]
    uvicorn += ["--no-access-log", "--log-level", "warning"]
    if name == "uvicorn":
        return [[*uvicorn, "--port", str(port), *tls]]
    if name == "granian":
        return [
            [
                str(BIN / "granian"),
                "--interface",
                "asgi",
                *host,
                "--port",
                str(port),
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
                "--no-ws",
                "--no-access-log",
                "--log-level",
                "warning",
                "--ssl-certificate",
                str(cert),
                "--ssl-keyfile",
                str(key),
                HELLO,
            ]
        ]
    if name == "nginx-uvicorn":
        upstream = free_port()
        conf = nginx_conf(prefix, port, cert, key, upstream)
        return [["nginx", "-p", str(prefix), "-c", str(conf)], [*uvicorn, "--port", str(upstream)]]
    if name == "nginx":
        return [["nginx", "-p", str(prefix), "-c", str(nginx_conf(prefix, port, cert, key, None))]]
    raise ValueError(name)


def https_ok(port: int) -> bool:
    """One HTTPS request answered with the hello world (a close without close_notify,
    as uvicorn's, is accepted once the body is in)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    data = b""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=3) as raw,
            context.wrap_socket(raw) as sock,
        ):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            while piece := sock.recv(65536):
                data += piece
    except OSError:
        pass
    return data.startswith(b"HTTP/1.1 200") and b"Hello, world!" in data


@contextlib.contextmanager
def running(
    name: str, args: argparse.Namespace, cert: Path, key: Path, app: str = HELLO
) -> Iterator[Running]:
    prefix = Path(tempfile.mkdtemp(prefix=f"tls-{name}-"))
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    log = (prefix / "server.log").open("wb")
    try:
        pgid = 0
        for command in reversed(commands(name, port, cert, key, prefix, app)):
            proc = subprocess.Popen(
                pinned(args.server_cpu, command),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=pgid,
            )
            pgid = pgid or proc.pid
            procs.append(proc)
        deadline = time.monotonic() + 20
        while not https_ok(port):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise BenchError(f"{name} did not answer: {(prefix / 'server.log').read_text()}")
            time.sleep(0.2)
        yield Running(name, port, pgid)
    finally:
        if procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(procs[0].pid, signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(prefix, ignore_errors=True)


def wrk(args: argparse.Namespace, port: int, seconds: int, extra: list[str]) -> dict[str, Any]:
    command = pinned(
        args.client_cpu,
        [
            "wrk",
            "-t1",
            f"-c{args.connections}",
            f"-d{seconds}s",
            "--latency",
            *extra,
            f"https://127.0.0.1:{port}/",
        ],
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def bench_requests(server: Running, args: argparse.Namespace, close: bool) -> dict[str, Any]:
    extra = ["-H", "Connection: close"] if close else []
    if args.warmup:
        wrk(args, server.port, args.warmup, extra)
    result = wrk(args, server.port, args.duration, extra)
    errors = sum(result["socket_errors"].values()) + result["non_2xx_3xx"]
    result["errors"] = errors
    return result


def bench_idle(server: Running, args: argparse.Namespace) -> dict[str, Any]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    time.sleep(0.5)
    before = group_rss_kib(server.pgid)
    sockets = []
    try:
        for _ in range(args.idle):
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock = context.wrap_socket(raw)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            got = b""
            while b"Hello, world!" not in got:
                got += sock.recv(4096)
            sockets.append(sock)
        time.sleep(1.0)
        after = group_rss_kib(server.pgid)
    finally:
        for sock in sockets:
            sock.close()
    return {"connections": args.idle, "rss_kib_per_connection": (after - before) / args.idle}


def bench_download(server: Running, args: argparse.Namespace) -> dict[str, Any]:
    url = f"https://127.0.0.1:{server.port}/file"
    size = Path(os.environ["BENCH_FILE"]).stat().st_size
    speeds = []
    for _ in range(args.repeat):
        done = subprocess.run(
            pinned(
                args.client_cpu,
                ["curl", "-sk", "-o", "/dev/null", "-w", "%{size_download} %{speed_download}", url],
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        got, speed = done.stdout.split()
        if int(got) != size:
            raise BenchError(f"{server.name} sent {got} of {size} bytes")
        speeds.append(float(speed))
    speeds.sort()
    return {"bytes": size, "bytes_per_s": speeds[len(speeds) // 2], "every_run": speeds}


def run_scenario(
    scenario: str, name: str, args: argparse.Namespace, cert: Path, key: Path
) -> dict[str, Any]:
    # The download's app sends BENCH_FILE by pathsend; "/" is the same hello world.
    app = "benchmarks.apps.stream_asgi:app" if scenario == "download" else HELLO
    with running(name, args, cert, key, app) as server:
        if scenario == "keepalive":
            return bench_requests(server, args, close=False)
        if scenario == "handshake":
            return bench_requests(server, args, close=True)
        if scenario == "idle":
            return bench_idle(server, args)
        return bench_download(server, args)


def headline(scenario: str, result: dict[str, Any]) -> float:
    return {
        "keepalive": result.get("requests_per_s"),
        "handshake": result.get("requests_per_s"),
        "idle": result.get("rss_kib_per_connection"),
        "download": result.get("bytes_per_s"),
    }[scenario]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="downloads per server")
    parser.add_argument("--file-size", type=int, default=1 << 30)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    workdir = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    cert, key = make_certificate(workdir)
    bench_file = workdir / "file.bin"
    with bench_file.open("wb") as f:
        f.truncate(args.file_size)
    os.environ["BENCH_FILE"] = str(bench_file)
    results: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        results[scenario] = {}
        for name in SCENARIOS[scenario]:
            try:
                result = run_scenario(scenario, name, args, cert, key)
            except BenchError as exc:
                result = {"error": str(exc)}
            results[scenario][name] = result
            value = headline(scenario, result) if "error" not in result else None
            print(
                f"{scenario:10} {name:14} {value if value is not None else result['error'][:200]}",
                flush=True,
            )
    print()
    print(f"{'scenario':10} {'ratio':28} value")
    ratios = {}
    for scenario, ours, theirs in RATIOS:
        if scenario not in results:
            continue
        a, b = results[scenario].get(ours, {}), results[scenario].get(theirs, {})
        if "error" in a or "error" in b or not a or not b:
            continue
        value = headline(scenario, a) / headline(scenario, b)
        ratios[f"{scenario}: {ours} / {theirs}"] = value
        print(f"{scenario:10} {ours + ' / ' + theirs:28} {value:.2f}x")
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.output / f"tls-{stamp}.json"
    out.write_text(json.dumps({"results": results, "ratios": ratios}, indent=2))
    print(f"\nresults: {out}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
