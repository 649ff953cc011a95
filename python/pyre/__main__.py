"""``python -m pyre``: the ``pyre-http`` command (see :mod:`pyre.cli`).

The console script ``pyre-http`` points at :data:`main` here, the click command.
"""

from __future__ import annotations

from pyre.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main(prog_name="pyre-http")
