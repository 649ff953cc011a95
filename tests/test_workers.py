"""--workers N: worker processes under a supervisor sharing one listener; a worker
killed with SIGKILL is replaced while service continues; SIGTERM stops them all and
exits 0 without failing a request of a running load; SIGHUP replaces every worker
under load without failing or refusing one; --max-requests recycles workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.load import Load
from tests.support import SUPERVISOR_READY, children, serve, serve_command, wait_for


@contextlib.contextmanager
def shared_supervisor(tmp_path: Path, workers: int = 2, *args: str):  # type: ignore[no-untyped-def]
    """The supervisor serving a listener it inherits (--fd): one listener, shared by
    its workers (rather than a SO_REUSEPORT listener each)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        command = [
            sys.executable, "-m", "pyre", "tests.apps.pid_app:app",
            "--fd", str(sock.fileno()), "--workers", str(workers), *args,
        ]  # fmt: skip
        with serve_command(
            command, SUPERVISOR_READY, tmp=tmp_path, pass_fds=(sock.fileno(),)
        ) as server:
            # The server holds the listener from now on (as when a service manager
            # hands it over): once it stops, nothing else keeps it listening.
            sock.close()
            assert "one shared listener" in server.log
            yield server
    finally:
        sock.close()


def supervisor(tmp_path: Path, workers: int = 2, *args: str):  # type: ignore[no-untyped-def]
    command = [
        sys.executable,
        "-m",
        "pyre",
        "tests.apps.pid_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--workers",
        str(workers),
        *args,
    ]
    return serve_command(command, SUPERVISOR_READY, tmp=tmp_path)


def test_workers_serve_and_stop_on_sigterm(tmp_path: Path) -> None:
    with supervisor(tmp_path) as server:
        pid = server.process.pid
        workers = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        seen = {int(httpx.get(server.url, timeout=5).text) for _ in range(20)}
        assert seen and seen <= workers
        assert server.stop(signal.SIGTERM) == 0
    for worker in workers:
        assert (
            not Path(f"/proc/{worker}").exists()
            or "Z" in Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
        )


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    with supervisor(tmp_path) as server:
        pid = server.process.pid
        first = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        replaced = wait_for(lambda: (c := children(pid)) and len(c) == 2 and victim not in c and c)
        assert replaced != first
        # Service continues through the change, on the shared listener.
        for _ in range(20):
            assert int(httpx.get(server.url, timeout=5).text) in replaced
        server.wait_for_log("exited with -9")


#: Each request waits this long in the application, so requests are in flight when
#: a signal arrives.
SLOW_PATH = "/?sleep=0.002"


DESIGNS = {"reuseport": supervisor, "shared": shared_supervisor}


@pytest.mark.parametrize("design", DESIGNS)
def test_sigterm_under_load_fails_no_request(design: str, tmp_path: Path) -> None:
    with DESIGNS[design](tmp_path) as server:
        wait_for(lambda: len(children(server.process.pid)) == 2)
        with Load(server.port, SLOW_PATH, stop_when_refused=True) as load:
            load.wait_for("ok", 300)
            assert server.stop(signal.SIGTERM) == 0, server.log
            load.stop()
        assert load.count("failed") == 0, load.summary()
        # Every thread ran until the listener was gone.
        assert load.count("refused") == load.threads, load.summary()


def test_sigterm_under_load_fails_no_request_in_a_single_process(tmp_path: Path) -> None:
    with serve("tests.apps.pid_app:app", tmp=tmp_path) as server:
        with Load(server.port, SLOW_PATH, stop_when_refused=True) as load:
            load.wait_for("ok", 300)
            assert server.stop(signal.SIGTERM) == 0, server.log
            load.stop()
        assert load.count("failed") == 0, load.summary()
        assert load.count("refused") == load.threads, load.summary()


@pytest.mark.parametrize("design", DESIGNS)
def test_sighup_replaces_every_worker_under_load_failing_and_refusing_nothing(
    design: str, tmp_path: Path
) -> None:
    with DESIGNS[design](tmp_path) as server:
        pid = server.process.pid
        first = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        with Load(server.port, SLOW_PATH) as load:
            load.wait_for("ok", 300)
            os.kill(pid, signal.SIGHUP)
            second = wait_for(
                lambda: (c := children(pid)) and len(c) == 2 and not (c & first) and c, 30
            )
            served = load.count("ok")
            load.wait_for("ok", served + 300)
        assert load.count("failed") == 0, load.summary()
        assert load.count("refused") == 0, load.summary()
        # Both generations served, and the new one only after the change.
        assert set(load.pids) & first and set(load.pids) & second, load.summary()
        server.wait_for_log("SIGHUP: replacing the workers one by one")
        assert server.stop(signal.SIGTERM) == 0


def test_max_requests_recycles_workers_under_load(tmp_path: Path) -> None:
    with supervisor(tmp_path, 1, "--max-requests", "150", "--max-requests-jitter", "20") as server:
        with Load(server.port, SLOW_PATH) as load:
            wait_for(lambda: len(load.pids) >= 3, 30)
        # Once the replaced workers have drained, one remains.
        alive = wait_for(lambda: (c := children(server.process.pid)) and len(c) == 1 and c)
        assert load.count("failed") == 0, load.summary()
        assert load.count("refused") == 0, load.summary()
        # Every replaced worker served its limit first (it keeps serving until its
        # successor is ready, so it may serve more).
        retired = {pid: n for pid, n in load.pids.items() if pid not in alive}
        assert len(retired) >= 2, load.summary()
        assert all(n >= 150 for n in retired.values()), load.summary()
        server.wait_for_log("served its --max-requests; replacing it")


APP_V1 = """
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"VERSION " + str(os.getpid()).encode()})
"""


def test_sighup_deploys_new_code_and_keeps_the_old_workers_when_it_does_not_start(
    tmp_path: Path,
) -> None:
    app_file = tmp_path / "deployed_app.py"
    app_file.write_text(APP_V1.replace("VERSION", "v1"))
    command = [
        sys.executable, "-m", "pyre", "deployed_app:app", "--app-dir", str(tmp_path),
        "--host", "127.0.0.1", "--port", "0", "--workers", "2", "--lifespan", "off",
    ]  # fmt: skip
    with serve_command(command, SUPERVISOR_READY, tmp=tmp_path) as server:
        pid = server.process.pid
        first = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        assert httpx.get(server.url, timeout=5).text.startswith("v1 ")
        # A broken deploy: the successor fails to import; the old workers stay.
        app_file.write_text("raise RuntimeError('broken deploy')\n")
        os.kill(pid, signal.SIGHUP)
        server.wait_for_log("did not start; keeping worker", timeout=15)
        assert children(pid) == first
        assert httpx.get(server.url, timeout=5).text.startswith("v1 ")
        # A good deploy: every worker is replaced and serves the new code (a body of
        # another length, so a cached bytecode file of the same second cannot match).
        app_file.write_text(APP_V1.replace("VERSION", "v2.0"))
        os.kill(pid, signal.SIGHUP)
        second = wait_for(
            lambda: (c := children(pid)) and len(c) == 2 and not (c & first) and c, 30
        )
        answers = {httpx.get(server.url, timeout=5).text for _ in range(10)}
        assert all(a.startswith("v2.0 ") and int(a.split()[1]) in second for a in answers)
        assert server.stop(signal.SIGTERM) == 0


def test_a_second_sigint_stops_the_workers_at_once(tmp_path: Path) -> None:
    with supervisor(tmp_path, 2) as server:
        pid = server.process.pid
        workers = wait_for(lambda: len(children(pid)) == 2 and children(pid))

        # A request that would hold the graceful drain for 60 s.
        def hold() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{server.url}/?sleep=60", timeout=30)

        threading.Thread(target=hold, daemon=True).start()
        time.sleep(0.5)  # for the request to reach a worker
        server.process.send_signal(signal.SIGINT)
        server.wait_for_log("Stopping 2 workers")
        assert server.process.poll() is None  # still draining
        assert server.stop(signal.SIGINT, timeout=10) == 0
        assert not any(_alive(w) for w in workers)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
