"""Type stubs for the Rust extension module ``pyre._core`` (crates/pyre-py)."""

from typing import Final

__version__: Final[str]
"""The package version; the single source is the workspace Cargo.toml."""

DEFAULT_MAX_HEAD_BYTES: Final[int]
"""Largest request head accepted by default, in bytes (larger: 431)."""

DEFAULT_MAX_TARGET_BYTES: Final[int]
"""Longest request-target accepted by default, in bytes (longer: 414)."""

DEFAULT_MAX_HEADERS: Final[int]
"""Most header fields accepted by default (more: 431)."""
