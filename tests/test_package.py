"""The extension builds, imports, and reports the package's version."""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pyre
from pyre import _core

ROOT = Path(__file__).resolve().parent.parent


def test_version_matches_distribution_metadata() -> None:
    assert pyre.__version__ == importlib.metadata.version("pyre-http")


def test_version_matches_cargo_workspace() -> None:
    # The version lives under [workspace.package] in the root Cargo.toml.
    cargo = (ROOT / "Cargo.toml").read_text()
    match = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', cargo, re.M | re.S)
    assert match is not None
    assert pyre.__version__ == match.group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+", pyre.__version__)


def test_core_is_the_compiled_extension() -> None:
    assert Path(_core.__file__).suffix in {".so", ".pyd"}


def test_codec_defaults_are_exposed() -> None:
    assert _core.DEFAULT_MAX_HEAD_BYTES == 64 * 1024
    assert _core.DEFAULT_MAX_TARGET_BYTES == 8 * 1024
    assert _core.DEFAULT_MAX_HEADERS == 100


def test_stub_names_every_public_core_attribute() -> None:
    stub = (ROOT / "python" / "pyre" / "_core.pyi").read_text()
    public = {name for name in dir(_core) if not name.startswith("_")} | {"__version__"}
    declared = set(re.findall(r"^(\w+):", stub, flags=re.MULTILINE))
    declared |= set(re.findall(r"^class (\w+)", stub, flags=re.MULTILINE))
    declared |= set(re.findall(r"^def (\w+)", stub, flags=re.MULTILINE))
    assert public == declared


def test_cli_reports_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyre", "--version"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == f"pyre-http {pyre.__version__}"
