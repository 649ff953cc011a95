"""Where a hello-world request's time goes: a flame graph of one loaded second.

Usage (make bench-profile runs it through scripts/bench.sh --profile):

    .venv-bench/bin/python benchmarks/profile.py --label after
    .venv-bench/bin/python benchmarks/profile.py --label before --python /tmp/old/bin/python

It serves benchmarks/apps/hello_asgi.py (``--app`` to change) with Pyre pinned to CPU
0, loads it with ``wrk -t1 -c64`` on CPU 1, and once the load is steady records one
second (``--seconds``) of the server twice: with py-spy (``--native``: Python, Rust
and C frames, ``--rate`` samples a second) for the flame graph, and with ``perf
record`` for where the CPU time goes (py-spy stops the process to sample it and
cannot see the kernel; perf sees every instruction, the kernel's too). It writes

- ``results/flame-<label>.svg``: the flame graph (py-spy);
- ``results/flame-<label>.md``: the share of CPU time in each part of a request
  (perf's self time per symbol, summed by the buckets of ``part_of``), the table
  benchmarks/README.md quotes.

``--python`` is the interpreter whose Pyre is profiled (another build, such as the
commit before a change, installed in its own venv): the before/after pair of a change
is two runs of this script on the same machine, one after the other.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def part_of(dso: str, symbol: str) -> str:
    """The part of a request a perf sample belongs to, by its binary and symbol."""
    if "kernel" in dso:
        return "kernel (TCP over loopback, syscalls, epoll)"
    if dso.startswith("_core."):
        if "stepping" in symbol:
            return "pyre: stepping the coroutine (RequestTask)"
        if "pyre_h1" in symbol:
            return "pyre: HTTP/1.1 codec"
        if "pyre_net" in symbol:
            return "pyre: connections, buffers, I/O (pyre_net)"
        if "channel" in symbol or "scope" in symbol:
            return "pyre: ASGI scope, receive/send (channel, scope)"
        return "pyre: server glue, pyo3"
    if dso.startswith("libpython"):
        return "CPython (interpreter, objects, dicts)"
    if dso.startswith("_asyncio."):
        return "asyncio's C Task and Future"
    if dso.startswith("loop.") or "uvloop" in dso:
        return "uvloop"
    if dso.startswith("libc") or dso.startswith("ld-linux") or "vdso" in dso:
        return "libc (malloc, memcpy, syscall stubs)"
    return "other"


def where_time_goes(perf_report: str) -> list[tuple[str, float]]:
    """(part, percent), largest first, from ``perf report -t ';' --sort dso,sym``."""
    shares: dict[str, float] = {}
    for line in perf_report.splitlines():
        fields = [f.strip() for f in line.split(";")]
        if len(fields) < 3 or not fields[0].endswith("%"):
            continue
        percent = float(fields[0].rstrip("%"))
        symbol = fields[2].split("] ", 1)[-1]
        part = part_of(fields[1], symbol)
        shares[part] = shares.get(part, 0.0) + percent
    return sorted(shares.items(), key=lambda item: -item[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"profile.py: the server did not listen on {port} within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True, help="names the output files")
    parser.add_argument("--python", default=sys.executable, help="whose Pyre to profile")
    parser.add_argument("--app", default="benchmarks.apps.hello_asgi:app")
    parser.add_argument("--seconds", type=int, default=1)
    parser.add_argument("--rate", type=int, default=2000, help="py-spy samples per second")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 30:
        parser.error("--seconds must be 1..30")
    args.output.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server_command = [
        "taskset", "-c", "0", args.python, "-m", "pyre", args.app,
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(server_command, cwd=ROOT, env=env, start_new_session=True)
    load = None
    try:
        wait_until_listening(port, 20)
        # The load outlasts the recording: 2 s to settle, the record, 2 s to spare.
        load_seconds = args.seconds + 4
        load = subprocess.Popen(
            ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{load_seconds}s",
             f"http://127.0.0.1:{port}/"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(2)
        stem = args.output / f"flame-{args.label}"
        perf_data = Path(tempfile.mkdtemp()) / "perf.data"
        perf = ["perf", "record", "-F", str(args.rate), "-p", str(server.pid), "-o",
                str(perf_data), "--", "sleep", str(args.seconds)]  # fmt: skip
        subprocess.run(perf, check=True, capture_output=True)
        wrk_output, _ = load.communicate(timeout=load_seconds + 30)
        report = subprocess.run(
            ["perf", "report", "-i", str(perf_data), "--no-children", "--sort", "dso,sym",
             "--stdio", "-g", "none", "-t", ";"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        shutil.rmtree(perf_data.parent, ignore_errors=True)
        # The flame graph from a second second under the same load.
        load = subprocess.Popen(
            ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{load_seconds}s",
             f"http://127.0.0.1:{port}/"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(2)
        record = [str(BIN / "py-spy"), "record", "--pid", str(server.pid), "--native",
                  "--rate", str(args.rate), "--duration", str(args.seconds)]  # fmt: skip
        subprocess.run([*record, "--format", "flamegraph", "-o", f"{stem}.svg"], check=True)
        load.wait(timeout=load_seconds + 30)
        load = None
    finally:
        if load is not None:
            load.kill()
        os.killpg(server.pid, 2)
        server.wait(timeout=15)
    table = where_time_goes(report)
    rate_line = next((line for line in wrk_output.splitlines() if "Requests/sec" in line), "")
    lines = [
        f"# Where a request's time goes: {args.label}",
        "",
        f"{args.app}, Pyre from `{args.python}`, {args.seconds} s of `perf record -F"
        f" {args.rate}` under `wrk -t1 -c64` ({rate_line.strip() or 'rate not read'}).",
        "",
        "| part | share of CPU time |",
        "|---|---|",
        *(f"| {name} | {share:.1f}% |" for name, share in table),
        "",
    ]
    Path(f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {stem}.svg, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
