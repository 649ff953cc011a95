"""Built-in framework middleware (``app.add_middleware(...)``, the native path: no
ASGI translation): :class:`CORSMiddleware` and :class:`GZipMiddleware`."""

from __future__ import annotations

from pyre.framework.middleware.cors import CORSMiddleware
from pyre.framework.middleware.gzip import GZipMiddleware

__all__ = ["CORSMiddleware", "GZipMiddleware"]
