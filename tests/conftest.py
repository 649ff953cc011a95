"""Shared fixtures: a Pyre process serving the probe application; logger cleanup."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess, serve


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[ServerProcess]:
    """Pyre serving tests/apps/probe.py with default options."""
    with serve("tests.apps.probe:app", "--log-level", "debug", tmp=tmp_path) as server:
        yield server


@pytest.fixture
def clean_loggers() -> Iterator[None]:
    """Restores the pyre.error and pyre.access loggers after a test configured them."""
    names = ("pyre.error", "pyre.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = True
        logger.disabled = False
