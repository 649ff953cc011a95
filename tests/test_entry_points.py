"""The ways to start Pyre serve the same application: `pyre.run(app)`, the console
script, and both event loops."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, ServerProcess, serve, start_with_calls, wait_for_port


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_both_event_loops_serve(loop: str, tmp_path: Path) -> None:
    with serve("tests.apps.probe:app", "--loop", loop, tmp=tmp_path) as server:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/").text == "ok"
            assert client.post("/echo", content=b"x" * 100_000).content == b"x" * 100_000
            streamed = client.get("/stream?n=5").text
    assert streamed == "".join(f"chunk {i}\n" for i in range(5))


def test_console_script_serves(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("pyre-http")
    calls = tmp_path / "calls.txt"
    process = start_with_calls([str(script), "tests.apps.probe:app", "--port", "0"], calls)
    server = ServerProcess(process, wait_for_port(process), calls)
    try:
        assert httpx.get(f"{server.url}/").text == "ok"
    finally:
        assert server.stop() == 0


def test_pyre_run_serves_an_application_object(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    code = (
        "import pyre\n"
        "from tests.apps.probe import app\n"
        "pyre.run(app, port=0, timeout_keep_alive=5, limit_concurrency=10)\n"
    )
    process = start_with_calls([sys.executable, "-c", code], calls)
    server = ServerProcess(process, wait_for_port(process), calls)
    try:
        assert httpx.get(f"{server.url}/scope").json()["type"] == "http"
        assert server.calls() == ["GET /scope"]
    finally:
        assert server.stop(signal.SIGTERM) == 0


def test_pyre_run_rejects_a_bad_option() -> None:
    code = "import pyre\npyre.run(lambda *a: None, port=70000)\n"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "port" in result.stderr
