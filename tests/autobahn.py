"""The Autobahn|Testsuite WebSocket cases against an echo server, driven by kosoku (a
Rust runner of Autobahn's own case files, `pip install kosoku`).

How it works: a server (Pyre with the ASGI or the PSGI echo app of
tests/apps/autobahn_echo.py, or uvicorn for comparison) is started on a free
loopback port; kosoku's command line runs the selected cases against it, several at
once, and writes Autobahn's report format (``index.json``: agent -> case id ->
``behavior``, ``behaviorClose``, ``duration``; an HTML page per case). The verdicts
are read back from index.json, summarised, and a case *fails* when its behaviour is
FAILED or ERROR or its closing handshake was wrong (FAILED, WRONG CODE, UNCLEAN).
OK, NON-STRICT (a SHOULD not followed), INFORMATIONAL and
UNIMPLEMENTED (e.g. permessage-deflate, cases 12 and 13) are not failures.

tests/test_autobahn.py runs cases 1-7 and 10 in `make test`; `make autobahn` runs
this module with 9 (performance: messages up to 16 MiB), 12 and 13 too:

    python -m tests.autobahn                      # Pyre, ASGI and PSGI echo apps
    python -m tests.autobahn --servers uvicorn --cases 1-7,10
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT, ServerProcess, serve, serve_uvicorn

ECHO_ASGI = "tests.apps.autobahn_echo:app"
ECHO_PSGI = "tests.apps.autobahn_echo:psgi_app"
# Case 9 sends messages of up to 16 MiB; the servers must accept them.
MAX_MESSAGE = 16 * 1024 * 1024 + 1024
SERVERS = ("pyre-asgi", "pyre-psgi", "uvicorn")
BAD_BEHAVIOR = {"FAILED", "ERROR"}
# FAILED BY CLIENT ("it is preferred that the server close the TCP connection") is
# a preference, not a failure: it is listed, not counted.
BAD_CLOSE = {"FAILED", "WRONG CODE", "UNCLEAN"}
VERDICTS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR")


@dataclass(frozen=True)
class Verdict:
    case_id: str
    behavior: str
    behavior_close: str
    duration_ms: int

    @property
    def failed(self) -> bool:
        return self.behavior in BAD_BEHAVIOR or self.behavior_close in BAD_CLOSE


@contextlib.contextmanager
def echo_server(name: str, tmp: Path) -> Iterator[ServerProcess]:
    """An echo server: ``pyre-asgi``, ``pyre-psgi`` or ``uvicorn``."""
    if name == "pyre-asgi":
        with serve(ECHO_ASGI, "--interface", "asgi", *pyre_options(), tmp=tmp) as server:
            yield server
    elif name == "pyre-psgi":
        with serve(ECHO_PSGI, "--interface", "psgi", *pyre_options(), tmp=tmp) as server:
            yield server
    elif name == "uvicorn":
        options = ("--ws-max-size", str(MAX_MESSAGE), "--no-access-log")
        with serve_uvicorn(ECHO_ASGI, *options, tmp=tmp) as server:
            yield server
    else:
        raise ValueError(f"unknown server {name!r}: one of {', '.join(SERVERS)}")


def pyre_options() -> tuple[str, ...]:
    """Pyre's WebSocket message limit, raised to what case 9 sends."""
    return ("--ws-max-size", str(MAX_MESSAGE), "--no-access-log")


def expand(selection: str) -> list[str]:
    """``"1-7,10"`` -> kosoku case globs ``["1.*", ..., "7.*", "10.*"]``."""
    globs = []
    for part in selection.split(","):
        first, _, last = part.strip().partition("-")
        for group in range(int(first), int(last or first) + 1):
            globs.append(f"{group}.*")
    return globs


def run_cases(
    url: str, cases: list[str], outdir: Path, *, parallelism: int = 4, timeout: float = 600
) -> list[Verdict]:
    """Runs kosoku against ``url``; the verdicts from its index.json, in case order.
    Raises TimeoutError when the run takes longer than ``timeout`` seconds."""
    command = [str(Path(sys.executable).parent / "kosoku"), url, "-p", str(parallelism)]
    command += [arg for case in cases for arg in ("-i", case)]
    command += ["-o", str(outdir)]
    try:
        # Exit status 1 means "some case failed": the report says which.
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"kosoku did not finish within {timeout}s: {cases}") from exc
    index = outdir / "index.json"
    if not index.exists():
        raise RuntimeError(f"kosoku wrote no report ({run.returncode}): {run.stderr[-2000:]}")
    verdicts = []
    for agent_cases in json.loads(index.read_text()).values():
        for case_id, entry in agent_cases.items():
            verdicts.append(
                Verdict(
                    case_id,
                    entry["behavior"],
                    entry["behaviorClose"],
                    int(entry.get("duration", 0)),
                )
            )
    return sorted(verdicts, key=lambda v: [int(p) for p in v.case_id.split(".")])


def summary(name: str, verdicts: list[Verdict]) -> str:
    """A table row of counts per verdict, then the cases that were not OK."""
    counts = collections.Counter(v.behavior for v in verdicts)
    failed = [v for v in verdicts if v.failed]
    row = " | ".join(f"{counts.get(k, 0):>{len(k)}}" for k in VERDICTS)
    lines = [f"{name:<10} | {len(verdicts):>5} | {row} | {len(failed):>6}"]
    by_kind: dict[str, list[str]] = collections.defaultdict(list)
    for verdict in verdicts:
        if verdict.failed:
            by_kind["failed"].append(
                f"{verdict.case_id} ({verdict.behavior}/{verdict.behavior_close})"
            )
        elif verdict.behavior != "OK":
            by_kind[verdict.behavior].append(verdict.case_id)
        elif verdict.behavior_close != "OK":
            by_kind[f"close {verdict.behavior_close}"].append(verdict.case_id)
    for kind, ids in by_kind.items():
        lines.append(f"  {kind}: {', '.join(ids)}")
    return "\n".join(lines)


def header() -> str:
    return f"{'server':<10} | {'cases':>5} | {' | '.join(VERDICTS)} | {'failed':>6}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="pyre-asgi,pyre-psgi", help=", ".join(SERVERS))
    parser.add_argument("--cases", default="1-7,9,10,12,13", help='e.g. "1-7,10"')
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per server")
    parser.add_argument("--reports", default=str(ROOT / "reports" / "autobahn"))
    args = parser.parse_args(argv)
    rows = []
    failed = False
    for name in args.servers.split(","):
        outdir = Path(args.reports) / name
        with tempfile.TemporaryDirectory() as tmp, echo_server(name, Path(tmp)) as server:
            url = f"ws://127.0.0.1:{server.port}"
            print(f"autobahn: {name} on {url}, cases {args.cases}", flush=True)
            verdicts = run_cases(
                url,
                expand(args.cases),
                outdir,
                parallelism=args.parallelism,
                timeout=args.timeout,
            )
        rows.append(summary(name, verdicts))
        failed |= any(v.failed for v in verdicts)
        print(f"autobahn: {name}: {len(verdicts)} cases, report in {outdir}/index.html")
    print()
    print(header())
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
