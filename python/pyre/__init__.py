"""Pyre: a fast, strict HTTP/1.1 server for Python web applications.

The core (HTTP/1.1 codec, sockets, flow control) is Rust, reached only through
``pyre._core``. This package is the Python face: configuration, the CLI, and later
the framework and the client.
"""

from pyre._core import __version__

__all__ = ["__version__"]
