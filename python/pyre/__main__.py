"""The ``pyre-http`` command (also ``python -m pyre``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pyre import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyre-http",
        description="Pyre: a fast, strict HTTP/1.1 server for Python web applications.",
    )
    parser.add_argument("--version", action="version", version=f"pyre-http {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script. Serving arrives with the server issue;
    today the command reports its version."""
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
