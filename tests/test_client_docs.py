"""Every complete example of docs/client.md (a ```python block that calls
``asyncio.run``) runs, as its own process, against tests/apps/client_docs.py served by
Pyre, with a recording proxy standing in for the docs' proxy; the addresses of the
examples (127.0.0.1:8000 and :3128) are replaced by the real ones (port 0)."""

from __future__ import annotations

import os
import re
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, serve

DOC = ROOT / "docs" / "client.md"
BLOCKS = [
    block
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    if "asyncio.run(" in block
]


class _Proxy(socketserver.StreamRequestHandler):
    """Answers every request itself: 200 with the request line as the body; refuses
    every CONNECT with a 403."""

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if line.startswith(b"CONNECT "):
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                continue
            length = 0
            while (field := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = field.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.rfile.read(length)
            body = line.strip()
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))


@pytest.fixture(scope="module")
def addresses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    proxy = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Proxy)
    proxy.daemon_threads = True
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        with serve("tests.apps.client_docs:app", tmp=tmp_path_factory.mktemp("docs")) as server:
            yield f"127.0.0.1:{server.port}", f"127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_docs_example_runs(block: str, addresses: tuple[str, str], tmp_path: Path) -> None:
    server, proxy = addresses
    code = block.replace("127.0.0.1:8000", server).replace("127.0.0.1:3128", proxy)
    (tmp_path / "photo.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "report.csv").write_text("a,b\n")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, f"{code}\n{result.stdout}\n{result.stderr}"
