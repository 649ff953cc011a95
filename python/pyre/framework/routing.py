"""Blueprints, the ``@endpoint`` and ``@websocket`` decorators, and how a handler's
parameters are filled.

A blueprint is a class whose methods are decorated with ``@endpoint(template,
methods=[...])`` or ``@websocket(template)``. When the blueprint is added to an app,
each endpoint's handler (the bound method) is analysed once: every parameter must be
a path parameter of its template, the request (named ``request`` or annotated
``Request``; for a WebSocket endpoint the connection, named ``websocket`` or ``ws``
or annotated ``WebSocket``), a ``BackgroundTasks`` (by annotation: tasks run after
the response), or be a query, header, cookie or body parameter (params.py plans
those). Path values are converted by the template's converter (in Rust, while
matching) or, for a ``{name}`` without one, by the parameter's annotation. A handler
with no query, header, cookie or body parameter and no response model keeps the
plain invoker, ``Endpoint.invoke``. A sync (``def``) handler runs in the event
loop's default thread pool, with the caller's contextvars, so it never blocks the
loop.

WebSocket endpoints share the route table with HTTP ones under the pseudo-method
``WEBSOCKET``, so they get the same templates, converters and precedence.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import re
import typing
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pyre.framework.background import BackgroundTasks
from pyre.framework.exceptions import HTTPException, RegistrationError
from pyre.framework.invoking import run_in_thread, typed_invoker
from pyre.framework.params import Plan, plan_parameter, strip_annotated
from pyre.framework.request import Request
from pyre.framework.serialization import response_type
from pyre.framework.ws import WebSocket

Middleware = Callable[[Request, Callable[[Request], Awaitable[Any]]], Awaitable[Any]]
WebSocketMiddleware = Callable[[WebSocket, Callable[[WebSocket], Awaitable[None]]], Awaitable[None]]

#: The method WebSocket endpoints are registered under in the route table.
WEBSOCKET = "WEBSOCKET"

PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
BUILTIN_CONVERTERS = {"string", "str", "int", "float", "uuid", "path"}
# What annotation agrees with an explicit template converter.
CONVERTER_TYPES: dict[str, tuple[Any, ...]] = {
    "string": (str,),
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (float,),
    "uuid": (uuid.UUID,),
}


@dataclass(frozen=True)
class EndpointSpec:
    """What ``@endpoint`` recorded on a function."""

    template: str
    methods: tuple[str, ...]
    name: str | None
    middleware: tuple[Any, ...]
    #: The declared response type (None: the return annotation's, if structured).
    response_model: Any = None
    #: Listed in the OpenAPI document.
    include_in_schema: bool = True

    @property
    def websocket(self) -> bool:
        return self.methods == (WEBSOCKET,)


def endpoint(
    template: str,
    methods: list[str] | tuple[str, ...] = ("GET",),
    *,
    name: str | None = None,
    middleware: list[Middleware] | tuple[Middleware, ...] = (),
    response_model: Any = None,
    include_in_schema: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a blueprint method as the handler of ``template`` for ``methods``.
    ``name`` (default ``"BlueprintClass.method"``) is what ``app.url_for`` takes;
    ``middleware`` applies to this endpoint only, inside the blueprint's.
    ``response_model`` (default: the return annotation when it is a Struct,
    dataclass, TypedDict, pydantic model or a list of one) filters and documents
    what the handler returns; ``include_in_schema=False`` leaves the endpoint out of
    the OpenAPI document."""
    upper = tuple(m.upper() for m in methods)
    if WEBSOCKET in upper:
        raise ValueError("WebSocket endpoints are declared with @websocket(template)")
    spec = EndpointSpec(template, upper, name, tuple(middleware), response_model, include_in_schema)

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        specs = getattr(function, "__pyre_endpoints__", ())
        function.__pyre_endpoints__ = (*specs, spec)  # type: ignore[attr-defined]
        return function

    return mark


def websocket(
    template: str,
    *,
    name: str | None = None,
    middleware: list[WebSocketMiddleware] | tuple[WebSocketMiddleware, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a blueprint method as the WebSocket endpoint of ``template``: ``async def
    chat(self, ws: WebSocket, room: str)``. The handler accepts with ``await
    ws.accept()``; returning closes the connection (1000), raising closes it with
    1011 (or, before ``accept()``, answers 500; an ``HTTPException`` its status).
    ``middleware`` (``async def mw(ws, call_next)``) applies to this endpoint only,
    inside the app's and the blueprint's WebSocket middleware."""
    spec = EndpointSpec(template, (WEBSOCKET,), name, tuple(middleware))

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        specs = getattr(function, "__pyre_endpoints__", ())
        function.__pyre_endpoints__ = (*specs, spec)  # type: ignore[attr-defined]
        return function

    return mark


class Blueprint:
    """A group of endpoints: subclass it and decorate methods with ``@endpoint``.

    ``prefix`` (class attribute, or ``app.add_blueprint(bp, prefix=...)``) is put
    before every template; ``middleware`` (class attribute) applies to every endpoint
    of the blueprint, inside the app's global middleware; ``websocket_middleware``
    likewise to its WebSocket endpoints (HTTP middleware never wraps those)."""

    prefix: str = ""
    middleware: tuple[Middleware, ...] | list[Middleware] = ()
    websocket_middleware: tuple[WebSocketMiddleware, ...] | list[WebSocketMiddleware] = ()

    def endpoints(self) -> list[tuple[str, Callable[..., Any], EndpointSpec]]:
        """(attribute name, bound handler, spec) for each decorated method."""
        found = []
        seen: set[str] = set()
        for cls in type(self).__mro__:
            for attribute, value in vars(cls).items():
                if attribute in seen:
                    continue
                specs = getattr(value, "__pyre_endpoints__", None)
                if specs:
                    seen.add(attribute)
                    for spec in specs:
                        found.append((attribute, getattr(self, attribute), spec))
        return found


@dataclass
class Endpoint:
    """A registered endpoint: its full template and how to call its handler."""

    name: str
    template: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    binders: list[tuple[str, Callable[[Request], Any]]]
    middleware: tuple[Any, ...]
    blueprint: Any
    is_coroutine: bool = True
    websocket: bool = False
    call: Callable[[Request], Awaitable[Any]] = field(default=None)  # type: ignore[assignment]
    #: Query, header, cookie and body parameters (empty: none).
    plan: Plan = field(default_factory=lambda: Plan([], None))
    #: What the handler returns, as documented and filtered (None: as it is).
    response_model: Any = None
    spec: EndpointSpec | None = None
    #: The path parameters' annotations, for OpenAPI.
    path_types: dict[str, Any] = field(default_factory=dict)

    async def invoke(self, request: Request) -> Any:
        # The plain invoker: path parameters and the request only. Endpoints with a
        # plan or a response model get invoking.typed_invoker's (build_endpoint).
        kwargs = {name: bind(request) for name, bind in self.binders}
        if self.is_coroutine:
            return await self.handler(**kwargs)
        return await run_in_thread(self.handler, kwargs)


def _convert_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(text)


def _annotation_converter(annotation: Any) -> Callable[[str], Any] | None:
    """How a ``{name}`` segment is converted for a parameter annotated so."""
    if annotation is bool:
        return _convert_bool
    if annotation in (int, float, decimal.Decimal, uuid.UUID):
        return annotation
    if annotation is datetime.date:
        return datetime.date.fromisoformat
    if annotation is datetime.datetime:
        return datetime.datetime.fromisoformat
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    return None


def build_endpoint(
    blueprint: Any,
    attribute: str,
    handler: Callable[..., Any],
    spec: EndpointSpec,
    prefix: str,
    custom_converters: set[str],
) -> Endpoint:
    """Analyses a handler against its template; raises RegistrationError naming the
    endpoint when something cannot work."""
    name = spec.name or f"{type(blueprint).__name__}.{attribute}"
    template = prefix.rstrip("/") + spec.template if prefix else spec.template
    label = f"endpoint {name} ({template})"
    if not template.startswith("/"):
        raise RegistrationError(f"{label}: the route must start with '/'")
    params: dict[str, str | None] = {}
    for match in PARAM.finditer(template):
        param, converter = match.group(1), match.group(2)
        if converter is not None and converter not in BUILTIN_CONVERTERS | custom_converters:
            raise RegistrationError(f"{label}: unknown converter {converter!r}")
        if param in params:
            raise RegistrationError(f"{label}: parameter {param!r} appears twice")
        params[param] = converter
    try:
        hints = typing.get_type_hints(handler, include_extras=True)
    except Exception:
        hints = {}
    binders: list[tuple[str, Callable[[Request], Any]]] = []
    signature = inspect.signature(handler)
    # What the handler is given as the request: the Request, or the WebSocket.
    if spec.websocket:
        connection_type: type = WebSocket
        connection_names: tuple[str, ...] = ("websocket", "ws")
        if not inspect.iscoroutinefunction(handler):
            raise RegistrationError(f"{label}: a WebSocket endpoint must be `async def`")
    else:
        connection_type, connection_names = Request, ("request",)
    plan = Plan([], None)
    path_types: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        pname = parameter.name
        annotation, extras = strip_annotated(hints.get(pname, parameter.annotation))
        if pname in connection_names or annotation is connection_type:
            binders.append((pname, _request_binder))
            continue
        if annotation is BackgroundTasks and not spec.websocket:
            binders.append((pname, _background_binder))
            continue
        if pname in params:
            converter = params[pname]
            if converter is not None:
                allowed = CONVERTER_TYPES.get(converter)
                if (
                    allowed is not None
                    and annotation is not inspect.Parameter.empty
                    and annotation not in allowed
                ):
                    raise RegistrationError(
                        f"{label}: parameter {pname!r} is annotated {_type_name(annotation)}"
                        f" but its converter {converter!r} gives {allowed[0].__name__}"
                    )
                binders.append((pname, _path_binder(pname, None)))
            else:
                convert = _annotation_converter(annotation)
                binders.append((pname, _path_binder(pname, convert)))
            path_types[pname] = annotation
            continue
        what = "the WebSocket" if spec.websocket else "the request"
        binder = plan_parameter(label, parameter, annotation, extras, what)
        if binder is None:
            continue
        if binder.location != "body":
            plan.params.append(binder)
        elif spec.websocket:
            raise RegistrationError(f"{label}: parameter {pname!r}: a WebSocket has no body")
        elif plan.body is not None:
            raise RegistrationError(
                f"{label}: parameters {plan.body.name!r} and {pname!r} both want the body"
            )
        else:
            plan.body = binder
    if spec.websocket:
        shared = tuple(getattr(blueprint, "websocket_middleware", ()))
    else:
        shared = tuple(getattr(blueprint, "middleware", ()))
    model = spec.response_model
    if model is None and not spec.websocket:
        model = response_type(hints.get("return"))
    built = Endpoint(
        name=name,
        template=template,
        methods=spec.methods,
        handler=handler,
        binders=binders,
        middleware=(*shared, *spec.middleware),
        blueprint=blueprint,
        is_coroutine=inspect.iscoroutinefunction(handler),
        websocket=spec.websocket,
        plan=plan,
        response_model=model,
        spec=spec,
        path_types=path_types,
    )
    if plan or model is not None:
        built.invoke = typed_invoker(built)  # type: ignore[method-assign]
    return built


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", repr(annotation))


def _request_binder(request: Request) -> Request:
    return request


def _background_binder(request: Request) -> BackgroundTasks:
    return request.background_tasks


def _path_binder(name: str, convert: Callable[[str], Any] | None) -> Callable[[Request], Any]:
    if convert is None:
        return lambda request: request.path_params[name]

    def bind(request: Request) -> Any:
        value = request.path_params[name]
        try:
            converted = convert(value)
        except (ValueError, ArithmeticError) as exc:
            # A path value that does not convert names no resource: 404.
            raise HTTPException(404) from exc
        request.path_params[name] = converted
        return converted

    return bind


def route_key(template: str) -> str:
    """The template with parameter names erased: two routes with the same key and a
    common method collide."""

    def kind(match: re.Match[str]) -> str:
        converter = match.group(2) or "string"
        return "{:" + ("string" if converter == "str" else converter) + "}"

    return PARAM.sub(kind, template)


def fill_template(template: str, params: dict[str, Any]) -> str:
    """``url_for``: the template with its parameters filled in (percent-encoded)."""
    from urllib.parse import quote

    missing = [m.group(1) for m in PARAM.finditer(template) if m.group(1) not in params]
    if missing:
        raise KeyError(f"url_for: missing parameter(s) {', '.join(missing)} for {template}")

    def value(match: re.Match[str]) -> str:
        safe = "/" if match.group(2) == "path" else ""
        return quote(str(params[match.group(1)]), safe=safe)

    return PARAM.sub(value, template)
