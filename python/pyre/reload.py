"""``--reload``: restart the server when the application's files change (development).

How it works: the reloader process binds the listening socket once
(:func:`pyre.supervisor.bind`) and never serves on it. It runs the server in a child
process that is a fresh interpreter (``subprocess``, not ``fork``, so every module is
imported anew), handing it the socket as an inherited descriptor (``fd``) and the rest
of the configuration as JSON in an environment variable. watchfiles watches the
directories; when a file that matches an include glob and no exclude glob changes, the
reloader stops the child gracefully (SIGTERM; SIGKILL once
``timeout_graceful_shutdown`` and a margin have passed) and starts another. The
listener stays open in the reloader throughout, so a connection made during a restart
waits in the kernel's accept queue and the new child serves it: none is refused.

A child that exits on its own (a syntax error, a failed import, a failed startup) is
logged and not started again until the next change, so fixing the file brings the
server back. SIGINT or SIGTERM stop the child, as above, and the reloader exits 0; a
second signal kills the child at once. The child stays in the reloader's process
group, so that it can read the terminal (``breakpoint()``); a Ctrl+C there signals
both, and the reloader then waits for the child without adding a SIGTERM. Should the
reloader itself be killed, the kernel sends the child SIGTERM (Linux's parent-death
signal), so no server is left holding the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from pyre.config import Config, ConfigError
from pyre.supervisor import bind

__all__ = ["ReloadFilter", "run_reload", "watch_dirs"]

logger = logging.getLogger("pyre.error")

#: Files that reload unless excluded: uvicorn's default.
DEFAULT_INCLUDES = ("*.py",)
#: Files that never reload unless included by name: uvicorn's defaults (dot files,
#: compiled Python, vim swap files, ``~`` backups).
DEFAULT_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")
#: How often (milliseconds) the reloader looks up from watching to notice a child that
#: exited by itself. Also the delay before the first child starts: once watchfiles has
#: reported its first timeout, the watches are in place, so no change made after the
#: server announced itself can be missed.
POLL_MILLISECONDS = 300
#: Time a stopping child gets beyond ``timeout_graceful_shutdown``: cancelling the
#: requests still running and the application's lifespan shutdown.
SHUTDOWN_MARGIN_SECONDS = 5.0
#: The environment variable that carries the child's configuration (JSON).
CHILD_CONFIG_ENV = "_PYRE_RELOAD_CONFIG"
#: prctl(2) option: the signal a process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: What the child runs: :func:`serve_child`.
CHILD_CODE = "from pyre.reload import serve_child; serve_child()"


def run_reload(config: Config) -> int:
    """Serve ``config`` in a child process restarted on changes; the exit status."""
    return Reloader(config).run()


def watch_dirs(config: Config) -> list[Path]:
    """The directories to watch, absolute, none inside another: ``reload_dirs``, or by
    default the current directory and ``app_dir`` (which adds nothing unless it lies
    outside the current directory). Directories that do not exist are left out."""
    if config.reload_dirs:
        candidates = [Path(d).resolve() for d in config.reload_dirs]
    else:
        candidates = [Path.cwd(), Path(config.app_dir).resolve()]
    kept: list[Path] = []
    for directory in candidates:
        if not directory.is_dir():
            continue
        if any(directory == k or k in directory.parents for k in kept):
            continue
        kept = [k for k in kept if directory not in k.parents]
        kept.append(directory)
    return kept


class ReloadFilter:
    """Which changed files reload, decided as uvicorn does.

    A file reloads when it matches an include glob (``*.py`` and ``reload_includes``)
    and no exclude glob (:data:`DEFAULT_EXCLUDES` and ``reload_excludes``). Globs
    match from the right (``PurePath.match``): ``*.py`` matches at any depth,
    ``templates/*.html`` an ``.html`` file in any ``templates`` directory. A default
    is dropped when it is listed on the other side (``reload_includes=[".*"]`` watches
    dot files). An include without wildcards that matches wins over the exclude globs
    (``reload_includes=[".env"]``). An exclude that names an existing directory
    excludes everything below it. Beyond uvicorn, nothing below a directory that
    tools write into (``ignore_dirs``: watchfiles' ``.git``, ``__pycache__``,
    ``.venv``, ``node_modules``...) reloads, counted from the watched directory.

    Called as watchfiles' ``watch_filter``, with a change and a path.
    """

    def __init__(self, config: Config, roots: Iterable[Path], ignore_dirs: Iterable[str]) -> None:
        self.includes = [p for p in DEFAULT_INCLUDES if p not in config.reload_excludes]
        self.includes += [p for p in config.reload_includes if p not in self.includes]
        self.excludes = [p for p in DEFAULT_EXCLUDES if p not in config.reload_includes]
        self.exclude_dirs: list[Path] = []
        for pattern in config.reload_excludes:
            if os.path.isdir(pattern):
                self.exclude_dirs.append(Path(pattern).resolve())
            elif pattern not in self.excludes:
                self.excludes.append(pattern)
        self.roots = list(roots)
        self.ignore_dirs = frozenset(ignore_dirs)

    def __call__(self, change: Any, path: str) -> bool:
        return self.accepts(Path(path))

    def accepts(self, path: Path) -> bool:
        """Whether a change to ``path`` (absolute) reloads."""
        if any(d in path.parents for d in self.exclude_dirs) or self._in_ignored_dir(path):
            return False
        for include in self.includes:
            if path.match(include):
                if str(path).endswith(include):  # named without wildcards: wins
                    return True
                return not any(path.match(exclude) for exclude in self.excludes)
        return False

    def _in_ignored_dir(self, path: Path) -> bool:
        for root in self.roots:
            if root in path.parents:
                return any(p in self.ignore_dirs for p in path.relative_to(root).parts[:-1])
        return False


class Reloader:
    """The reloader process: one listener, one child at a time, restarted on changes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.child: subprocess.Popen[bytes] | None = None
        self.exit_reported = False
        self.stopping = threading.Event()  # watchfiles' stop_event
        self.forced = False
        self.child_interrupted = False  # Ctrl+C in the terminal reached the child too

    def on_signal(self, signum: int, frame: Any) -> None:
        if self.stopping.is_set():
            self.forced = True
        elif signum == signal.SIGINT and _in_terminal_foreground():
            self.child_interrupted = True
        self.stopping.set()

    def run(self) -> int:
        watchfiles = _import_watchfiles()
        self.config.configure_logging()
        if self.config.workers > 1:
            logger.warning(
                "--workers %d is ignored with --reload: one server process serves",
                self.config.workers,
            )
        dirs = watch_dirs(self.config)
        file_filter = ReloadFilter(self.config, dirs, watchfiles.DefaultFilter.ignore_dirs)
        sock = bind(self.config)
        logger.info("Will watch for changes in these directories: %s", [str(d) for d in dirs])
        logger.info(
            "Pyre reloader [%d] on %s using WatchFiles", os.getpid(), _where(sock.getsockname())
        )
        previous = {
            sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        changes_seen = watchfiles.watch(
            *dirs,
            watch_filter=file_filter,
            stop_event=self.stopping,
            rust_timeout=POLL_MILLISECONDS,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        try:
            with contextlib.closing(changes_seen):
                for changes in changes_seen:
                    if self.stopping.is_set():
                        break
                    if changes:
                        names = ", ".join(sorted(repr(_display(path)) for _, path in changes))
                        logger.warning("WatchFiles detected changes in %s. Reloading...", names)
                        self.stop_child()
                        if not self.stopping.is_set():
                            self.start_child(sock.fileno())
                    elif self.child is None:  # the first timeout: the watches are set
                        self.start_child(sock.fileno())
                    else:
                        self.report_exit()
        finally:
            self.stop_child()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sock.close()
            if self.config.uds is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.config.uds)
        logger.info("Stopping reloader process [%d]", os.getpid())
        return 0

    def start_child(self, fd: int) -> None:
        """Start a server process on the inherited listener ``fd``."""
        child_config = dataclasses.replace(
            self.config,
            fd=fd,
            uds=None,
            workers=1,
            reload=False,
            reload_dirs=[],
            reload_includes=[],
            reload_excludes=[],
        )
        payload = {"reloader": os.getpid(), "config": dataclasses.asdict(child_config)}
        env = {**os.environ, CHILD_CONFIG_ENV: json.dumps(payload)}
        self.child = subprocess.Popen([sys.executable, "-c", CHILD_CODE], env=env, pass_fds=(fd,))
        self.exit_reported = False
        logger.info("Started server process [%d]", self.child.pid)

    def report_exit(self) -> None:
        """Log, once, a child that exited by itself; it waits for the next change."""
        child = self.child
        if child is None or self.exit_reported or child.poll() is None:
            return
        self.exit_reported = True
        logger.error(
            "Server process [%d] exited with status %d; waiting for changes to start it again",
            child.pid,
            child.returncode,
        )

    def stop_child(self) -> None:
        """SIGTERM the child and wait for it to drain; SIGKILL it after
        ``timeout_graceful_shutdown`` and a margin, or at once after a second signal.

        The child shares the reloader's process group (so that it can read the
        terminal: ``breakpoint()``), hence a Ctrl+C reaches it as well. It is not sent
        SIGTERM on top of that, which it would take for a second signal and skip the
        wait for requests in flight."""
        child = self.child
        if child is None or child.poll() is not None:
            return
        if not self.child_interrupted:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.timeout_graceful_shutdown
        deadline += SHUTDOWN_MARGIN_SECONDS
        while not self.forced and time.monotonic() < deadline:
            try:
                child.wait(0.1)
                return
            except subprocess.TimeoutExpired:
                pass
        logger.warning("Killing server process [%d]", child.pid)
        child.kill()
        child.wait()


def serve_child() -> None:
    """A reloader's server process: serve the configuration the reloader passed, and
    exit with the server's status; 1, with the error logged, when the application
    cannot be imported or started."""
    from pyre.importer import ImportFromStringError
    from pyre.serve import run_config

    payload = json.loads(os.environ.pop(CHILD_CONFIG_ENV))
    _stop_with(payload["reloader"])
    config = Config(**payload["config"])
    try:
        status = run_config(config)
    except (ImportFromStringError, ConfigError) as exc:
        logger.error("%s", exc)
        status = 1
    except KeyboardInterrupt:  # Ctrl+C while importing: the reloader stops too
        status = 1
    except Exception:
        logger.exception("Could not start the application")
        status = 1
    sys.exit(status)


def _stop_with(reloader: int) -> None:
    """Have the kernel send SIGTERM to this process when the reloader dies, even by
    SIGKILL, so that no server is left holding the port (Linux's PR_SET_PDEATHSIG;
    elsewhere, nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != reloader:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _in_terminal_foreground() -> bool:
    """Whether this process's group is its terminal's foreground group: the one a
    Ctrl+C in that terminal signals."""
    try:
        tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False  # no controlling terminal
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(tty)


def _import_watchfiles() -> ModuleType:
    try:
        import watchfiles
    except ImportError:
        raise ConfigError(
            "reload",
            "needs watchfiles, which is not installed: pip install watchfiles"
            " (or pip install 'pyre-http[reload]')",
        ) from None
    return watchfiles


def _where(address: Any) -> str:
    """The listener's address as the server logs it."""
    if isinstance(address, str):
        return f"unix socket {address}"
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _display(path: str) -> str:
    """``path`` relative to the current directory when it lies inside it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
