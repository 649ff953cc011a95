"""Typed handler parameters: the ``Query()``, ``Header()``, ``Cookie()`` and ``Body()``
markers, and the per-endpoint *plan* that binds them from a request.

How a parameter is bound (decided once, when the blueprint is added):

1. a path parameter of the template, or the request: as before (routing.py);
2. a marker, as the default (``q: int = Query(5, ge=1)``) or in ``Annotated[int,
   Query(ge=1)]``: from that place, under ``alias`` or the parameter's name (a
   header's name has ``_`` turned into ``-``, ``x_token`` is ``x-token``);
3. a structured type (a msgspec ``Struct``, a dataclass, a ``TypedDict``, a pydantic
   model): the JSON body, decoded and validated in one step;
4. a scalar (or ``list[scalar]``) with a plain default: the query string;
5. anything else is a RegistrationError naming the endpoint and the parameter. A
   parameter without a default or a marker must be a path parameter, so that a
   misspelt path parameter is caught at registration instead of becoming a
   required query parameter.

The plan is a list of small binders; a handler with no typed parameters gets no
plan at all and keeps the plain invoker (routing.Endpoint.invoke), so it pays
nothing per request for this module.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from pyre.framework.exceptions import RegistrationError
from pyre.framework.validation import (
    Constraints,
    Invalid,
    RequestValidationError,
    body_decoder,
    error,
    is_model,
    is_optional,
    scalar_converter,
    sequence_item,
)


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: A marker's default when the value must be sent.
REQUIRED: Any = _Required()


@dataclasses.dataclass(frozen=True)
class Param:
    """Where a parameter comes from and what it must satisfy; made by ``Query()``,
    ``Header()``, ``Cookie()`` or ``Body()``."""

    location: str
    default: Any = REQUIRED
    alias: str | None = None
    description: str | None = None
    constraints: Constraints = dataclasses.field(default_factory=Constraints)
    convert_underscores: bool = True


def _marker(location: str) -> Callable[..., Any]:
    def make(
        default: Any = REQUIRED,
        *,
        alias: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        convert_underscores: bool = True,
    ) -> Any:
        constraints = Constraints(gt, ge, lt, le, min_length, max_length, pattern)
        return Param(location, default, alias, description, constraints, convert_underscores)

    make.__name__ = location.capitalize()
    make.__doc__ = (
        f"A handler parameter taken from the request's {location}: ``default`` (none:"
        " required), ``alias`` (the name on the wire), ``description`` (OpenAPI),"
        " bounds ``gt``/``ge``/``lt``/``le`` and ``min_length``/``max_length``/``pattern``."
    )
    return make


Query = _marker("query")
Header = _marker("header")
Cookie = _marker("cookie")
Body = _marker("body")


@dataclasses.dataclass
class Binder:
    """How one typed parameter is filled, and what OpenAPI says about it."""

    name: str
    location: str
    key: str
    annotation: Any
    required: bool
    default: Any
    description: str | None
    constraints: Constraints
    bind: Callable[[Any], Any]


@dataclasses.dataclass
class Plan:
    """The typed parameters of one endpoint: text binders (query, header, cookie),
    and at most one body."""

    params: list[Binder]
    body: Binder | None

    def __bool__(self) -> bool:
        return bool(self.params) or self.body is not None

    def bind_text(self, request: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        """Fills ``kwargs`` with the query, header and cookie parameters; returns the
        errors (empty: all bound). Sync, so an endpoint without a body awaits
        nothing for its parameters."""
        errors: list[dict[str, Any]] = []
        query: dict[str, list[str]] | None = None
        for binder in self.params:
            try:
                if binder.location == "query":
                    if query is None:
                        query = parse_query(request.query_string)
                    kwargs[binder.name] = binder.bind(query)
                else:
                    kwargs[binder.name] = binder.bind(request)
            except Invalid as exc:
                loc = [binder.location, binder.key]
                errors.append(error(exc.kind, loc, exc.message, exc.value))
        return errors

    async def bind(self, request: Any, kwargs: dict[str, Any]) -> None:
        """Fills ``kwargs``; raises one RequestValidationError naming every failing
        field (the text parameters' and the body's)."""
        errors = self.bind_text(request, kwargs)
        if self.body is not None:
            try:
                kwargs[self.body.name] = await self.body.bind(request)
            except RequestValidationError as exc:
                errors.extend(exc.errors)
        if errors:
            raise RequestValidationError(errors)


def strip_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """(the type, its Annotated metadata)."""
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extras = typing.get_args(annotation)
        return inner, tuple(extras)
    return annotation, ()


def plan_parameter(
    label: str,
    parameter: inspect.Parameter,
    annotation: Any,
    extras: tuple[Any, ...],
    connection: str = "the request",
) -> Binder | None:
    """The binder of one parameter that is neither a path parameter nor the request;
    None for ``*args``/``**kwargs``. Raises RegistrationError when nothing can
    fill it."""
    name = parameter.name
    if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
        return None
    marker = next((e for e in extras if isinstance(e, Param)), None)
    default = parameter.default
    if isinstance(default, Param):
        marker, default = default, inspect.Parameter.empty
    if marker is not None and marker.default is not REQUIRED:
        default = marker.default
    if annotation is inspect.Parameter.empty and default is not inspect.Parameter.empty:
        # Unannotated: typed like its default when that is a plain scalar.
        kind = type(default)
        annotation = kind if kind in (int, float, bool, str) else str
    problem = f"{label}: parameter {name!r}"
    if marker is None:
        if is_model(annotation):
            marker = Param("body")
        elif default is inspect.Parameter.empty:
            raise RegistrationError(
                f"{problem} is neither a path parameter of the route nor {connection},"
                " and has no default (a query parameter needs a default or Query())"
            )
        else:
            marker = Param("query")
    if marker.location == "body":
        try:
            decode = body_decoder(annotation)
        except TypeError as exc:
            raise RegistrationError(f"{problem}: {exc}") from None
        return Binder(
            name,
            "body",
            name,
            annotation,
            default is inspect.Parameter.empty,
            default,
            marker.description,
            marker.constraints,
            _body_binder(decode, default),
        )
    key = marker.alias or name
    if marker.location == "header" and marker.alias is None and marker.convert_underscores:
        key = name.replace("_", "-")
    optional, inner = is_optional(annotation)
    item = sequence_item(inner)
    if item is not None and marker.location == "cookie":
        raise RegistrationError(f"{problem}: a cookie holds one value, not {inner!r}")
    convert = scalar_converter(item if item is not None else inner)
    if convert is None:
        raise RegistrationError(
            f"{problem} is annotated {getattr(annotation, '__name__', repr(annotation))},"
            f" which a {marker.location} value (text) cannot become"
        )
    if default is inspect.Parameter.empty and optional:
        default = None
    required = default is inspect.Parameter.empty
    read = _reader(marker.location, key.lower() if marker.location == "header" else key, item)
    constraints = marker.constraints
    if item is not None:
        bind = _many(read, convert, constraints, required, default)
    else:
        bind = _one(read, convert, constraints, required, default)
    return Binder(
        name,
        marker.location,
        key,
        inner,
        required,
        None if required else default,
        marker.description,
        constraints,
        bind,
    )


def parse_query(raw: bytes) -> dict[str, list[str]]:
    """The query string as name -> values, as ``request.query`` reads it (``+`` is a
    space, percent escapes are UTF-8, blank values kept), without urllib's general
    machinery: most pieces have nothing to unquote, and parse_qsl was a quarter of a
    typed request's cost."""
    found: dict[str, list[str]] = {}
    if not raw:
        return found
    for piece in raw.split(b"&"):
        if not piece:
            continue
        name, _, value = piece.partition(b"=")
        key = (
            unquote_plus(name.decode("latin-1"))
            if b"%" in name or b"+" in name
            else (name.decode("latin-1"))
        )
        text = value.decode("latin-1")
        if b"%" in value or b"+" in value:
            text = unquote_plus(text)
        found.setdefault(key, []).append(text)
    return found


def _reader(location: str, key: str, many: Any) -> Callable[[Any], Any]:
    """The raw text (or, for a sequence, the list of texts) from the request (the
    parsed query, for the query)."""
    if location == "query":
        if many is not None:
            return lambda query: query.get(key, ())
        return lambda query: query[key][0] if key in query else None
    if location == "header":
        if many is not None:
            return lambda request: request.headers.get_all(key)
        return lambda request: request.headers.get(key)
    return lambda request: request.cookies.get(key)


def _one(
    read: Callable[[Any], Any],
    convert: Callable[[str], Any],
    constraints: Constraints,
    required: bool,
    default: Any,
) -> Callable[[Any], Any]:
    checked = constraints.any()

    def bind(request: Any) -> Any:
        text = read(request)
        if text is None:
            if required:
                raise Invalid("missing", "Field required")
            return copy.copy(default)
        try:
            value = convert(text)
            if checked:
                constraints.check(value)
        except Invalid as exc:
            exc.value = text
            raise
        return value

    return bind


def _many(
    read: Callable[[Any], Any],
    convert: Callable[[str], Any],
    constraints: Constraints,
    required: bool,
    default: Any,
) -> Callable[[Any], Any]:
    checked = constraints.any()

    def bind(request: Any) -> Any:
        texts = read(request)
        if not texts:
            if required:
                raise Invalid("missing", "Field required")
            return copy.copy(default)
        values = []
        for text in texts:
            try:
                value = convert(text)
                if checked:
                    constraints.check(value)
            except Invalid as exc:
                exc.value = text
                raise
            values.append(value)
        return values

    return bind


def _body_binder(decode: Callable[[bytes], Any], default: Any) -> Callable[[Any], Any]:
    optional = default is not inspect.Parameter.empty

    async def bind(request: Any) -> Any:
        body = await request.body.bytes()
        if not body and optional:
            return default
        return decode(body)

    return bind
