"""TechEmpower-style benchmark suite: the six TechEmpower tests (json, plaintext, db,
queries, fortunes, updates) on Pyre (ASGI, PSGI, pyre.framework) and its peers
(uvicorn, granian's RSGI, socketify, Robyn, FastAPI on uvicorn), against a real
PostgreSQL started for the run (benchmarks/tfb/postgres.py).

For each implementation: start it, one worker, on 127.0.0.1 and a free port, pinned
to one CPU; check every test against TechEmpower's rules (benchmarks/tfb/verify.py);
then, for each test that passed, warm up and measure with wrk pinned to the other CPU
(plaintext pipelined 16 deep, as TechEmpower does). A test that fails verification is
reported as failed with the reason and not measured. PostgreSQL runs on wrk's CPU, so
the server's CPU is the server's alone.

Then the worker scaling: uvicorn (and granian) fortunes with 1..N workers on both
CPUs, until one reaches Pyre's one-worker fortunes figure.

Run it through ``make bench-tfb`` (scripts/bench.sh --tfb), which installs wrk and
PostgreSQL and prepares .venv-bench (and .venv-tfb-robyn for Robyn). Results:
benchmarks/results/tfb-<timestamp>.json, .md and .png.

``--verify-only`` starts and verifies and measures nothing (tests/test_bench_tfb.py).
Exit status: 0 when every requested implementation passed verification (and, unless
``--verify-only``, was measured), 1 otherwise, 2 on bad arguments or a missing tool.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.run import BenchError as WrkError  # noqa: E402
from benchmarks.run import (  # noqa: E402
    cpu_model,
    parse_wrk,
    read_log,
    stop_server,
    version_of,
    wrk_output,
    wrk_version,
)
from benchmarks.tfb import verify  # noqa: E402
from benchmarks.tfb.postgres import Postgres, PostgresError, read_world  # noqa: E402

BIN = Path(sys.executable).parent
ROBYN_PYTHON = ROOT / ".venv-tfb-robyn" / "bin" / "python"
HOST = "127.0.0.1"
TESTS = verify.TESTS
PIPELINE_LUA = """\
init = function(args)
  local r = {}
  local depth = tonumber(args[1]) or 1
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end
request = function()
  return req
end
"""
# TechEmpower's Accept headers (toolset/benchmark/benchmarker.py).
ACCEPT_JSON = "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,*/*;q=0.7"
ACCEPT_TEXT = "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,*/*;q=0.7"


@dataclass(frozen=True)
class Impl:
    label: str
    program: str  # pyre, uvicorn, granian, socketify, robyn
    app: str
    interface: str = ""


IMPLS = {
    "pyre-asgi": Impl("Pyre, raw ASGI", "pyre", "benchmarks.tfb.asgi_app:app", "asgi"),
    "pyre-psgi": Impl("Pyre, PSGI", "pyre", "benchmarks.tfb.psgi_app:app", "psgi"),
    "pyre-framework": Impl(
        "pyre.framework on Pyre", "pyre", "benchmarks.tfb.framework_app:app", "psgi"
    ),
    "uvicorn": Impl("uvicorn, raw ASGI", "uvicorn", "benchmarks.tfb.asgi_app:app"),
    "granian-rsgi": Impl("granian, RSGI", "granian", "benchmarks.tfb.rsgi_app:app", "rsgi"),
    "socketify": Impl("socketify, native", "socketify", "benchmarks.tfb.socketify_app"),
    "robyn": Impl("Robyn", "robyn", "benchmarks.tfb.robyn_app"),
    "fastapi": Impl("FastAPI on uvicorn", "uvicorn", "benchmarks.tfb.fastapi_app:app"),
}
RATIOS = (
    ("pyre-asgi", "uvicorn"),
    ("pyre-asgi", "granian-rsgi"),
    ("pyre-psgi", "uvicorn"),
    ("pyre-psgi", "granian-rsgi"),
    ("pyre-framework", "fastapi"),
)
DISTRIBUTIONS = {
    "pyre": ("pyre-http",),
    "uvicorn": ("uvicorn", "httptools", "uvloop"),
    "granian": ("granian", "uvloop"),
    "socketify": ("socketify",),
    "robyn": ("robyn",),
}


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(name: str, port: int, workers: int = 1) -> tuple[list[str], dict[str, str]]:
    """The command serving implementation ``name`` on 127.0.0.1:port, and extra env."""
    impl = IMPLS[name]
    if impl.program == "pyre":
        command = [sys.executable, "-m", "pyre", impl.app, "--interface", impl.interface]
        command += ["--host", HOST, "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        # TechEmpower requires a Server header; Pyre sends one only when asked.
        command += ["--server-header"]
        return [*command, "--no-access-log", "--log-level", "warning"], {}
    if impl.program == "uvicorn":
        command = [str(BIN / "uvicorn"), impl.app, "--host", HOST, "--port", str(port)]
        command += ["--loop", "uvloop", "--http", "httptools"]
        if workers > 1:
            command += ["--workers", str(workers)]
        return [*command, "--no-access-log", "--log-level", "warning"], {}
    if impl.program == "granian":
        # One worker's fastest settings here (benchmarks/run.py): single-threaded runtime.
        command = [str(BIN / "granian"), "--interface", impl.interface]
        command += ["--host", HOST, "--port", str(port), "--loop", "uvloop"]
        command += ["--workers", str(workers), "--runtime-threads", "1"]
        command += ["--runtime-mode", "st", "--http", "1", "--no-ws"]
        return [*command, "--no-access-log", "--log-level", "warning", impl.app], {}
    if impl.program == "socketify":
        return [sys.executable, "-m", impl.app], {"TFB_PORT": str(port)}
    if impl.program == "robyn":
        command = [str(ROBYN_PYTHON), "-m", impl.app, "--processes", "1", "--workers", "1"]
        return [*command, "--log-level", "WARN"], {"TFB_PORT": str(port)}
    raise ValueError(name)


@dataclass
class Settings:
    duration: int
    warmup: int
    connections: int
    pipeline: int
    server_cpu: int | None
    client_cpu: int | None
    start_timeout: float = 30.0
    stop_timeout: float = 10.0


@dataclass
class Outcome:
    name: str
    command: list[str] = field(default_factory=list)
    error: str | None = None  # could not start (nothing verified)
    verification: dict[str, list[str]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # test: wrk result

    def passed(self, test: str) -> bool:
        return self.error is None and self.verification.get(test) == []


def pinned(cpus: str | int | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpus), *command] if cpus is not None else command


@contextlib.contextmanager
def running_server(
    name: str,
    pg: Postgres,
    settings: Settings,
    logdir: Path,
    workers: int = 1,
    cpus: str | int | None = None,
) -> Any:
    """Starts the server, waits until it answers; yields (port, command, process)."""
    port = free_port()
    command, extra = server_command(name, port, workers)
    if not Path(command[0]).exists():
        raise BenchError(f"not installed: {command[0]} does not exist")
    command = pinned(cpus, command)
    env = dict(os.environ)
    env.update(pg.env())
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("VIRTUAL_ENV", None)
    log = logdir / f"{name}-{workers}.log"
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
        wait_until_answers(proc, port, settings.start_timeout, log)
        yield port, command, proc, log
    finally:
        stop_server(proc, settings.stop_timeout)


def wait_until_answers(proc: subprocess.Popen[bytes], port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = read_log(log)
            raise BenchError(
                f"exited with code {proc.returncode} before answering"
                + (f"; its output:\n{output}" if output else " (no output)")
            )
        try:
            verify.fetch(port, "/plaintext", timeout=2.0)
            # Let a pool made at startup (or lazily, on the first request) settle.
            verify.fetch(port, "/db", timeout=5.0)
            return
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    output = read_log(log)
    raise BenchError(
        f"did not answer within {timeout:.0f} s (last error: {last})"
        + (f"; its output:\n{output}" if output else "")
    )


def run_wrk(settings: Settings, port: int, test: str, seconds: int, cpus: Any = None) -> str:
    """wrk on ``test`` for ``seconds``: one thread, pinned to the client CPU."""
    script: list[str] = []
    tail: list[str] = []
    lua: Path | None = None
    accept = ACCEPT_JSON
    if test == "plaintext":
        accept = ACCEPT_TEXT
        if settings.pipeline > 1:
            lua = Path(tempfile.mkstemp(prefix="wrk-pipeline-", suffix=".lua")[1])
            lua.write_text(PIPELINE_LUA)
            script = ["-s", str(lua)]
            tail = ["--", str(settings.pipeline)]
    command = pinned(
        settings.client_cpu if cpus is None else cpus,
        [
            "wrk",
            "-t1",
            f"-c{settings.connections}",
            f"-d{seconds}s",
            "--timeout",
            "8",
            "--latency",
            "-H",
            "Host: localhost",
            "-H",
            f"Accept: {accept}",
            "-H",
            "Connection: keep-alive",
            *script,
            f"http://{HOST}:{port}{verify.PATHS[test]}",
            *tail,
        ],
    )
    try:
        return wrk_output(command, seconds + 40, lua)
    except WrkError as exc:
        raise BenchError(str(exc)) from exc


def cpu_times() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat."""
    times = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                values = [int(v) for v in fields[:8]]
                idle = values[3] + values[4]  # idle + iowait
                times[int(name[3:])] = (sum(values) - idle, sum(values))
    return times


def busy_percent(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict:
    busy = {}
    for cpu, (b1, t1) in after.items():
        b0, t0 = before.get(cpu, (0, 0))
        if t1 > t0:
            busy[str(cpu)] = round(100.0 * (b1 - b0) / (t1 - t0), 1)
    return busy


def measure(
    settings: Settings, port: int, test: str, proc: subprocess.Popen[bytes], cpus: Any = None
) -> dict[str, Any]:
    if settings.warmup > 0:
        run_wrk(settings, port, test, settings.warmup, cpus)
    before = cpu_times()
    output = run_wrk(settings, port, test, settings.duration, cpus)
    after = cpu_times()
    if proc.poll() is not None:
        raise BenchError(f"server exited (code {proc.returncode}) during the run")
    # wrk pads some latency lines with a trailing space ("99%    1.17s ").
    output = "\n".join(line.rstrip() for line in output.splitlines()) + "\n"
    try:
        result = parse_wrk(output)
    except WrkError as exc:
        raise BenchError(str(exc)) from exc
    result["wrk_output"] = output
    # How busy each CPU was while measured: is the server's CPU the limit, or the
    # other one (wrk and PostgreSQL)?
    result["cpu_busy_percent"] = busy_percent(before, after)
    return result


def world_reader(pg: Postgres) -> verify.ReadWorld:
    return lambda ids: read_world(pg, ids)


def run_impl(
    name: str,
    pg: Postgres,
    settings: Settings,
    logdir: Path,
    tests: tuple[str, ...] = TESTS,
    verify_only: bool = False,
) -> Outcome:
    """Start, verify every test, measure the ones that passed, stop."""
    outcome = Outcome(name)
    try:
        with running_server(name, pg, settings, logdir, cpus=settings.server_cpu) as (
            port,
            command,
            proc,
            _log,
        ):
            outcome.command = command
            outcome.verification = verify.verify(port, world_reader(pg), tests)
            for test in tests:
                problems = outcome.verification[test]
                print(f"  verify {test}: " + ("ok" if not problems else "FAILED"))
                for problem in problems[:5]:
                    print(f"    {problem}")
            if verify_only:
                return outcome
            for test in tests:
                if not outcome.passed(test):
                    continue
                try:
                    result = measure(settings, port, test, proc)
                except BenchError as exc:
                    outcome.results[test] = {"error": str(exc)}
                    print(f"  {test}: measurement failed: {exc}")
                    if proc.poll() is not None:
                        break
                    continue
                outcome.results[test] = result
                errors = sum(result["socket_errors"].values()) + result["non_2xx_3xx"]
                busy = result["cpu_busy_percent"]
                print(
                    f"  {test}: {result['requests_per_s']:,.0f} requests/s, "
                    f"p99 {result['latency']['p99_ms']:.1f} ms, CPUs busy "
                    + ", ".join(f"{cpu}: {pct:.0f}%" for cpu, pct in busy.items())
                    + (f" ({errors} errors or non-2xx)" if errors else "")
                )
    except BenchError as exc:
        outcome.error = str(exc)
        print(f"  {name} UNAVAILABLE: {exc}")
    return outcome


def scaling(
    program: str,
    target: float,
    pg: Postgres,
    settings: Settings,
    logdir: Path,
    max_workers: int,
) -> list[dict[str, Any]]:
    """Fortunes with 1..max_workers workers on every server and client CPU, until one
    reaches ``target`` requests/s."""
    cpus = (
        f"{settings.server_cpu},{settings.client_cpu}"
        if settings.server_cpu is not None and settings.client_cpu is not None
        else None
    )
    rows = []
    for workers in range(1, max_workers + 1):
        row: dict[str, Any] = {"workers": workers, "cpus": cpus}
        try:
            with running_server(program, pg, settings, logdir, workers, cpus) as (
                port,
                _command,
                proc,
                _log,
            ):
                problems = verify.verify(port, world_reader(pg), ("fortunes",))["fortunes"]
                if problems:
                    raise BenchError("; ".join(problems))
                # wrk on the client CPU, as in every run; the workers share it.
                result = measure(settings, port, "fortunes", proc)
                row["requests_per_s"] = result["requests_per_s"]
                row["p99_ms"] = result["latency"]["p99_ms"]
        except BenchError as exc:
            row["error"] = str(exc)
        rows.append(row)
        rps = row.get("requests_per_s")
        print(
            f"  {program} x{workers}: "
            + (f"{rps:,.0f} requests/s" if rps is not None else f"failed: {row.get('error')}")
        )
        if rps is not None and rps >= target:
            break
    return rows


# --------------------------------------------------------------------------- reporting


def rps(outcome: Outcome | None, test: str) -> float | None:
    if outcome is None:
        return None
    result = outcome.results.get(test)
    return result.get("requests_per_s") if result else None


def compute_ratios(outcomes: dict[str, Outcome]) -> dict[str, dict[str, float | None]]:
    ratios: dict[str, dict[str, float | None]] = {}
    for ours, theirs in RATIOS:
        if ours not in outcomes or theirs not in outcomes:
            continue
        row = {}
        for test in TESTS:
            a, b = rps(outcomes[ours], test), rps(outcomes[theirs], test)
            row[test] = a / b if a is not None and b else None
        ratios[f"{ours} / {theirs}"] = row
    return ratios


def cell(outcome: Outcome, test: str) -> str:
    if outcome.error is not None:
        return "not started"
    if test not in outcome.verification:
        return "-"
    if outcome.verification[test]:
        return "FAILED verification"
    result = outcome.results.get(test)
    if result is None:
        return "verified"
    if "error" in result:
        return "run failed"
    errors = sum(result["socket_errors"].values()) + result["non_2xx_3xx"]
    return f"{result['requests_per_s']:,.0f}" + (" *" if errors else "")


def markdown(report: dict[str, Any], outcomes: dict[str, Outcome]) -> str:
    s = report["settings"]
    lines = [
        f"# TechEmpower-style suite, {report['timestamp_utc']}",
        "",
        f"Machine: {report['machine']['cpu_model']}, {report['machine']['nproc']} CPUs, "
        f"Python {report['machine']['python']}, PostgreSQL {report['machine']['postgres']}; "
        f"load average before {report['machine']['load_average_before']}.",
        f"wrk -t1 -c{s['connections']} -d{s['duration_s']}s (warm-up {s['warmup_s']} s), "
        f"plaintext pipelined {s['pipeline']} deep; one worker per server on CPU "
        f"{s['server_cpu']}, wrk and PostgreSQL on CPU {s['client_cpu']}. "
        "Requests/s; * = socket errors or non-2xx responses during the run.",
        "",
        "| implementation | " + " | ".join(TESTS) + " |",
        "|---|" + "---:|" * len(TESTS),
    ]
    for name, outcome in outcomes.items():
        lines.append(f"| {name} | " + " | ".join(cell(outcome, t) for t in TESTS) + " |")
    for label, row in report["ratios"].items():
        lines.append(
            f"| {label} | "
            + " | ".join(f"{row[t]:.2f}x" if row[t] is not None else "n/a" for t in TESTS)
            + " |"
        )
    if s["server_cpu"] is not None:
        server, client = str(s["server_cpu"]), str(s["client_cpu"])
        lines += [
            "",
            f"CPU busy while measured, server CPU {server} / CPU {client} (wrk and "
            "PostgreSQL): where the second is near 100%, the figure is limited by the "
            "client side, not the server.",
            "",
            "| implementation | " + " | ".join(TESTS) + " |",
            "|---|" + "---:|" * len(TESTS),
        ]
        for name, outcome in outcomes.items():
            row = []
            for test in TESTS:
                busy = outcome.results.get(test, {}).get("cpu_busy_percent", {})
                row.append(
                    f"{busy[server]:.0f}% / {busy[client]:.0f}%"
                    if server in busy and client in busy
                    else "-"
                )
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    failures = [
        (name, test, problems)
        for name, o in outcomes.items()
        for test, problems in o.verification.items()
        if problems
    ]
    errors = [(name, o.error) for name, o in outcomes.items() if o.error]
    if failures or errors:
        lines += ["", "## Not measured", ""]
        for name, error in errors:
            lines.append(f"- {name}: did not start: {error.splitlines()[0][:300]}")
            tail = error.strip().splitlines()[-1][:300]
            if tail != error.splitlines()[0][:300]:
                lines.append(f"  (last line of its output: `{tail}`)")
        for name, test, problems in failures:
            lines.append(f"- {name} {test}: failed verification: {'; '.join(problems[:3])}")
    if report.get("scaling"):
        lines += ["", "## Workers needed to reach Pyre's one-worker fortunes", ""]
        target = report["scaling"]["target"]
        lines.append(
            f"Target: {report['scaling']['reference']} fortunes, "
            f"{target:,.0f} requests/s with one worker on one CPU. The peers' workers "
            f"run on CPUs {report['scaling']['cpus']} (every CPU this machine has), "
            "sharing them with wrk and PostgreSQL."
        )
        lines.append("")
        lines.append("| server | workers | requests/s | vs target |")
        lines.append("|---|---:|---:|---:|")
        for program, rows in report["scaling"]["runs"].items():
            for row in rows:
                value = row.get("requests_per_s")
                lines.append(
                    f"| {program} | {row['workers']} | "
                    + (f"{value:,.0f} | {value / target:.2f}x |" if value else "failed | |")
                )
        for program, verdict in report["scaling"]["verdict"].items():
            lines.append(f"\n{program}: {verdict}")
    return "\n".join(lines) + "\n"


def write_chart(path: Path, outcomes: dict[str, Outcome], title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart written", file=sys.stderr)
        return False
    palette = {
        "pyre-asgi": "#d9480f",
        "pyre-psgi": "#f76707",
        "pyre-framework": "#ffa94d",
        "uvicorn": "#1c7ed6",
        "granian-rsgi": "#37b24d",
        "socketify": "#7048e8",
        "robyn": "#e64980",
        "fastapi": "#15aabf",
    }
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), dpi=110)
    for ax, test in zip(axes.flat, TESTS, strict=True):
        names = [n for n, o in outcomes.items() if rps(o, test) is not None]
        values = [rps(outcomes[n], test) or 0.0 for n in names]
        bars = ax.bar(names, values, color=[palette.get(n, "#868e96") for n in names])
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                f"{value:,.0f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
        ax.set_title(f"{test} ({verify.PATHS[test]})", fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if values:
            ax.set_ylim(0, max(values) * 1.18)
    axes[0][0].set_ylabel("requests/s")
    axes[1][0].set_ylabel("requests/s")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per test")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per test")
    parser.add_argument("--connections", type=int, default=256, help="wrk connections")
    parser.add_argument("--pipeline", type=int, default=16, help="plaintext pipeline depth")
    parser.add_argument(
        "--impls", default=",".join(IMPLS), help="comma-separated, from: " + ", ".join(IMPLS)
    )
    parser.add_argument("--tests", default=",".join(TESTS), help="comma-separated tests")
    parser.add_argument(
        "--scale-workers",
        type=int,
        default=4,
        help="most uvicorn and granian workers tried for the fortunes comparison (0: skip)",
    )
    parser.add_argument("--quick", action="store_true", help="CI: 1 s runs, no warm-up")
    parser.add_argument(
        "--verify-only", action="store_true", help="start and verify each; measure nothing"
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    args.impls = [s.strip() for s in args.impls.split(",") if s.strip()]
    args.tests = tuple(s.strip() for s in args.tests.split(",") if s.strip())
    if not args.impls or any(n not in IMPLS for n in args.impls):
        parser.error(f"--impls must name implementations from {', '.join(IMPLS)}")
    if not args.tests or any(t not in TESTS for t in args.tests):
        parser.error(f"--tests must name tests from {', '.join(TESTS)}")
    if args.quick:
        args.duration, args.warmup = 1, 0
        args.scale_workers = min(args.scale_workers, 2)
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.pipeline < 1:
        parser.error("--duration, --connections, --pipeline >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    for tool in ("taskset",) if args.verify_only else ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (scripts/bench.sh installs it)", file=sys.stderr)
            return 2
    available = sorted(os.sched_getaffinity(0))
    server_cpu: int | None = args.server_cpu
    client_cpu: int | None = args.client_cpu
    if server_cpu not in available or client_cpu not in available or server_cpu == client_cpu:
        print(f"warning: CPUs {server_cpu} and {client_cpu} unavailable; unpinned", file=sys.stderr)
        server_cpu = client_cpu = None
    settings = Settings(
        args.duration, args.warmup, args.connections, args.pipeline, server_cpu, client_cpu
    )
    load_before = os.getloadavg()
    if load_before[0] > 0.5 and not args.verify_only:
        print(
            f"warning: the machine is busy (load average {load_before[0]:.2f}); "
            "every figure is lowered by the other work",
            file=sys.stderr,
        )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    outcomes: dict[str, Outcome] = {}
    scale: dict[str, Any] = {}
    try:
        pg = Postgres(cpu=client_cpu).start()
    except (PostgresError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"error: PostgreSQL did not start: {exc}", file=sys.stderr)
        return 2
    handled = (signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, lambda *_: sys.exit(1)) for s in handled}
    try:
        pg_version = pg.psql("SHOW server_version;").strip()
        print(
            f"PostgreSQL {pg_version} on {pg.host} (port {pg.port}); wrk -t1 "
            f"-c{settings.connections} -d{settings.duration}s, warm-up {settings.warmup} s; "
            f"servers on CPU {server_cpu}, wrk and PostgreSQL on CPU {client_cpu}"
        )
        with tempfile.TemporaryDirectory(prefix="pyre-tfb-") as logdir:
            for name in args.impls:
                print(f"{name} ({IMPLS[name].label}):")
                outcomes[name] = run_impl(
                    name, pg, settings, Path(logdir), args.tests, args.verify_only
                )
            target = rps(outcomes.get("pyre-asgi"), "fortunes")
            if not args.verify_only and args.scale_workers > 0 and target:
                print(f"workers needed to reach pyre-asgi's {target:,.0f} fortunes/s:")
                runs = {}
                verdict = {}
                for program in ("uvicorn", "granian-rsgi"):
                    if rps(outcomes.get(program), "fortunes") is None:
                        continue  # not requested, or failed with one worker
                    rows = scaling(program, target, pg, settings, Path(logdir), args.scale_workers)
                    runs[program] = rows
                    reached = [r["workers"] for r in rows if r.get("requests_per_s", 0) >= target]
                    best = max((r.get("requests_per_s", 0) for r in rows), default=0)
                    verdict[program] = (
                        f"reaches it with {reached[0]} worker(s)"
                        if reached
                        else f"does not reach it with up to {len(rows)} workers "
                        f"(best {best:,.0f} requests/s, {best / target:.2f}x): this machine "
                        f"has {len(available)} CPUs, so more workers only share them"
                    )
                    print(f"  {program}: {verdict[program]}")
                scale = {
                    "reference": "pyre-asgi",
                    "target": target,
                    "cpus": f"{server_cpu},{client_cpu}",
                    "runs": runs,
                    "verdict": verdict,
                }
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pg.stop()

    ok = all(o.error is None and all(o.passed(t) for t in args.tests) for o in outcomes.values())
    if args.verify_only:
        print("verification " + ("passed" if ok else "FAILED"))
        return 0 if ok else 1

    ratios = compute_ratios(outcomes)
    versions = {
        name: {d: version_of(d) for d in DISTRIBUTIONS[IMPLS[name].program]}
        for name in args.impls
        if IMPLS[name].program != "robyn"
    }
    versions["libraries"] = {d: version_of(d) for d in ("asyncpg", "orjson", "fastapi")}
    report = {
        "benchmark": "techempower-style",
        "timestamp_utc": stamp,
        "machine": {
            "cpu_model": cpu_model(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wrk": wrk_version(),
            "postgres": pg_version,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "pipeline": settings.pipeline,
            "wrk_threads": 1,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "postgres_cpu": client_cpu,
            "paths": verify.PATHS,
            "quick": args.quick,
        },
        "versions": versions,
        "results": {
            name: {
                "label": IMPLS[name].label,
                "command": o.command,
                "error": o.error,
                "verification": o.verification,
                "tests": o.results,
            }
            for name, o in outcomes.items()
        },
        "ratios": ratios,
        "scaling": scale,
    }
    text = markdown(report, outcomes)
    print()
    print(text)
    args.output.mkdir(parents=True, exist_ok=True)
    base = args.output / f"tfb-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    base.with_suffix(".md").write_text(text)
    print(f"wrote {base}.json and {base}.md")
    title = (
        f"TechEmpower-style tests, one worker on 1 CPU, wrk -c{settings.connections} "
        f"-d{settings.duration}s, PostgreSQL {pg_version}\n{report['machine']['cpu_model']}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {stamp}"
    )
    if write_chart(base.with_suffix(".png"), outcomes, title):
        print(f"wrote {base}.png")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
