"""Where a hello-world request's time goes: a flame graph of one loaded second.

Usage (make bench-profile runs it through scripts/bench.sh --profile):

    .venv-bench/bin/python benchmarks/profile.py --label after
    .venv-bench/bin/python benchmarks/profile.py --label before --python /tmp/old/bin/python

It serves benchmarks/apps/hello_asgi.py (``--app`` to change) with Pyre pinned to CPU
0, loads it with ``wrk -t1 -c64`` on CPU 1, and once the load is steady records one
second (``--seconds``) of the server with py-spy (``--native``: Rust and C frames
too, ``--rate`` samples a second). It writes

- ``results/flame-<label>.svg``: the flame graph;
- ``results/flame-<label>.txt``: the collapsed stacks py-spy sampled;
- ``results/flame-<label>.md``: the share of samples in each part of a request
  (the buckets of ``BUCKETS``, by the innermost frame that names one), the table
  benchmarks/README.md quotes.

``--python`` is the interpreter whose Pyre is profiled (another build, such as the
commit before a change, installed in its own venv): the before/after pair of a change
is two runs of this script on the same machine, one after the other.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# (bucket, substrings of a frame): a sample goes to the first bucket one of whose
# substrings is in its innermost frame that matches any, looking from the leaf up.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel: read/recv", ("recv", "__libc_read", "sys_read", "::read ")),
    ("kernel: write/send", ("sendto", "__libc_write", "writev", "::write ", "send ")),
    ("kernel: epoll", ("epoll_wait", "epoll_ctl")),
    ("the application (hello_asgi/hello_psgi)", ("hello_asgi.py", "hello_psgi.py")),
    ("asyncio Task (create, step, wakeup)", ("task_step", "TaskStepMethWrapper", "Task")),
    ("the loop (uvloop / asyncio)", ("uvloop", "base_events.py", "events.py")),
    ("pyre: runner coroutine (_asgi.py/_psgi.py)", ("_asgi.py", "_psgi.py")),
    ("pyre: stepping (RequestTask)", ("stepping", "RequestTask")),
    ("pyre: scope and channel", ("scope", "channel", "Channel", "build_scope")),
    ("pyre: HTTP/1.1 codec", ("pyre_h1",)),
    ("pyre: connections and I/O (pyre_net)", ("pyre_net",)),
    ("pyre: server glue (pyre_py)", ("pyre_py", "_core")),
    ("CPython interpreter", ("_PyEval", "PyObject", "_Py", "Py")),
)


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


def bucket_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in BUCKETS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def where_time_goes(collapsed: str) -> list[tuple[str, int]]:
    """(bucket, samples), largest first, from py-spy's raw (collapsed) output."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        counts[bucket_of(stack.split(";"))] += int(count)
    return counts.most_common()


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
        record = [str(BIN / "py-spy"), "record", "--pid", str(server.pid), "--native",
                  "--rate", str(args.rate), "--duration", str(args.seconds)]  # fmt: skip
        subprocess.run([*record, "--format", "raw", "-o", f"{stem}.txt"], check=True)
        wrk_output, _ = load.communicate(timeout=load_seconds + 30)
        # The SVG from the same stacks (py-spy's flamegraph format is the same data).
        load = subprocess.Popen(
            ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{load_seconds}s",
             f"http://127.0.0.1:{port}/"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(2)
        subprocess.run([*record, "--format", "flamegraph", "-o", f"{stem}.svg"], check=True)
        load.wait(timeout=load_seconds + 30)
        load = None
    finally:
        if load is not None:
            load.kill()
        os.killpg(server.pid, 2)
        server.wait(timeout=15)
    table = where_time_goes(Path(f"{stem}.txt").read_text())
    total = sum(count for _, count in table) or 1
    rate_line = next((line for line in wrk_output.splitlines() if "Requests/sec" in line), "")
    lines = [
        f"# Where a request's time goes: {args.label}",
        "",
        f"{args.app}, Pyre from `{args.python}`, {args.seconds} s sampled at {args.rate}/s"
        f" under `wrk -t1 -c64` ({rate_line.strip() or 'rate not read'}).",
        "",
        "| part | share of samples |",
        "|---|---|",
        *(f"| {name} | {100 * count / total:.1f}% |" for name, count in table),
        "",
    ]
    Path(f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {stem}.svg, {stem}.txt, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
