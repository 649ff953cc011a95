"""The framework's exceptions: HTTP errors raised by handlers, and registration errors
raised when an app is put together."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus


class HTTPException(Exception):
    """Raise in a handler (or middleware) to answer with an HTTP error.

    ``detail`` is the body's message (default: the status's phrase); ``headers`` are
    added to the response (a 405 carries ``Allow``)."""

    def __init__(
        self, status: int, detail: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        if detail is None:
            try:
                detail = HTTPStatus(status).phrase
            except ValueError:
                detail = "Error"
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"HTTPException({self.status}, {self.detail!r})"


class RegistrationError(ValueError):
    """An endpoint cannot be registered: a duplicate route and method, an unknown
    converter, a parameter nothing can fill, or a converter that disagrees with the
    parameter's annotation. The message names the endpoint."""
