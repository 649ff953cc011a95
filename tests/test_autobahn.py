"""The Autobahn|Testsuite cases 1-7 (framing, pings and pongs, reserved bits and
opcodes, fragmentation, UTF-8 validation, closing) and 10 (auto-fragmentation)
against Pyre's WebSocket echo, on ASGI and on PSGI, driven by kosoku (see
tests/autobahn.py). A failing test lists every failed case; the HTML reports are
left in the test's temporary directory. `make autobahn` runs cases 9, 12 and 13 too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.autobahn import echo_server, expand, run_cases

CASES = "1-7,10"
TIMEOUT = 240.0


@pytest.mark.parametrize("server_name", ["pyre-asgi", "pyre-psgi"])
def test_autobahn_cases_1_to_7_and_10(server_name: str, tmp_path: Path) -> None:
    with echo_server(server_name, tmp_path) as server:
        verdicts = run_cases(
            f"ws://127.0.0.1:{server.port}",
            expand(CASES),
            tmp_path / "reports",
            parallelism=4,
            timeout=TIMEOUT,
        )
    ran = {v.case_id.split(".")[0] for v in verdicts}
    assert ran == {"1", "2", "3", "4", "5", "6", "7", "10"}, f"case groups run: {sorted(ran)}"
    assert len(verdicts) > 240, f"only {len(verdicts)} cases ran"
    failed = [f"{v.case_id} ({v.behavior}/{v.behavior_close})" for v in verdicts if v.failed]
    assert not failed, (
        f"{len(failed)} of {len(verdicts)} Autobahn cases failed on {server_name}:"
        f" {', '.join(failed)} (reports in {tmp_path / 'reports'})"
    )
