"""One Pyre process per conformance module, serving tests/apps/conformance.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ServerProcess, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("conformance")
    with serve("tests.apps.conformance:app", tmp=tmp) as process:
        yield process
