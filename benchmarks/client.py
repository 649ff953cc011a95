"""Client benchmark: pyre.client against httpx and aiohttp, all against one nginx on
loopback, in the same run (see benchmarks/README.md, "Client").

Scenarios, each client in a fresh process of its own (so its RSS is its own), the
clients taking turns within each repetition:

    requests  10,000 small GETs (a 13-byte static file) over 8 keep-alive connections:
              8 tasks of 1,250 sequential requests sharing one client limited to 8
              connections; requests/s, median of --repeat runs
    download  a 1 GiB static file streamed and discarded, after one untimed download
              on the same connection; MiB/s, median of --repeat
    slow      the same 1 GiB read by a consumer paced at --slow-rate bytes/s; the
              client process's peak RSS growth (VmHWM) over its RSS after a warm-up
              request

With ``--tls`` the same nginx listens with ``ssl`` (TLS 1.3) on a certificate for
127.0.0.1 issued by a CA made with openssl for the run, and every client verifies the
server against that CA alone: pyre ``Client(verify=ca.pem)``, httpx
``AsyncClient(verify=ssl_context)``, aiohttp ``TCPConnector(ssl=ssl_context)``. The
default scenario is then ``requests`` (issue 17: at least 3x httpx and 1.5x aiohttp).
As in plain mode the warm-up request makes the first connection and the timed part
the other 7 (7 handshakes in 10,000 requests). Results go to ``client-tls-*.json``.

Every repetition is one round of all the clients; the report gives each client's
median and, for pyre against each peer, the median of the per-round ratios (the
machine's drifts touch the clients of one round alike) beside the ratio of medians.

nginx is pinned to --server-cpu and the clients to --client-cpu. All clients run on
uvloop. Run it through ``make bench-client`` / ``make bench-client-tls``
(scripts/bench.sh --client / --client-tls prepares .venv-bench with
benchmarks/requirements.txt, nginx, openssl and taskset).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ("pyre", "httpx", "aiohttp")
GIB = 1 << 30
SMALL = b"Hello, world!"


# The child side: one client, one scenario, results as JSON on stdout.


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Pacer:
    """Sleeps so that ``n`` bytes taken so far stay at or under ``rate`` bytes/s."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.perf_counter()

    async def pace(self, total: int) -> None:
        if self.rate <= 0:
            return
        ahead = total / self.rate - (time.perf_counter() - self.start)
        if ahead > 0:
            await asyncio.sleep(ahead)


def ssl_context(args: argparse.Namespace) -> ssl.SSLContext:
    """The peers' verification: the run's CA as the only root."""
    return ssl.create_default_context(cafile=args.cafile)


async def pyre_child(scenario: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    from pyre.client import Client, Limits

    tls = {"verify": args.cafile} if args.cafile else {}
    async with Client(limits=Limits(max_connections=8), **tls) as client:

        async def get() -> None:
            response = await client.get(f"{base}/small.txt")
            assert response.status == 200 and response.content == SMALL

        async def download(pacer: Pacer | None) -> int:
            total = 0
            async with client.stream("GET", f"{base}/big.bin") as response:
                async for chunk in response.iter_bytes():
                    total += len(chunk)
                    if pacer:
                        await pacer.pace(total)
            return total

        return await scenario_run(scenario, get, download, args)


async def httpx_child(scenario: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    tls = {"verify": ssl_context(args)} if args.cafile else {}
    async with httpx.AsyncClient(limits=limits, timeout=60, **tls) as client:

        async def get() -> None:
            response = await client.get(f"{base}/small.txt")
            assert response.status_code == 200 and response.content == SMALL

        async def download(pacer: Pacer | None) -> int:
            total = 0
            async with client.stream("GET", f"{base}/big.bin") as response:
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if pacer:
                        await pacer.pace(total)
            return total

        return await scenario_run(scenario, get, download, args)


async def aiohttp_child(scenario: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=8, ssl=ssl_context(args) if args.cafile else True)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def get() -> None:
            async with session.get(f"{base}/small.txt") as response:
                body = await response.read()
                assert response.status == 200 and body == SMALL

        async def download(pacer: Pacer | None) -> int:
            total = 0
            async with session.get(f"{base}/big.bin") as response:
                async for chunk in response.content.iter_any():
                    total += len(chunk)
                    if pacer:
                        await pacer.pace(total)
            return total

        return await scenario_run(scenario, get, download, args)


async def scenario_run(
    scenario: str,
    get: Callable[[], Awaitable[None]],
    download: Callable[[Pacer | None], Awaitable[int]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    await get()  # warm-up: one connection made, imports done
    if scenario == "requests":
        per_task = args.requests // 8

        async def worker() -> None:
            for _ in range(per_task):
                await get()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(8)))
        elapsed = time.perf_counter() - start
        return {"requests_per_s": per_task * 8 / elapsed}
    if scenario == "download":
        # One untimed download first: the connection's TCP windows grow during the
        # first (for every client alike), which is not what is measured here.
        await download(None)
        start = time.perf_counter()
        total = await download(None)
        elapsed = time.perf_counter() - start
        assert total == GIB, total
        return {"mib_per_s": total / elapsed / (1 << 20)}
    if scenario == "slow":
        base_rss = rss_kib()
        total = await download(Pacer(args.slow_rate))
        assert total == GIB, total
        return {"rss_growth_mib": (rss_kib("VmHWM") - base_rss) / 1024}
    raise ValueError(scenario)


def child(args: argparse.Namespace) -> None:
    import uvloop

    runner = {"pyre": pyre_child, "httpx": httpx_child, "aiohttp": aiohttp_child}[args.child]
    result = uvloop.run(runner(args.scenario, args.base, args))
    print(json.dumps(result))


# The parent side: nginx, the runs, the report.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA for the run (P-256, openssl) and a certificate it issues for 127.0.0.1
    and localhost: (ca.pem, cert.pem, key.pem)."""
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    ext = directory / "cert.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=pyre bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


def start_nginx(
    tmp: Path, cpu: int, tls: tuple[Path, Path] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """nginx serving small.txt and big.bin on loopback, over TLS 1.3 with ``tls``
    (certificate, key); returns the process and the base URL."""
    root = tmp / "root"
    root.mkdir()
    (root / "small.txt").write_bytes(SMALL)
    with open(root / "big.bin", "wb") as f:
        f.truncate(GIB)  # sparse: nginx sends it by sendfile from the page cache
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    listen = f"listen 127.0.0.1:{port};"
    if tls:
        listen = f"""listen 127.0.0.1:{port} ssl;
        ssl_certificate {tls[0]};
        ssl_certificate_key {tls[1]};
        ssl_protocols TLSv1.3;"""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temp}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {{
        {listen}
        root {root};
    }}
}}
"""
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(["taskset", "-c", str(cpu), nginx, "-p", str(tmp), "-c", str(conf)])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (tmp / "error.log").read_text()
                raise SystemExit("nginx did not start: " + log) from None
            time.sleep(0.05)
    # Warm the page cache: the first read of the file is slower for whoever comes first.
    with socket.create_connection(("127.0.0.1", port)) as raw:
        sock = raw
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(raw)
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        while sock.recv(1 << 20):
            pass
    return proc, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


def run_child(name: str, scenario: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        "taskset", "-c", str(args.client_cpu), sys.executable, __file__,
        "--child", name, "--scenario", scenario, "--base", base,
        "--requests", str(args.requests), "--slow-rate", str(args.slow_rate),
    ]  # fmt: skip
    if args.cafile:
        command += ["--cafile", str(args.cafile)]
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", choices=CLIENTS)
    parser.add_argument("--scenario", choices=("requests", "download", "slow"))
    parser.add_argument("--base")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--scenarios", help="default: requests,download,slow (with --tls: requests)"
    )
    parser.add_argument("--tls", action="store_true", help="nginx over TLS 1.3, verified")
    parser.add_argument("--cafile", type=Path, help=argparse.SUPPRESS)  # the child's
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slow-rate", type=float, default=128 * 1024 * 1024)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    clients = [c for c in args.clients.split(",") if c]
    default = "requests" if args.tls else "requests,download,slow"
    scenarios = [s for s in (args.scenarios or default).split(",") if s]
    results: dict[str, dict[str, Any]] = {s: {} for s in scenarios}
    with tempfile.TemporaryDirectory(prefix="pyre-bench-client-") as tmp:
        tls = None
        if args.tls:
            args.cafile, cert, key = make_pki(Path(tmp))
            tls = (cert, key)
        nginx, base = start_nginx(Path(tmp), args.server_cpu, tls)
        try:
            for scenario in scenarios:
                repeat = 1 if scenario == "slow" else args.repeat
                # Round-robin, so that the machine's drifts touch every client alike.
                all_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
                for _ in range(repeat):
                    for name in clients:
                        all_runs[name].append(run_child(name, scenario, base, args))
                for name, runs in all_runs.items():
                    errors = [r["error"] for r in runs if "error" in r]
                    if errors:
                        results[scenario][name] = {"error": errors[0]}
                    else:
                        key = next(iter(runs[0]))
                        results[scenario][name] = {
                            key: statistics.median(r[key] for r in runs),
                            "runs": [r[key] for r in runs],
                        }
                    print(f"{scenario:9} {name:8} {results[scenario][name]}", flush=True)
                add_ratios(results[scenario])
        finally:
            nginx.terminate()
            nginx.wait(10)
    report = render(results, args)
    print(report)
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = "client-tls" if args.tls else "client"
    (args.output / f"{name}-{stamp}.md").write_text(report)
    (args.output / f"{name}-{stamp}.json").write_text(json.dumps(results, indent=2))


def add_ratios(by_client: dict[str, Any]) -> None:
    """pyre / each peer, round by round (run i of every client is round i), and their
    median, under the peer's result as ``pyre_ratio`` and ``pyre_ratios``."""
    ours = by_client.get("pyre", {}).get("runs")
    if not ours:
        return
    for name, result in by_client.items():
        if name == "pyre" or "runs" not in result:
            continue
        ratios = [a / b for a, b in zip(ours, result["runs"], strict=True) if b]
        if ratios:
            result["pyre_ratios"] = ratios
            result["pyre_ratio"] = statistics.median(ratios)


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    versions = ", ".join(f"{d} {version(d)}" for d in ("pyre-http", "httpx", "aiohttp", "uvloop"))
    transport = "HTTPS (TLS 1.3, verified against the run's CA)" if args.tls else "HTTP"
    lines = [
        f"# Client benchmark over {transport}",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.platform()}, Python "
        f"{platform.python_version()}; {versions}; nginx on CPU {args.server_cpu}, "
        f"clients on CPU {args.client_cpu}",
        "",
    ]
    units = {
        "requests": ("requests_per_s", "requests/s", "{:,.0f}"),
        "download": ("mib_per_s", "MiB/s", "{:,.0f}"),
        "slow": ("rss_growth_mib", "peak RSS growth, MiB", "{:.1f}"),
    }
    for scenario, by_client in results.items():
        key, unit, fmt = units[scenario]
        lines += [
            f"## {scenario}",
            "",
            f"| client | {unit} (median) | runs | pyre / client, median of rounds "
            "| pyre / client, of medians |",
            "|---|---|---|---|---|",
        ]
        ours = by_client.get("pyre", {}).get(key)
        for name, result in by_client.items():
            if key not in result:
                lines.append(f"| {name} | error: {result.get('error')} | | | |")
                continue
            runs = ", ".join(fmt.format(r) for r in result["runs"])
            rounds = f"{result['pyre_ratio']:.2f}" if "pyre_ratio" in result else ""
            ratio = f"{ours / result[key]:.2f}" if ours and result[key] else ""
            lines.append(f"| {name} | {fmt.format(result[key])} | {runs} | {rounds} | {ratio} |")
        lines.append("")
    if args.tls and "requests" in results:
        by_client = results["requests"]
        for peer, target in (("httpx", 3.0), ("aiohttp", 1.5)):
            got = by_client.get(peer, {}).get("pyre_ratio")
            if got is not None:
                verdict = "met" if got >= target else "NOT met"
                lines.append(f"- target pyre >= {target}x {peer}: {got:.2f}x, {verdict}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
