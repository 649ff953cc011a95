"""Two workers, two listener designs: how evenly they share the load, and what a
worker restart costs the clients.

The designs, serving the same app (apps/counting_asgi.py, a hello world that counts
the requests each process serves and writes ``pid count`` at lifespan shutdown):

- **shared**: one listening socket, made by this script and handed to Pyre's
  supervisor as ``pyre-http --fd N --workers 2``; both forked workers inherit it, so
  one kernel accept queue feeds them both;
- **reuseport**: ``pyre-http --port P --workers 2``, the supervisor's default on
  Linux: it holds the port with a bound socket that does not listen, and each
  worker binds and listens on a ``SO_REUSEPORT`` socket of its own. The kernel
  hashes every new connection to one of the workers' accept queues.

Balance: for each load (``wrk -c 1, 4, 16, 64, 256`` keep-alive, and one run with
``-H "Connection: close"``, a new connection per request), each design is started
afresh, measured for ``--duration`` seconds and stopped; the per-worker counts give
each worker's share. The two designs alternate, so a slow phase of the machine hits
both.

Restart: during a wrk run, one of the two workers gets SIGTERM (a graceful stop: it
takes what is queued on its listener, finishes what it has, and exits) or SIGKILL
(a crash); in both designs the supervisor starts another. wrk's socket errors
(connect, read, write, timeout) and non-2xx responses are reported per design.

Servers listen on 127.0.0.1, on ports picked at run time; nothing is pinned (both
workers may use both CPUs, and wrk shares them). Every wrk run and every server start
and stop is bounded in time; stopped servers are checked for processes left behind.
Prints tables and writes benchmarks/results/balance-<UTC timestamp>.json.

Run it through ``make bench-balance`` (scripts/bench.sh --balance, which prepares
.venv-bench with Pyre built from the working tree). Linux only (SO_REUSEPORT, /proc).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import (  # noqa: E402  (after the path set-up above)
    BIN,
    BenchError,
    cmdline,
    cpu_model,
    free_port,
    http_get,
    kill_leftovers,
    parse_wrk,
    read_log,
    version_of,
    wrk_version,
)

APP = "benchmarks.apps.counting_asgi:app"
COUNT_DIR_ENV = "PYRE_BENCH_COUNT_DIR"
READY_LINE = b"Pyre running on"
DESIGNS = ("shared", "reuseport")
WORKERS = 2
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Load:
    connections: int
    close: bool = False  # wrk -H "Connection: close": a new connection per request

    @property
    def label(self) -> str:
        return f"-c{self.connections} " + ("Connection: close" if self.close else "keep-alive")


# --------------------------------------------------------------------------- servers


def pyre_command(*listen: str) -> list[str]:
    return [
        str(BIN / "pyre-http"),
        APP,
        *listen,
        "--no-access-log",
        "--log-level",
        "info",  # "Pyre running on" tells when a worker serves
    ]


def server_env(count_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("VIRTUAL_ENV", None)
    env[COUNT_DIR_ENV] = str(count_dir)
    return env


def ready_lines(logs: list[Path]) -> int:
    total = 0
    for log in logs:
        with contextlib.suppress(OSError):
            total += log.read_bytes().count(READY_LINE)
    return total


@dataclass
class Slot:
    """One process this script started (the supervisor, or a reuseport worker)."""

    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)


class Design:
    """Two workers behind one of the two listener designs."""

    name = ""

    def __init__(self, workdir: Path, count_dir: Path, timeout: float) -> None:
        self.workdir = workdir
        self.count_dir = count_dir
        self.timeout = timeout
        self.port = 0
        self.slots: list[Slot] = []
        self.spawned = 0
        #: Every process seen, with its command line, for the leftover check.
        self.seen: dict[int, bytes | None] = {}

    def _spawn(self, command: list[str], pass_fds: tuple[int, ...] = ()) -> Slot:
        self.spawned += 1
        log = self.workdir / f"{self.name}-{self.spawned}.log"
        with log.open("wb") as log_file:
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=server_env(self.count_dir),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
                start_new_session=True,
            )
        slot = Slot(proc, log)
        self.slots.append(slot)
        self.seen[proc.pid] = cmdline(proc.pid)
        return slot

    def logs(self) -> list[Path]:
        return [slot.log for slot in self.slots]

    def output(self) -> str:
        return "\n".join(f"[{s.log.name}]\n{read_log(s.log, 1500)}" for s in self.slots)

    def start(self) -> None:
        raise NotImplementedError

    def worker_pids(self) -> list[int]:
        raise NotImplementedError

    def tick(self) -> None:
        """Called every 50 ms during a run: respawns what the design respawns."""

    def wait_ready(self, lines: int) -> None:
        """Until ``lines`` "Pyre running on" lines were logged in all and a GET
        answers; a process that exits first, or time running out, is an error."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for slot in self.slots:
                if slot.proc.poll() is not None:
                    raise BenchError(
                        f"{self.name}: pid {slot.proc.pid} exited with {slot.proc.returncode}"
                        f"\n{self.output()}"
                    )
            if ready_lines(self.logs()) >= lines:
                try:
                    status, _, body = http_get(self.port, timeout=2.0, path="/ready")
                except OSError:
                    status, body = 0, b""
                if status == 200 and body == b"Hello, world!":
                    return
            time.sleep(0.05)
        raise BenchError(f"{self.name}: not ready within {self.timeout:.0f} s\n{self.output()}")

    def settle(self) -> None:
        """A worker logs "Pyre running on" just before its loop polls the listener:
        give both time to be waiting before wrk's connections come."""
        time.sleep(SETTLE_SECONDS)

    def note_workers(self) -> None:
        for pid in self.worker_pids():
            self.seen.setdefault(pid, cmdline(pid))

    def stop(self) -> list[int]:
        """SIGINT to every process started; SIGKILL after the timeout. Returns the
        pids of processes found running afterwards (then killed)."""
        self.note_workers()
        for slot in self.slots:
            if slot.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + self.timeout
        for slot in self.slots:
            try:
                slot.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"  pid {slot.proc.pid} ignored SIGINT: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(slot.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    slot.proc.wait(timeout=5)
        time.sleep(0.1)
        return kill_leftovers(self.seen)


class Supervised(Design):
    """``pyre-http --workers 2``: Pyre's supervisor and its two forked workers."""

    def worker_pids(self) -> list[int]:
        """The supervisor's children (its workers; forked, no helper processes)."""
        supervisor = self.slots[0].proc.pid
        children: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{supervisor}/task"):
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{supervisor}/task/{task}/children").read_text()
                    children.extend(int(pid) for pid in text.split())
        return [pid for pid in children if cmdline(pid) is not None]

    def tick(self) -> None:
        self.note_workers()


class Shared(Supervised):
    """One listening socket made by this script and handed to the supervisor as
    ``--fd``: the supervisor then shares it with both workers (one accept queue)."""

    name = "shared"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)  # Pyre's default --backlog
        self.port = sock.getsockname()[1]
        try:
            fd = sock.fileno()
            self._spawn(pyre_command("--fd", str(fd), "--workers", "2"), pass_fds=(fd,))
        finally:
            sock.close()
        self.wait_ready(WORKERS)
        self.note_workers()
        self.settle()


class ReusePort(Supervised):
    """``pyre-http --host 127.0.0.1 --port P --workers 2``: on Linux each worker
    binds a SO_REUSEPORT listener of its own (the supervisor replaces one that
    exits, on a new socket)."""

    name = "reuseport"

    def start(self) -> None:
        self.port = free_port()
        port = str(self.port)
        self._spawn(pyre_command("--host", "127.0.0.1", "--port", port, "--workers", "2"))
        self.wait_ready(WORKERS)
        self.note_workers()
        self.settle()


def make_design(name: str, workdir: Path, count_dir: Path, timeout: float) -> Design:
    return {"shared": Shared, "reuseport": ReusePort}[name](workdir, count_dir, timeout)


# --------------------------------------------------------------------------- runs


def wrk_command(port: int, load: Load, seconds: int, threads: int) -> list[str]:
    command = ["wrk", f"-t{min(threads, load.connections)}", f"-c{load.connections}"]
    command += [f"-d{seconds}s", "--latency"]
    if load.close:
        command += ["-H", "Connection: close"]
    return [*command, f"http://127.0.0.1:{port}/"]


def finish_wrk(wrk: subprocess.Popen[str], seconds: int) -> dict[str, Any]:
    try:
        out, err = wrk.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired as exc:
        wrk.kill()
        wrk.communicate()
        raise BenchError(f"wrk did not finish within {seconds + 30} s") from exc
    if wrk.returncode != 0:
        raise BenchError(f"wrk exited with code {wrk.returncode}: {err.strip()}")
    result = parse_wrk(out)
    result["wrk_output"] = out
    return result


def read_counts(count_dir: Path) -> dict[int, int]:
    counts = {}
    for path in count_dir.iterdir():
        pid, count = path.read_text().split()
        counts[int(pid)] = int(count)
    return counts


def shares(counts: dict[int, int]) -> dict[str, Any]:
    values = sorted(counts.values(), reverse=True)
    total = sum(values)
    larger = values[0] / total if total else None
    smallest = values[-1] if len(values) >= WORKERS else 0
    return {
        "counts": {str(pid): n for pid, n in counts.items()},
        "workers_reporting": len(values),
        "served": total,
        "larger_share": larger,
        "max_over_min": (values[0] / smallest) if smallest else None,  # None: infinite
    }


@dataclass
class Settings:
    duration: int
    restart_duration: int
    kill_after: float
    threads: int
    timeout: float


def run_load(design_name: str, load: Load, settings: Settings, workdir: Path) -> dict[str, Any]:
    count_dir = Path(tempfile.mkdtemp(prefix=f"counts-{design_name}-", dir=workdir))
    design = make_design(design_name, workdir, count_dir, settings.timeout)
    record: dict[str, Any] = {"design": design_name, "load": load.label, "ok": False}
    try:
        design.start()
        command = wrk_command(design.port, load, settings.duration, settings.threads)
        record["wrk_command"] = command
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        record.update(finish_wrk(wrk, settings.duration))
        record["ok"] = True
    except BenchError as exc:
        record["error"] = str(exc)
    finally:
        left = design.stop()
    record["left_behind"] = left
    if record["ok"]:
        record.update(shares(read_counts(count_dir)))
        if record["workers_reporting"] != WORKERS:
            record["ok"] = False
            record["error"] = f"{record['workers_reporting']} workers wrote their counts"
    return record


def run_restart(
    design_name: str, load: Load, sig: signal.Signals, settings: Settings, workdir: Path
) -> dict[str, Any]:
    count_dir = Path(tempfile.mkdtemp(prefix=f"counts-{design_name}-", dir=workdir))
    design = make_design(design_name, workdir, count_dir, settings.timeout)
    record: dict[str, Any] = {
        "design": design_name,
        "load": load.label,
        "signal": sig.name,
        "ok": False,
    }
    try:
        design.start()
        seconds = settings.restart_duration
        command = wrk_command(design.port, load, seconds, settings.threads)
        record["wrk_command"] = command
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(settings.kill_after)
            victim = design.worker_pids()[0]
            before = ready_lines(design.logs())
            killed_at = time.monotonic()
            os.kill(victim, sig)
            record["killed_pid"] = victim
            replaced_after = None
            while wrk.poll() is None:
                time.sleep(0.05)
                design.tick()
                if replaced_after is None and ready_lines(design.logs()) > before:
                    replaced_after = time.monotonic() - killed_at
            record["replacement_serving_after_s"] = replaced_after
        finally:
            record.update(finish_wrk(wrk, seconds))
        record["workers_at_end"] = len(design.worker_pids())
        record["ok"] = True
    except (BenchError, IndexError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        record["left_behind"] = design.stop()
    return record


# --------------------------------------------------------------------------- reporting


def fmt_share(record: dict[str, Any]) -> str:
    if not record["ok"]:
        return "failed"
    share = record["larger_share"]
    ratio = record["max_over_min"]
    return f"{share * 100:.0f}% ({'inf' if ratio is None else f'{ratio:.2f}'})"


def table(rows: list[tuple[str, ...]], right_from: int = 2) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            c.ljust(w) if i < right_from else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def balance_table(records: list[dict[str, Any]], loads: list[Load]) -> str:
    rows = [("load", "design", "requests/s", "p99", "larger share per run (max/min)")]
    for load in loads:
        for design in DESIGNS:
            runs = [r for r in records if r["load"] == load.label and r["design"] == design]
            good = [r for r in runs if r["ok"]]
            rps = statistics.median(r["requests_per_s"] for r in good) if good else None
            p99 = statistics.median(r["latency"]["p99_ms"] for r in good) if good else None
            rows.append(
                (
                    load.label,
                    design,
                    f"{rps:,.0f}" if rps is not None else "-",
                    f"{p99:.2f} ms" if p99 is not None else "-",
                    ", ".join(fmt_share(r) for r in runs),
                )
            )
    return table(rows)


def restart_table(records: list[dict[str, Any]]) -> str:
    rows = [
        (
            "case",
            "design",
            "requests",
            "connect",
            "read",
            "write",
            "timeout",
            "non-2xx",
            "p99",
            "new worker after",
        )
    ]
    for r in records:
        case = f"{r['signal']}, {r['load']}"
        if not r["ok"]:
            rows.append((case, r["design"], "failed", *([""] * 7)))
            continue
        errors = r["socket_errors"]
        after = r.get("replacement_serving_after_s")
        rows.append(
            (
                case,
                r["design"],
                f"{r.get('requests', 0):,}",
                str(errors["connect"]),
                str(errors["read"]),
                str(errors["write"]),
                str(errors["timeout"]),
                str(r["non_2xx_3xx"]),
                f"{r['latency']['p99_ms']:.2f} ms",
                f"{after:.2f} s" if after is not None else "-",
            )
        )
    return table(rows)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Shared listener vs SO_REUSEPORT, 2 Pyre workers: balance and restarts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per balance run")
    parser.add_argument(
        "--connections",
        default="1,4,16,64,256",
        help="wrk keep-alive loads (connections, comma-separated)",
    )
    parser.add_argument(
        "--close-connections",
        type=int,
        default=64,
        help="connections of the Connection: close run (0: no such run)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per load and design")
    parser.add_argument(
        "--restart-duration", type=int, default=6, help="seconds of each restart run"
    )
    parser.add_argument(
        "--kill-after", type=float, default=2.0, help="seconds into it the worker is signalled"
    )
    parser.add_argument(
        "--restart-repeats", type=int, default=3, help="restart runs per case and design"
    )
    parser.add_argument(
        "--restart-connections", type=int, default=64, help="wrk connections in restart runs"
    )
    parser.add_argument(
        "--signals",
        default="SIGTERM,SIGKILL",
        help="signals sent to a worker in the restart runs (empty: no restart runs)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--timeout", type=float, default=20.0, help="server start/stop bound")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    try:
        args.loads = [Load(int(c)) for c in args.connections.split(",") if c.strip()]
        args.signal_list = [signal.Signals[s.strip()] for s in args.signals.split(",") if s.strip()]
    except (ValueError, KeyError) as exc:
        parser.error(f"bad --connections or --signals: {exc}")
    if args.close_connections > 0:
        args.loads.append(Load(args.close_connections, close=True))
    if any(load.connections < 1 for load in args.loads):
        parser.error("connections must be >= 1")
    if args.duration < 1 or args.repeats < 0 or args.restart_repeats < 0:
        parser.error("--duration must be >= 1, repeats >= 0")
    if not 0 < args.kill_after < args.restart_duration:
        parser.error("--kill-after must be inside the restart run")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (scripts/bench.sh installs it)", file=sys.stderr)
        return 2
    if not (BIN / "pyre-http").exists():
        print(f"error: {BIN / 'pyre-http'} does not exist", file=sys.stderr)
        return 2
    if not hasattr(socket, "SO_REUSEPORT"):
        print("error: SO_REUSEPORT is not available here", file=sys.stderr)
        return 2
    settings = Settings(
        duration=args.duration,
        restart_duration=args.restart_duration,
        kill_after=args.kill_after,
        threads=args.threads,
        timeout=args.timeout,
    )
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(
            f"warning: the machine is busy (load average {load_before[0]:.2f}): "
            "requests/s and p99 suffer; the shares less",
            file=sys.stderr,
        )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    balance: list[dict[str, Any]] = []
    restarts: list[dict[str, Any]] = []
    left_behind: list[int] = []
    with tempfile.TemporaryDirectory(prefix="pyre-balance-") as tmp:
        workdir = Path(tmp)
        print(f"balance: {args.repeats} x {args.duration} s per load and design, 2 workers")
        for index, load in enumerate(args.loads):
            for repeat in range(args.repeats):
                order = DESIGNS if (index + repeat) % 2 == 0 else DESIGNS[::-1]
                for design in order:
                    record = run_load(design, load, settings, workdir)
                    record["repeat"] = repeat + 1
                    balance.append(record)
                    left_behind += record["left_behind"]
                    if record["ok"]:
                        print(
                            f"  {load.label:<24} {design:<9} "
                            f"{record['requests_per_s']:>9,.0f} req/s  "
                            f"p99 {record['latency']['p99_ms']:6.2f} ms  "
                            f"larger share {fmt_share(record)}"
                        )
                    else:
                        print(f"  {load.label:<24} {design:<9} FAILED: {record['error']}")
        restart_load = Load(args.restart_connections)
        close_load = Load(args.restart_connections, close=True)
        if args.signal_list and args.restart_repeats:
            print(
                f"restarts: {args.restart_duration} s wrk runs, one worker signalled after "
                f"{args.kill_after:g} s"
            )
        for sig in args.signal_list:
            for load in (restart_load, close_load):
                for repeat in range(args.restart_repeats):
                    order = DESIGNS if repeat % 2 == 0 else DESIGNS[::-1]
                    for design in order:
                        record = run_restart(design, load, sig, settings, workdir)
                        record["repeat"] = repeat + 1
                        restarts.append(record)
                        left_behind += record["left_behind"]
                        if record["ok"]:
                            print(
                                f"  {sig.name} {load.label:<24} {design:<9} "
                                f"errors {record['socket_errors']}, "
                                f"non-2xx {record['non_2xx_3xx']}"
                            )
                        else:
                            print(f"  {sig.name} {load.label} {design} FAILED: {record['error']}")

    print()
    print("Balance (2 workers; larger share = the busier worker's part of the requests)")
    print(balance_table(balance, args.loads))
    if restarts:
        print()
        print("Restart: one of the two workers signalled during the run")
        print(restart_table(sorted(restarts, key=lambda r: (r["signal"], r["load"]))))
    if left_behind:
        print(f"\nwarning: processes left behind and killed: {left_behind}")

    report = {
        "benchmark": "balance-shared-vs-reuseport",
        "timestamp_utc": stamp,
        "machine": {
            "cpu_model": cpu_model(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wrk": wrk_version(),
            "pyre": version_of("pyre-http"),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "app": APP,
            "workers": WORKERS,
            "duration_s": args.duration,
            "repeats": args.repeats,
            "loads": [load.label for load in args.loads],
            "restart_duration_s": args.restart_duration,
            "kill_after_s": args.kill_after,
            "restart_repeats": args.restart_repeats,
            "signals": [sig.name for sig in args.signal_list],
            "wrk_threads": args.threads,
            "pinning": "none",
        },
        "balance": balance,
        "restarts": restarts,
        "left_behind": left_behind,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"balance-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    failed = [r for r in balance + restarts if not r["ok"]]
    return 1 if failed and len(failed) == len(balance) + len(restarts) else 0


if __name__ == "__main__":
    sys.exit(main())
