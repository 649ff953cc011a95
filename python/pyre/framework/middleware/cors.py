"""Cross-origin resource sharing (the Fetch standard's CORS protocol), with the
options and behaviour of Starlette's ``CORSMiddleware``.

How it works: a request without ``Origin`` passes untouched. A preflight (``OPTIONS``
with ``Origin`` and ``Access-Control-Request-Method``) is answered here, never
routed: 200 when the origin, the method and every requested header are allowed,
else 400 naming what was refused (``Disallowed CORS origin, method``); both carry
the ``Access-Control-Allow-*`` headers, so the browser can tell. Any other request
with an allowed ``Origin`` is served and its response gets
``Access-Control-Allow-Origin`` (``*`` when every origin is allowed and no
credentials are involved, else the origin itself with ``Vary: Origin``),
``Access-Control-Allow-Credentials`` and ``Access-Control-Expose-Headers``; a
disallowed origin gets no CORS headers, so the browser withholds the response.
Add it first (outermost), so that it also sees errors and the other middleware's
answers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pyre.framework.responses import PlainTextResponse, Response, to_response

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
#: Request headers a browser sends without asking (CORS-safelisted).
SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})


class CORSMiddleware:
    """``allow_origins`` (``["*"]`` for any), ``allow_origin_regex`` (matched whole),
    ``allow_methods`` (``["*"]`` for any), ``allow_headers`` (``["*"]`` for any),
    ``allow_credentials`` (cookies and authorization), ``expose_headers`` (response
    headers scripts may read), ``max_age`` (seconds a browser may cache a
    preflight)."""

    def __init__(
        self,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        self.allow_all_origins = "*" in allow_origins
        self.allow_origins = frozenset(allow_origins)
        self.allow_origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_all_methods = "*" in allow_methods
        self.allow_methods = (
            ALL_METHODS if self.allow_all_methods else tuple(m.upper() for m in allow_methods)
        )
        self.allow_all_headers = "*" in allow_headers
        self.allow_headers = frozenset(h.lower() for h in allow_headers) | SAFELISTED_HEADERS
        self.allow_credentials = allow_credentials
        self.expose_headers = ", ".join(expose_headers)
        self.max_age = max_age
        # With credentials a browser refuses "*": the origin is echoed instead.
        self.explicit_origin = not self.allow_all_origins or allow_credentials

    def is_allowed_origin(self, origin: str) -> bool:
        if self.allow_all_origins:
            return True
        if self.allow_origin_regex is not None and self.allow_origin_regex.fullmatch(origin):
            return True
        return origin in self.allow_origins

    async def __call__(self, request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Response:
        origin = request.headers.get("origin")
        if origin is None:
            return to_response(await call_next(request))
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            return self.preflight(request, origin)
        response = to_response(await call_next(request))
        self.decorate(response, request, origin)
        return response

    def preflight(self, request: Any, origin: str) -> Response:
        method = request.headers.get("access-control-request-method", "").strip().upper()
        requested = request.headers.get("access-control-request-headers") or ""
        wanted = [h.strip().lower() for h in requested.split(",") if h.strip()]
        refused = []
        if not self.is_allowed_origin(origin):
            refused.append("origin")
        if not self.allow_all_methods and method not in self.allow_methods:
            refused.append("method")
        if not self.allow_all_headers and any(h not in self.allow_headers for h in wanted):
            refused.append("headers")
        headers = {
            "access-control-allow-methods": ", ".join(self.allow_methods),
            "access-control-max-age": str(self.max_age),
        }
        if self.is_allowed_origin(origin):
            headers["access-control-allow-origin"] = origin if self.explicit_origin else "*"
        if self.allow_all_headers and wanted:
            headers["access-control-allow-headers"] = ", ".join(wanted)
        elif self.allow_headers - SAFELISTED_HEADERS:
            headers["access-control-allow-headers"] = ", ".join(sorted(self.allow_headers))
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        if refused:
            response = PlainTextResponse(
                "Disallowed CORS " + ", ".join(refused), status=400, headers=headers
            )
        else:
            response = PlainTextResponse("OK", headers=headers)
        if self.explicit_origin:
            response.headers.add_vary("Origin")
        return response

    def decorate(self, response: Response, request: Any, origin: str) -> None:
        """Adds the CORS headers to the response of an actual (not preflight) request."""
        headers = response.headers
        mirror = self.explicit_origin or "cookie" in request.headers
        if mirror:
            headers.add_vary("Origin")
        if not self.is_allowed_origin(origin):
            return
        headers["access-control-allow-origin"] = origin if mirror else "*"
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        if self.expose_headers:
            headers["access-control-expose-headers"] = self.expose_headers
