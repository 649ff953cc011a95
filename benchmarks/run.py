"""Side-by-side HTTP benchmark: Pyre against uvicorn and granian on one machine.

Each server runs the same ASGI hello world (benchmarks/apps/hello_asgi.py), one
worker, pinned to one CPU with ``taskset``; wrk runs pinned to another CPU. The native
interfaces run the same hello world too: Pyre's PSGI (``pyre-psgi``,
apps/hello_psgi.py) and granian's RSGI (``granian-rsgi``, apps/hello_rsgi.py). For each
server: start it on 127.0.0.1 and a free port, wait until it answers, check the
response, warm up, measure, stop it. Results are printed as a table with the ratios
from this same run (pyre / uvicorn, pyre / granian, pyre-psgi / granian-rsgi,
pyre-psgi / pyre, pyre-2-workers / pyre, pyre-access-log / pyre), and written to
benchmarks/results/ as JSON and a PNG bar chart (plus latest.json / latest.png).
``pyre-access-log`` is the ``pyre`` hello world with an access line per request
written to the server's log file.

``pyre-2-workers`` is the same ASGI hello world under Pyre's supervisor (``--workers
2``: two forked workers, each with a SO_REUSEPORT listener on Linux). It is the one
target that is not pinned to one CPU: its workers may use both the server CPU and
wrk's CPU, so on a 2-core machine wrk shares a core with a worker. That is the honest
configuration on 2 cores (pinning two workers to one core would measure nothing more
than one worker), but it means ``pyre-2-workers / pyre`` is well under 2x there: wrk's
own CPU time comes out of the second worker's. Stopping it (SIGINT to the supervisor)
stops its workers, which run in their own process groups; any left afterwards are
killed and reported.

Run it through ``make bench`` (scripts/bench.sh), which prepares .venv-bench with the
pinned peers and Pyre built from the working tree, then calls this file with that
environment's python. Every server command is looked up next to ``sys.executable``.

Exit status: 0 when at least one requested server was measured, 1 when every
requested server failed, 2 on bad arguments or a missing tool.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = "benchmarks.apps.hello_asgi:app"
EXPECTED_BODY = b"Hello, world!"
USER = {"id": 42, "name": "user 42"}
# The typed scenarios: a typed GET and a validated JSON body (benchmarks/apps/typed_*.py).
TYPED = {"id": 42, "name": "user 42", "limit": 5}
ITEM = {"name": "pen", "price": 2.5, "tags": ["office", "blue"]}
BIN = Path(sys.executable).parent
# robyn's own environment (it pins an older uvloop), made by scripts/bench.sh.
ROBYN_PYTHON = ROOT / ".venv-robyn" / "bin" / "python"
# The pure-Rust hello world (benchmarks/hyper-hello), built by scripts/bench.sh.
HYPER_HELLO = ROOT / "benchmarks" / "hyper-hello" / "target" / "release" / "hyper-hello"


@dataclass(frozen=True)
class Target:
    """One measured configuration: a server program, the app it serves, the path wrk
    requests and what a correct answer is."""

    program: str  # pyre, uvicorn, granian, socketify, robyn or hyper
    app: str
    path: str = "/"
    json_body: Any = None  # a JSON answer (compared parsed), else the hello text
    interface: str = "asgi"  # granian's and socketify's --interface
    access_log: bool = False  # pyre only: log every request (to the log file)
    workers: int = 1  # Pyre's --workers; above 1 the server may use both CPUs
    request_body: bytes | None = None  # set: the request is a POST of this JSON

    def check(self, content_type: str, body: bytes) -> str | None:
        """Why the answer is wrong, or None."""
        if self.json_body is not None:
            if not content_type.startswith("application/json"):
                return f"wrong content-type {content_type!r}"
            try:
                value = json.loads(body)
            except ValueError:
                return f"not JSON: {body[:80]!r}"
            return None if value == self.json_body else f"wrong JSON {value!r}"
        if body != EXPECTED_BODY:
            return f"wrong body {body[:80]!r}"
        if not content_type.startswith("text/plain"):
            return f"wrong content-type {content_type!r}"
        return None


def _user(program: str, app: str) -> Target:
    return Target(program, f"benchmarks.apps.{app}:app", "/user/42", USER)


def _typed(program: str, app: str) -> Target:
    return Target(program, f"benchmarks.apps.{app}:app", "/typed/42?limit=5", TYPED)


def _body(program: str, app: str, path: str = "/items") -> Target:
    body = json.dumps(ITEM).encode()
    return Target(program, f"benchmarks.apps.{app}:app", path, ITEM, request_body=body)


TARGETS = {
    # Hello world, ASGI everywhere.
    "pyre": Target("pyre", APP),
    # The same with the access log on, a line per request into the server's log file:
    # what the access log costs.
    "pyre-access-log": Target("pyre", APP, access_log=True),
    "uvicorn": Target("uvicorn", APP),
    "granian": Target("granian", APP),
    # Hello world on the native interfaces: Pyre's PSGI and granian's RSGI.
    "pyre-psgi": Target("pyre", "benchmarks.apps.hello_psgi:app"),
    # The ASGI hello world under the supervisor: two workers.
    "pyre-2-workers": Target("pyre", APP, workers=2),
    "granian-rsgi": Target("granian", "benchmarks.apps.hello_rsgi:app", interface="rsgi"),
    # Hello world on socketify (uWebSockets, C): its native API and its ASGI server.
    "socketify": Target("socketify", "benchmarks.apps.hello_socketify:run", interface="socketify"),
    "socketify-asgi": Target("socketify", APP),
    # Hello world on robyn (a Python framework on a Rust runtime), a sync handler.
    "robyn": Target("robyn", "benchmarks/apps/hello_robyn.py"),
    # The limit: hyper on one tokio thread, no Python (benchmarks/hyper-hello).
    "hyper": Target("hyper", ""),
    # A framework endpoint, GET /user/{id:int} returning JSON.
    "framework": _user("pyre", "user_framework"),
    "starlette-pyre": _user("pyre", "user_starlette"),
    "starlette-uvicorn": _user("uvicorn", "user_starlette"),
    "fastapi-uvicorn": _user("uvicorn", "user_fastapi"),
    # Typed: GET /typed/{id:int}?limit=5 (path and query bound by annotation, a
    # response model), and POST /items with a JSON body validated into a type.
    "framework-typed": _typed("pyre", "typed_framework"),
    "fastapi-typed": _typed("uvicorn", "typed_fastapi"),
    "framework-body": _body("pyre", "typed_framework"),
    "framework-body-pydantic": _body("pyre", "typed_framework", "/items-pydantic"),
    "fastapi-body": _body("uvicorn", "typed_fastapi"),
}
KNOWN_SERVERS = tuple(TARGETS)
# Distributions whose versions go into the results, per server program.
DISTRIBUTIONS = {
    "pyre": ("pyre-http",),
    "uvicorn": ("uvicorn", "httptools", "uvloop"),
    "granian": ("granian", "uvloop"),
    "socketify": ("socketify",),
    "robyn": (),  # in .venv-robyn: benchmarks/requirements-robyn.txt pins it
    "hyper": (),
}
FRAMEWORKS = ("starlette", "fastapi", "pydantic", "orjson")
# The ratio rows: (ours, theirs), each from the same run.
RATIOS = (
    ("pyre", "uvicorn"),
    ("pyre", "granian"),
    ("pyre-psgi", "granian-rsgi"),
    ("pyre", "socketify-asgi"),
    ("pyre", "robyn"),
    ("pyre-psgi", "socketify"),
    ("pyre-psgi", "hyper"),
    ("pyre", "hyper"),
    ("pyre-psgi", "pyre"),
    ("pyre-access-log", "pyre"),
    ("pyre-2-workers", "pyre"),
    ("framework", "fastapi-uvicorn"),
    ("framework", "starlette-pyre"),
    ("framework-typed", "fastapi-typed"),
    ("framework-body", "fastapi-body"),
    ("framework-body-pydantic", "fastapi-body"),
    ("starlette-pyre", "starlette-uvicorn"),
)


class BenchError(Exception):
    """A server could not be measured; the message says why."""


def server_command(name: str, port: int, app: str | None = None) -> list[str]:
    """The command line that serves target ``name``'s app (or ``app``) on
    127.0.0.1:port, with the target's workers (one unless it says otherwise)."""
    host = "127.0.0.1"
    target = TARGETS[name]
    app = app or target.app
    program = target.program
    if program == "pyre":
        # --interface auto: the PSGI app is an object with __psgi__.
        workers = ["--workers", str(target.workers)] if target.workers > 1 else []
        return [
            str(BIN / "pyre-http"),
            app,
            "--host",
            host,
            "--port",
            str(port),
            *workers,
            *(
                ("--access-log", "--log-level", "info")
                if target.access_log
                else ("--no-access-log", "--log-level", "warning")
            ),
        ]
    if program == "uvicorn":
        return [
            str(BIN / "uvicorn"),
            app,
            "--host",
            host,
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    if program == "granian":
        # granian 2.8: one worker, single-threaded Rust runtime (one runtime thread),
        # HTTP/1 only, no websockets, uvloop, asyncio tasks: its fastest one-core ASGI
        # settings here (--runtime-mode mt and --task-impl rust measured slower).
        return [
            str(BIN / "granian"),
            "--interface",
            target.interface,
            "--host",
            host,
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
            app,
        ]
    if program == "socketify":
        # One process (its default); the task factory's preallocation left at its
        # default (100,000 Task objects), the fastest setting its docs give.
        return [
            str(BIN / "python"),
            "-m",
            "socketify",
            app,
            "--interface",
            target.interface,
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
            "--disable-listen-log",
            "true",
        ]
    if program == "robyn":
        # One process, one worker thread: its fastest single-core settings.
        return [
            str(ROBYN_PYTHON),
            str(ROOT / app),
            "--host",
            host,
            "--port",
            str(port),
            "--processes",
            "1",
            "--workers",
            "1",
            "--log-level",
            "WARN",
        ]
    if program == "hyper":
        return [str(HYPER_HELLO), f"{host}:{port}"]
    raise ValueError(f"unknown server {name!r}")


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(
    port: int, timeout: float, path: str = "/", body: bytes | None = None
) -> tuple[int, str, bytes]:
    """One plain GET (a POST of JSON ``body`` when given) over a fresh connection:
    (status, content-type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request("GET" if body is None else "POST", path, body=body, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return response.status, response.getheader("content-type") or "", body
    finally:
        conn.close()


def read_log(path: Path, limit: int = 2000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def wait_until_answers(
    proc: subprocess.Popen[bytes],
    port: int,
    timeout: float,
    log: Path,
    path: str = "/",
    body: bytes | None = None,
) -> None:
    """Poll with a TCP connect and a GET until the server answers, it exits, or time is up."""
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            output = read_log(log)
            raise BenchError(
                f"exited with code {code} before answering on port {port}"
                + (f"; its output:\n{output}" if output else " (no output)")
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            http_get(port, timeout=2.0, path=path, body=body)
            return
        except OSError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        except http.client.HTTPException as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    output = read_log(log)
    raise BenchError(
        f"did not answer on port {port} within {timeout:.0f} s (last error: {last_error})"
        + (f"; its output:\n{output}" if output else "")
    )


def verify_response(port: int, target: Target | None = None) -> None:
    """Refuse to benchmark a server that does not answer its request correctly."""
    target = target or TARGETS["pyre"]
    try:
        status, content_type, body = http_get(
            port, timeout=5.0, path=target.path, body=target.request_body
        )
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"check request failed: {type(exc).__name__}: {exc}") from exc
    if status != 200:
        raise BenchError(f"wrong response: status {status}, body {body[:80]!r}")
    problem = target.check(content_type, body)
    if problem:
        raise BenchError(f"wrong response: {problem}")


def descendants(pid: int) -> list[int]:
    """The live descendants of ``pid`` (children first), from /proc."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        children: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{parent}/task/{task}/children").read_text()
                    children.extend(int(c) for c in text.split())
        found.extend(children)
        pending.extend(children)
    return found


def cmdline(pid: int) -> bytes | None:
    """A process's command line, or None once it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rpartition(")")[2].split()[0] == "Z":
            return None
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None


def kill_leftovers(processes: dict[int, bytes | None]) -> list[int]:
    """SIGKILLs the processes (pid: command line when seen) still running with the
    same command line; returns their pids."""
    left = [pid for pid, cmd in processes.items() if cmd and cmdline(pid) == cmd]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return left


def stop_server(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGINT, then SIGKILL to the server's whole process group after `timeout`.

    Descendants in other process groups (Pyre's supervised workers each have their
    own) are noted before the signal; any still running once the server has exited
    are killed too and reported, so nothing is left behind."""
    children = {pid: cmdline(pid) for pid in descendants(proc.pid)}
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  server pid {proc.pid} ignored SIGINT for {timeout:.0f} s: SIGKILL")
    # The server was started in its own session, so its process group id is its pid:
    # this reaches worker processes too (granian) and nothing else.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    left = kill_leftovers(children)
    if left:
        print(f"  warning: processes {left} outlived server pid {proc.pid}: SIGKILL")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"unrecognised wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency distribution (ms) and errors from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)
    if not rps:
        raise BenchError(f"could not read requests/sec from wrk output:\n{output}")
    result: dict[str, Any] = {"requests_per_s": float(rps.group(1))}
    latency = {}
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.M):
        latency[f"p{pct}_ms"] = to_ms(value)
    if "p50_ms" not in latency or "p99_ms" not in latency:
        raise BenchError(f"could not read the latency distribution from wrk output:\n{output}")
    avg = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", output, re.M)
    if avg:
        latency["avg_ms"] = to_ms(avg.group(1))
        latency["stdev_ms"] = to_ms(avg.group(2))
        latency["max_ms"] = to_ms(avg.group(3))
    result["latency"] = latency
    total = re.search(r"^\s+(\d+) requests in ([0-9.]+)(\w+)", output, re.M)
    if total:
        result["requests"] = int(total.group(1))
        result["elapsed_s"] = to_ms(total.group(2) + total.group(3)) / 1000.0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True))
        if errors
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx_3xx"] = int(non2xx.group(1)) if non2xx else 0
    return result


# --------------------------------------------------------------------------- running


@dataclass
class Settings:
    duration: int
    warmup: int
    connections: int
    threads: int
    server_cpu: int | None
    client_cpu: int | None
    start_timeout: float
    stop_timeout: float


@dataclass
class Outcome:
    server: str
    ok: bool = False
    error: str | None = None
    command: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def pinned(cpu: int | str | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if cpu is not None else command


def server_cpus(settings: Settings, target: Target) -> int | str | None:
    """The CPU(s) a target's server runs on: the server CPU for one worker; for more,
    the server CPU and wrk's (on a 2-core machine, every CPU there is)."""
    if target.workers == 1 or settings.server_cpu is None or settings.client_cpu is None:
        return settings.server_cpu
    return f"{settings.server_cpu},{settings.client_cpu}"


def run_wrk(
    settings: Settings, port: int, seconds: int, path: str = "/", body: bytes | None = None
) -> str:
    script: list[str] = []
    lua: Path | None = None
    if body is not None:
        # A POST of JSON: wrk takes method, body and headers from a Lua script.
        lua = Path(tempfile.mkstemp(prefix="wrk-post-", suffix=".lua")[1])
        lua.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(body.decode())}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        script = ["-s", str(lua)]
    command = pinned(
        settings.client_cpu,
        [
            "wrk",
            f"-t{settings.threads}",
            f"-c{settings.connections}",
            f"-d{seconds}s",
            "--latency",
            *script,
            f"http://127.0.0.1:{port}{path}",
        ],
    )
    return wrk_output(command, seconds + 30, lua)


def wrk_output(command: list[str], timeout: float, lua: Path | None) -> str:
    """Runs a wrk command line and returns its output; the Lua script (if any) is
    removed afterwards. A timeout or a non-zero exit is a BenchError."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {timeout:g} s") from exc
    finally:
        if lua is not None:
            lua.unlink(missing_ok=True)
    if done.returncode != 0:
        raise BenchError(f"wrk exited with code {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def bench_server(name: str, settings: Settings, logdir: Path) -> Outcome:
    outcome = Outcome(server=name)
    target = TARGETS[name]
    port = free_port()
    command = server_command(name, port)
    outcome.command = pinned(server_cpus(settings, target), command)
    if not Path(command[0]).exists():
        outcome.error = f"not installed: {command[0]} does not exist"
        return outcome
    log = logdir / f"{name}.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("VIRTUAL_ENV", None)
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            outcome.command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_answers(
            proc, port, settings.start_timeout, log, target.path, target.request_body
        )
        verify_response(port, target)
        if settings.warmup > 0:
            print(f"  warming up {settings.warmup} s")
            run_wrk(settings, port, settings.warmup, target.path, target.request_body)
            verify_response(port, target)
        print(f"  measuring {settings.duration} s")
        output = run_wrk(settings, port, settings.duration, target.path, target.request_body)
        if proc.poll() is not None:
            raise BenchError(f"server exited (code {proc.returncode}) during the run")
        verify_response(port, target)
        outcome.result = parse_wrk(output)
        outcome.result["wrk_output"] = output
        outcome.ok = True
    except BenchError as exc:
        outcome.error = str(exc)
    finally:
        stop_server(proc, settings.stop_timeout)
    return outcome


# --------------------------------------------------------------------------- reporting


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def report_progress(name: str, outcome: Outcome) -> None:
    if outcome.ok:
        r = outcome.result
        print(
            f"  {r['requests_per_s']:,.0f} requests/s, "
            f"p50 {r['latency']['p50_ms']:.2f} ms, p99 {r['latency']['p99_ms']:.2f} ms"
        )
        errors = sum(r["socket_errors"].values()) + r["non_2xx_3xx"]
        if errors:
            print(
                f"  warning: {r['socket_errors']} socket errors, "
                f"{r['non_2xx_3xx']} non-2xx/3xx responses"
            )
    else:
        label = "Pyre's server" if name.startswith("pyre") else name
        print(f"  {label} is UNAVAILABLE: {outcome.error}")


def median_outcome(runs: list[Outcome]) -> Outcome:
    """The run with the median requests/s (the lower middle for an even count), whole:
    its latencies come from the same wrk run as its throughput. Every run's requests/s
    is kept in ``rounds_requests_per_s``. A server that failed in every round keeps its
    first failure."""
    good = sorted((o for o in runs if o.ok), key=lambda o: o.result["requests_per_s"])
    if not good:
        return runs[0]
    chosen = good[(len(good) - 1) // 2]
    chosen.result["rounds_requests_per_s"] = [
        o.result["requests_per_s"] if o.ok else None for o in runs
    ]
    failures = [o.error for o in runs if not o.ok]
    if failures:
        chosen.result["failed_rounds"] = failures
    return chosen


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def compute_ratios(outcomes: dict[str, Outcome]) -> dict[str, dict[str, float | None]]:
    ratios = {}
    for name, peer in RATIOS:
        if name not in outcomes or peer not in outcomes:
            continue
        ours, other = outcomes[name], outcomes[peer]
        if ours.ok and other.ok:
            mine, theirs = ours.result, other.result
            ratios[f"{name} / {peer}"] = {
                "requests_per_s": ratio(mine["requests_per_s"], theirs["requests_per_s"]),
                "p99": ratio(mine["latency"]["p99_ms"], theirs["latency"]["p99_ms"]),
            }
        else:
            ratios[f"{name} / {peer}"] = {"requests_per_s": None, "p99": None}
    return ratios


def format_table(outcomes: dict[str, Outcome], ratios: dict[str, dict[str, float | None]]) -> str:
    rows = [("server", "requests/s", "p50", "p99", "every round (requests/s)")]
    for name, outcome in outcomes.items():
        if outcome.ok:
            lat = outcome.result["latency"]
            every = outcome.result.get("rounds_requests_per_s", [])
            rows.append(
                (
                    name,
                    f"{outcome.result['requests_per_s']:,.0f}",
                    f"{lat['p50_ms']:.2f} ms",
                    f"{lat['p99_ms']:.2f} ms",
                    " ".join("failed" if r is None else f"{r:,.0f}" for r in every),
                )
            )
        else:
            rows.append((name, "failed", "-", "-", ""))
    for label, values in ratios.items():
        rps, p99 = values["requests_per_s"], values["p99"]
        rows.append(
            (
                label,
                f"{rps:.2f}x" if rps is not None else "n/a",
                "",
                f"{p99:.2f}x" if p99 is not None else "n/a",
                "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 4)]
        cells.append(row[4].ljust(widths[4]))
        lines.append("  ".join(cells).rstrip())
        if index == 0 or (index == len(outcomes) and ratios):
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table_notes(names: list[str], settings: Settings) -> list[str]:
    """Notes printed under the table: where the multi-worker targets ran."""
    notes = []
    for name in names:
        target = TARGETS[name]
        if target.workers == 1:
            continue
        cpus = server_cpus(settings, target)
        where = f"on CPUs {cpus}" if cpus is not None else "unpinned"
        notes.append(
            f"note: {name} runs {target.workers} workers {where}, so wrk (CPU "
            f"{settings.client_cpu}) shares a core with a worker; the other servers run on "
            f"CPU {settings.server_cpu} alone. On 2 cores that is the honest "
            f"configuration; wrk's CPU time comes out of the workers'."
        )
    return notes


def write_chart(path: Path, outcomes: dict[str, Outcome], title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart written", file=sys.stderr)
        return False
    measured = [o for o in outcomes.values() if o.ok]
    if not measured:
        return False
    names = [o.server for o in measured]
    values = [o.result["requests_per_s"] for o in measured]
    palette = {
        "pyre": "#d9480f",
        "pyre-psgi": "#f76707",
        "pyre-access-log": "#ff922b",
        "uvicorn": "#1c7ed6",
        "granian": "#37b24d",
        "granian-rsgi": "#74b816",
    }
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    bars = ax.bar(names, values, color=[palette.get(n, "#868e96") for n in names])
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f"{value:,.0f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_ylabel("requests/s (higher is better)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, max(values) * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Side-by-side HTTP benchmark of Pyre, uvicorn and granian (hello world).",
    )
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per server")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per server")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds over all servers; each server's median round is reported",
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--servers",
        default=",".join(KNOWN_SERVERS),
        help="comma-separated, from: " + ", ".join(KNOWN_SERVERS),
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--server-cpu", type=int, default=0, help="CPU the server is pinned to")
    parser.add_argument("--client-cpu", type=int, default=1, help="CPU wrk is pinned to")
    parser.add_argument(
        "--start-timeout", type=float, default=20.0, help="seconds for a server to answer"
    )
    parser.add_argument(
        "--stop-timeout", type=float, default=10.0, help="seconds after SIGINT before SIGKILL"
    )
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in servers if s not in KNOWN_SERVERS]
    if not servers or unknown or len(set(servers)) != len(servers):
        parser.error(f"--servers must name distinct servers from {', '.join(KNOWN_SERVERS)}")
    if (
        args.duration < 1
        or args.warmup < 0
        or args.connections < 1
        or args.threads < 1
        or args.rounds < 1
    ):
        parser.error("--duration, --connections and --rounds must be >= 1, --warmup >= 0")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (a wrk rule)")
    args.servers = servers
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress and warnings in order
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (scripts/bench.sh installs it)", file=sys.stderr)
            return 2
    available = sorted(os.sched_getaffinity(0))
    server_cpu: int | None = args.server_cpu
    client_cpu: int | None = args.client_cpu
    if server_cpu not in available or client_cpu not in available or server_cpu == client_cpu:
        print(
            f"warning: CPUs {args.server_cpu} and {args.client_cpu} are not two distinct "
            f"available CPUs (available: {available}); running unpinned",
            file=sys.stderr,
        )
        server_cpu = client_cpu = None
    settings = Settings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        start_timeout=args.start_timeout,
        stop_timeout=args.stop_timeout,
    )
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(
            f"warning: the machine is busy (load average {load_before[0]:.2f}): other work "
            "competes for the CPUs and lowers every figure; ratios suffer less",
            file=sys.stderr,
        )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    print(
        f"hello world and GET /user/42, wrk -t{settings.threads} -c{settings.connections} "
        f"-d{settings.duration}s (warm-up {settings.warmup} s), {args.rounds} rounds "
        "(each server's median round is reported), "
        f"server on CPU {server_cpu}, wrk on CPU {client_cpu}"
    )

    runs: dict[str, list[Outcome]] = {name: [] for name in args.servers}
    with tempfile.TemporaryDirectory(prefix="pyre-bench-") as logdir:
        for round_number in range(1, args.rounds + 1):
            for name in args.servers:
                print(f"{name} (round {round_number} of {args.rounds}):")
                outcome = bench_server(name, settings, Path(logdir))
                runs[name].append(outcome)
                report_progress(name, outcome)
    outcomes = {name: median_outcome(name_runs) for name, name_runs in runs.items()}

    ratios = compute_ratios(outcomes)
    print()
    print(format_table(outcomes, ratios))
    notes = table_notes(args.servers, settings)
    for note in notes:
        print(note)

    versions = {
        name: {dist: version_of(dist) for dist in DISTRIBUTIONS[TARGETS[name].program]}
        for name in args.servers
    }
    versions["frameworks"] = {dist: version_of(dist) for dist in FRAMEWORKS}
    machine = {
        "cpu_model": cpu_model(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "wrk": wrk_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    report = {
        "benchmark": "http-hello-asgi",
        "timestamp_utc": stamp,
        "machine": machine,
        "settings": {
            "rounds": args.rounds,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "wrk_threads": settings.threads,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "apps": {name: f"{TARGETS[name].app} {TARGETS[name].path}" for name in args.servers},
            "workers": {name: TARGETS[name].workers for name in args.servers},
            "server_cpus": {name: server_cpus(settings, TARGETS[name]) for name in args.servers},
            "notes": notes,
        },
        "versions": versions,
        "results": {
            name: {
                "ok": o.ok,
                "error": o.error,
                "command": o.command,
                **o.result,
            }
            for name, o in outcomes.items()
        },
        "ratios": ratios,
    }
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    json_path = output / f"http-{stamp}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    shutil.copyfile(json_path, output / "latest.json")
    print(f"\nwrote {json_path}")
    png_path = output / f"http-{stamp}.png"
    title = (
        f"hello-world ASGI, 1 server core{' (multi-worker: 2, shared with wrk)' if notes else ''}"
        f", wrk -c{settings.connections} "
        f"-d{settings.duration}s\n{machine['cpu_model']}, {machine['nproc']} CPUs, "
        f"Python {machine['python']}, {stamp}"
    )
    if write_chart(png_path, outcomes, title):
        shutil.copyfile(png_path, output / "latest.png")
        print(f"wrote {png_path}")

    failed = [name for name, o in outcomes.items() if not o.ok]
    if failed:
        print(f"\nnot measured: {', '.join(failed)}", file=sys.stderr)
    return 1 if len(failed) == len(outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
