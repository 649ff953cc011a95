"""A throw-away PostgreSQL for the TechEmpower-style suite: Debian's server binaries
(package ``postgresql``), a cluster made with ``initdb`` in a temporary directory,
listening on a Unix socket only (no TCP) in that directory, on a port number chosen
at run time, with TechEmpower's ``hello_world`` database (tables ``world``, 10,000
rows, and ``fortune``, the 12 standard fortunes) owned by ``benchmarkdbuser``.

As root the cluster is made and run by the ``postgres`` user (PostgreSQL refuses to
run as root); otherwise by the current user. ``stop()`` (also on ``with`` exit) stops
the server and deletes the directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

DATABASE = "hello_world"
USER = "benchmarkdbuser"
PASSWORD = "benchmarkdbpass"
ROWS = 10_000

# TechEmpower's fortune table (toolset/databases/postgres/create-postgres.sql).
FORTUNES = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


SCHEMA = f"""
CREATE TABLE world (
  id integer NOT NULL,
  randomnumber integer NOT NULL default 0,
  PRIMARY KEY (id)
);
INSERT INTO world (id, randomnumber)
  SELECT x.id, least(floor(random() * 10000 + 1), 10000)
  FROM generate_series(1, {ROWS}) AS x(id);
CREATE TABLE fortune (
  id integer NOT NULL,
  message varchar(2048) NOT NULL,
  PRIMARY KEY (id)
);
INSERT INTO fortune (id, message) VALUES
{",".join(f"({i}, {_quote(m)})" for i, m in FORTUNES)};
GRANT SELECT, UPDATE ON world TO {USER};
GRANT SELECT ON fortune TO {USER};
ANALYZE;
"""


class PostgresError(Exception):
    """The server could not be installed, made or started; the message says why."""


def bin_dir() -> Path:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/N/bin)."""
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresError(
        "PostgreSQL's server is not installed (Debian package postgresql; "
        "scripts/test-deps.sh and scripts/bench.sh --tfb install it)"
    )


def free_port() -> int:
    """A port number nothing listens on over TCP; the server uses it only to name
    its socket file (.s.PGSQL.<port>)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    def __init__(self, cpu: int | None = None) -> None:
        self.cpu = cpu  # pin the server (taskset) to this CPU, when given
        self.dir: Path | None = None
        self.port = 0
        self.running = False
        self._user: pwd.struct_passwd | None = None

    # ------------------------------------------------------------------ helpers

    @property
    def host(self) -> str:
        """The socket's directory, asyncpg's and libpq's ``host``."""
        assert self.dir is not None
        return str(self.dir / "sock")

    def env(self) -> dict[str, str]:
        """What an implementation needs to connect (benchmarks/tfb/common.py)."""
        return {
            "TFB_PG_HOST": self.host,
            "TFB_PG_PORT": str(self.port),
            "TFB_PG_USER": USER,
            "TFB_PG_DATABASE": DATABASE,
        }

    def _demote(self) -> None:
        if self._user is not None:
            os.setgid(self._user.pw_gid)
            os.initgroups(self._user.pw_name, self._user.pw_gid)
            os.setuid(self._user.pw_uid)

    def _run(self, *command: str, input: str | None = None, timeout: float = 60) -> str:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        if self._user is not None:
            env["HOME"] = self._user.pw_dir
        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        done = subprocess.run(
            [*pin, *command],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.dir,
            timeout=timeout,
            preexec_fn=self._demote if self._user is not None else None,
            check=False,
        )
        if done.returncode != 0:
            raise PostgresError(
                f"{' '.join(command[:2])} exited with {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-1500:]}"
            )
        return done.stdout

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            str(bin_dir() / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            input=sql,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Postgres:
        bindir = bin_dir()
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresError("running as root, and there is no postgres user") from exc
        self.dir = Path(tempfile.mkdtemp(prefix="pyre-tfb-pg-"))
        (self.dir / "sock").mkdir()
        if self._user is not None:
            for path in (self.dir, self.dir / "sock"):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        self.port = free_port()
        data = str(self.dir / "data")
        self._run(
            str(bindir / "initdb"),
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        # Unix socket only; settings after TechEmpower's postgresql.conf where they
        # matter on a small machine (no synchronous commit: the updates test measures
        # the server, not the disk).
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.host}' "
            f"-p {self.port} -c max_connections=200 -c shared_buffers=128MB "
            "-c synchronous_commit=off -c fsync=off -c full_page_writes=off "
            "-c jit=off -c log_min_messages=warning"
        )
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            data,
            "-l",
            str(self.dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )
        self.running = True
        self.psql(
            f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}';\n"
            f"CREATE DATABASE {DATABASE} OWNER {USER} ENCODING 'UTF8' TEMPLATE template0;\n"
        )
        self.psql(SCHEMA, DATABASE)
        return self

    def log(self) -> str:
        if self.dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (self.dir / "server.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.dir is None:
            return
        if self.running:
            with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
                self._run(
                    str(bin_dir() / "pg_ctl"),
                    "-D",
                    str(self.dir / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                    timeout=60,
                )
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> Postgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_world(pg: Postgres, ids: list[int]) -> dict[int, int]:
    """The stored randomNumber of each row in ``ids`` (the verifier's view)."""
    if not ids:
        return {}
    listed = ",".join(str(int(i)) for i in ids)
    out = pg.psql(f"SELECT id, randomnumber FROM world WHERE id IN ({listed});", DATABASE)
    rows = {}
    for line in out.splitlines():
        row_id, _, number = line.partition("|")
        if number:
            rows[int(row_id)] = int(number)
    return rows
