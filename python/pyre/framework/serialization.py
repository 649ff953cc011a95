"""Return values as JSON: msgspec Structs, dataclasses, pydantic models, TypedDicts
and lists of them, and the *response model* that filters what a handler returns.

Without a response model, a structured value is encoded as it is (msgspec encodes
Structs, pydantic its models, orjson the rest; inside a dict or list too, through
orjson's ``default`` hook, which orjson calls only for types it does not know, so
plain dicts pay nothing). With one (``@endpoint(..., response_model=T)``, or a return
annotation that is a structured type), the value is first converted to ``T``: fields
``T`` does not declare are dropped, which keeps internal fields out of responses. A
value that does not convert is the server's bug: ResponseValidationError, a 500.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

import orjson

from pyre.framework.validation import (
    is_model,
    is_pydantic_model,
    is_struct,
    msgspec_module,
    sequence_item,
)

JSON = "application/json"


class ResponseValidationError(TypeError):
    """A handler returned a value its response model does not describe (a 500)."""


def default(value: Any) -> Any:
    """orjson's ``default`` hook: the JSON-ready form of a Struct or pydantic model."""
    if is_struct(value.__class__):
        import msgspec

        return msgspec.to_builtins(value)
    if is_pydantic_model(value.__class__):
        return value.model_dump(mode="json")
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def encode(value: Any) -> bytes | None:
    """JSON bytes for a structured value (or a list of them), None for anything
    else (to_response then says what a handler may return)."""
    if is_struct(value.__class__):
        import msgspec

        return msgspec.json.encode(value)
    if is_pydantic_model(value.__class__):
        return value.model_dump_json().encode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS)
    return None


def response_type(annotation: Any) -> Any | None:
    """The response model a return annotation declares: a structured type or a list
    of one; None for anything else (``dict``, ``str``, a Response...)."""
    if annotation is None or isinstance(annotation, str):
        return None
    item = sequence_item(annotation)
    if is_model(annotation) or (item is not None and is_model(item)):
        return annotation
    return None


def response_encoder(model: Any) -> Callable[[Any], bytes]:
    """value -> JSON bytes of ``value`` seen as ``model`` (filtered)."""
    item = sequence_item(model)
    if is_pydantic_model(model) or (item is not None and is_pydantic_model(item)):
        import pydantic

        adapter = pydantic.TypeAdapter(model)

        def with_pydantic(value: Any) -> bytes:
            try:
                validated = adapter.validate_python(value, from_attributes=True)
            except pydantic.ValidationError as exc:
                raise ResponseValidationError(str(exc)) from None
            return adapter.dump_json(validated)

        return with_pydantic
    msgspec = msgspec_module()
    if msgspec is not None:
        encoder = msgspec.json.Encoder()
        convert = msgspec.convert

        def with_msgspec(value: Any) -> bytes:
            if value.__class__ is model:
                return encoder.encode(value)
            if value.__class__ is not dict:
                value = _builtins(msgspec, value)
            try:
                converted = convert(value, model, from_attributes=True)
            except msgspec.ValidationError as exc:
                raise ResponseValidationError(str(exc)) from None
            return encoder.encode(converted)

        return with_msgspec
    pick = _picker(model)
    return lambda value: orjson.dumps(pick(value), default=default)


def _builtins(msgspec: Any, value: Any) -> Any:
    """Pydantic models (which msgspec does not read) as dicts; the rest unchanged."""
    if is_pydantic_model(value.__class__):
        return value.model_dump()
    if isinstance(value, list):
        return [_builtins(msgspec, v) for v in value]
    return value


def _picker(model: Any) -> Callable[[Any], Any]:
    """Without msgspec: keep the fields ``model`` declares (dataclass, TypedDict)."""
    item = sequence_item(model)
    if item is not None:
        pick_item = _picker(item)
        return lambda value: [pick_item(v) for v in value]
    if dataclasses.is_dataclass(model):
        names = [f.name for f in dataclasses.fields(model)]
    else:
        names = list(typing.get_type_hints(model))

    def pick(value: Any) -> Any:
        get = value.get if isinstance(value, dict) else lambda n: getattr(value, n)
        try:
            return {n: get(n) for n in names if not isinstance(value, dict) or n in value}
        except AttributeError as exc:
            raise ResponseValidationError(str(exc)) from None

    return pick
