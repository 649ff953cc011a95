"""The OpenAPI 3.1 document of an app, and the ``/openapi.json`` and ``/docs``
endpoints that serve it.

How it is built: from the route table, endpoint by endpoint. Path parameters get
their schema from the template's converter (``int`` is an integer, a regex converter
a string with that ``pattern``) or from the annotation; query, header and cookie
parameters and the body from the endpoint's binder plan (params.py); the response
from its response model. JSON Schemas come from pydantic (``TypeAdapter``) for
pydantic types, from ``msgspec.json.schema_components`` for the rest when msgspec is
installed, and from a small converter of our own otherwise; named types go under
``components/schemas``. A blueprint is a tag (its class docstring the tag's
description); a handler's docstring gives the summary (first line) and description.

The document is built lazily and cached against the route table it was built from:
every change of routes (``add_blueprint``, an extension loaded, reloaded or
unloaded, a converter added) swaps in a new table, so the next ``app.openapi()``
builds it again.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import html
import inspect
import re
import typing
import uuid
from importlib import resources
from typing import Any

from pyre.framework.params import Binder
from pyre.framework.responses import HTMLResponse, Response
from pyre.framework.routing import PARAM, Blueprint, Endpoint, EndpointSpec
from pyre.framework.serialization import JSON
from pyre.framework.validation import (
    is_optional,
    is_pydantic_model,
    is_typeddict,
    msgspec_module,
    sequence_item,
)

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{name}"

_CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "str": {"type": "string"},
    "path": {"type": "string", "description": "The rest of the path, slashes included."},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}

_VALIDATION_SCHEMAS = {
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
            "input": {},
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": REF.format(name="ValidationError")}}
        },
    },
}


class Schemas:
    """JSON Schemas for types, collecting the named ones as components."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, annotation: Any) -> dict[str, Any]:
        item = sequence_item(annotation)
        _, inner = is_optional(annotation)
        if any(is_pydantic_model(t) for t in (annotation, item, inner)):
            return self._pydantic(annotation)
        msgspec = msgspec_module()
        if msgspec is not None:
            try:
                (schema,), components = msgspec.json.schema_components(
                    (annotation,), ref_template=REF
                )
            except TypeError:
                return {}
            self.components.update(components)
            return schema
        return self._own(annotation)

    def _pydantic(self, annotation: Any) -> dict[str, Any]:
        import pydantic

        schema = pydantic.TypeAdapter(annotation).json_schema(
            ref_template=REF.replace("{name}", "{model}")
        )
        self.components.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and schema.get("type") == "object":
            name = schema.get("title", annotation.__name__)
            self.components[name] = schema
            return {"$ref": REF.format(name=name)}
        return schema

    def _own(self, annotation: Any) -> dict[str, Any]:
        """Without msgspec: scalars, containers, enums, dataclasses, TypedDicts."""
        optional, inner = is_optional(annotation)
        if optional:
            return {"anyOf": [self._own(inner), {"type": "null"}]}
        simple = {
            int: {"type": "integer"},
            float: {"type": "number"},
            str: {"type": "string"},
            bool: {"type": "boolean"},
            type(None): {"type": "null"},
            uuid.UUID: {"type": "string", "format": "uuid"},
            datetime.date: {"type": "string", "format": "date"},
            datetime.datetime: {"type": "string", "format": "date-time"},
            decimal.Decimal: {"type": "string", "format": "decimal"},
        }
        if annotation in simple:
            return dict(simple[annotation])
        item = sequence_item(annotation)
        if item is not None:
            return {"type": "array", "items": self._own(item)}
        if annotation is dict or typing.get_origin(annotation) is dict:
            return {"type": "object"}
        if typing.get_origin(annotation) is typing.Literal:
            return {"enum": list(typing.get_args(annotation))}
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return {"enum": [m.value for m in annotation]}
        if isinstance(annotation, type) and (
            dataclasses.is_dataclass(annotation) or is_typeddict(annotation)
        ):
            name = annotation.__name__
            if name not in self.components:
                self.components[name] = {}  # a recursive type refers to itself
                hints = typing.get_type_hints(annotation)
                if dataclasses.is_dataclass(annotation):
                    required = [
                        f.name
                        for f in dataclasses.fields(annotation)
                        if f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING
                    ]
                else:
                    required = sorted(getattr(annotation, "__required_keys__", hints))
                self.components[name] = {
                    "title": name,
                    "type": "object",
                    "properties": {n: self._own(t) for n, t in hints.items()},
                    "required": required,
                }
            return {"$ref": REF.format(name=name)}
        return {}


def build_document(
    endpoints: tuple[Endpoint, ...],
    converters: dict[str, Any],
    *,
    title: str,
    version: str,
    description: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these endpoints."""
    schemas = Schemas()
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for endpoint in endpoints:
        spec = endpoint.spec
        if endpoint.websocket or spec is None or not spec.include_in_schema:
            continue
        tag = type(endpoint.blueprint).__name__
        if tag not in tags:
            tags[tag] = {"name": tag}
            doc = type(endpoint.blueprint).__dict__.get("__doc__")
            if doc:
                tags[tag]["description"] = inspect.cleandoc(doc)
        path = PARAM.sub(lambda m: "{" + m.group(1) + "}", endpoint.template)
        for method in endpoint.methods:
            operation = _operation(endpoint, method, converters, schemas, tag)
            operation_id = re.sub(r"\W", "_", f"{endpoint.name}_{method.lower()}")
            while operation_id in taken:
                operation_id += "_"
            taken.add(operation_id)
            operation["operationId"] = operation_id
            paths.setdefault(path, {})[method.lower()] = operation
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info, "paths": paths}
    if schemas.components:
        document["components"] = {"schemas": dict(sorted(schemas.components.items()))}
    if tags:
        document["tags"] = list(tags.values())
    return document


def _operation(
    endpoint: Endpoint, method: str, converters: dict[str, Any], schemas: Schemas, tag: str
) -> dict[str, Any]:
    operation: dict[str, Any] = {"tags": [tag]}
    doc = inspect.getdoc(endpoint.handler)
    if doc:
        summary, _, rest = doc.partition("\n")
        operation["summary"] = summary.strip()
        if rest.strip():
            operation["description"] = rest.strip()
    parameters = [
        _path_parameter(name, converter, endpoint, converters, schemas)
        for name, converter in ((m.group(1), m.group(2)) for m in PARAM.finditer(endpoint.template))
    ]
    parameters += [_parameter(binder, schemas) for binder in endpoint.plan.params]
    if parameters:
        operation["parameters"] = parameters
    body = endpoint.plan.body
    if body is not None:
        request_body: dict[str, Any] = {
            "required": body.required,
            "content": {JSON: {"schema": schemas.of(body.annotation)}},
        }
        if body.description:
            request_body["description"] = body.description
        operation["requestBody"] = request_body
    ok: dict[str, Any] = {"description": "Successful Response"}
    if endpoint.response_model is not None:
        ok["content"] = {JSON: {"schema": schemas.of(endpoint.response_model)}}
    responses: dict[str, Any] = {"200": ok}
    if endpoint.plan:
        schemas.components.update(_VALIDATION_SCHEMAS)
        responses["422"] = {
            "description": "Validation Error",
            "content": {JSON: {"schema": {"$ref": REF.format(name="HTTPValidationError")}}},
        }
    operation["responses"] = responses
    return operation


def _path_parameter(
    name: str,
    converter: str | None,
    endpoint: Endpoint,
    converters: dict[str, Any],
    schemas: Schemas,
) -> dict[str, Any]:
    if converter is None:
        annotation = endpoint.path_types.get(name, str)
        schema = schemas.of(annotation) if annotation is not inspect.Parameter.empty else {}
        schema = schema or {"type": "string"}
    elif converter in _CONVERTER_SCHEMAS:
        schema = dict(_CONVERTER_SCHEMAS[converter])
    else:
        schema = {"type": "string"}
        pattern = getattr(converters.get(converter), "pattern", None)
        if pattern is not None:
            schema["pattern"] = f"^(?:{pattern})$"
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _parameter(binder: Binder, schemas: Schemas) -> dict[str, Any]:
    item = binder.annotation
    many = sequence_item(item)
    schema = dict(schemas.of(item)) or {"type": "string"}
    bounds = binder.constraints
    target = schema if many is None else dict(schemas.of(many)) or {"type": "string"}
    for key, value in (
        ("exclusiveMinimum", bounds.gt),
        ("minimum", bounds.ge),
        ("exclusiveMaximum", bounds.lt),
        ("maximum", bounds.le),
        ("minLength", bounds.min_length),
        ("maxLength", bounds.max_length),
        ("pattern", bounds.pattern),
    ):
        if value is not None:
            target[key] = value
    if many is not None:
        schema = {"type": "array", "items": target}
    if not binder.required and binder.default is not None:
        default = binder.default
        schema["default"] = default.value if isinstance(default, enum.Enum) else default
    parameter: dict[str, Any] = {
        "name": binder.key,
        "in": binder.location,
        "required": binder.required,
        "schema": schema,
    }
    if binder.description:
        parameter["description"] = binder.description
    return parameter


# -- serving -------------------------------------------------------------------------


def docs_page(openapi_url: str, title: str) -> str:
    """The /docs page (static/docs.html, shipped in the wheel) for this document."""
    template = resources.files("pyre.framework").joinpath("static/docs.html").read_text("utf-8")
    return template.replace("__OPENAPI_URL__", html.escape(openapi_url, quote=True)).replace(
        "__TITLE__", html.escape(title)
    )


class DocsBlueprint(Blueprint):
    """The app's own ``openapi_url`` and ``docs_url`` endpoints (left out of the
    document and of ``app.blueprints``)."""

    def __init__(self, app: Any, openapi_url: str | None, docs_url: str | None) -> None:
        self._app = app
        self._openapi_url = openapi_url
        self._docs_url = docs_url
        self._page: str | None = None

    def endpoints(self) -> list[tuple[str, Any, EndpointSpec]]:
        found = []
        if self._openapi_url:
            spec = EndpointSpec(self._openapi_url, ("GET",), "pyre.openapi", (), None, False)
            found.append(("openapi_json", self.openapi_json, spec))
        if self._docs_url and self._openapi_url:
            spec = EndpointSpec(self._docs_url, ("GET",), "pyre.docs", (), None, False)
            found.append(("docs", self.docs, spec))
        return found

    async def openapi_json(self) -> Response:
        return Response(self._app.openapi_json(), media_type=JSON)

    async def docs(self) -> Response:
        if self._page is None:
            assert self._openapi_url is not None
            self._page = docs_page(self._openapi_url, self._app.title)
        return HTMLResponse(self._page)
