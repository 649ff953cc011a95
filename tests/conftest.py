"""Shared fixtures: a Pyre process serving the probe application."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess, serve


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[ServerProcess]:
    """Pyre serving tests/apps/probe.py with default options."""
    with serve("tests.apps.probe:app", "--log-level", "debug", tmp=tmp_path) as server:
        yield server
