"""Validation: what a request's text becomes once it is typed, and how a failure is
told to the client.

Every failure is the client's fault, so it is a 422 (FastAPI's choice, which clients
of typed APIs expect) carrying one entry per failing field:

    {"detail": [{"type": "int_parsing", "loc": ["query", "q"],
                 "msg": "Input should be a valid integer", "input": "x"}]}

``loc`` starts with where the value came from (``path``, ``query``, ``header``,
``cookie``, ``body``) and goes on with the field's name (and, in a body, the path to
the nested field). :class:`RequestValidationError` is an ``HTTPException``, so the
app's exception handlers see it first: register one for it to shape the answer.

Two kinds of converters live here, both built once per parameter at registration:
*scalar* converters (text of a query, header, cookie or path value to ``int``,
``bool``, ``UUID``, an enum...) and *body* decoders (bytes to a msgspec ``Struct``,
a dataclass, a ``TypedDict`` or a pydantic model, decoded and validated in one
step). msgspec and pydantic are optional: each is imported only when a handler
uses a type that needs it (pydantic) or when it is installed (msgspec, for
dataclasses and TypedDicts; without it a small converter of our own does it).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import re
import sys
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from pyre.framework.exceptions import HTTPException

#: The status of a request whose input does not validate.
VALIDATION_STATUS = 422

#: How much of a failing text value an error entry quotes back (``input``).
MAX_ECHOED_INPUT = 200


class RequestValidationError(HTTPException):
    """The request's input did not validate: 422 with ``errors``, a list of
    ``{"type", "loc", "msg", "input"}`` dicts, one per failing field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(VALIDATION_STATUS, "Unprocessable Content")
        self.errors = errors

    def __repr__(self) -> str:
        return f"RequestValidationError({self.errors!r})"


#: The name most users know it by (Litestar, msgspec).
ValidationError = RequestValidationError


class Invalid(Exception):
    """One value failed to convert: raised by converters, collected by the binder
    plan into a RequestValidationError."""

    def __init__(self, kind: str, message: str, loc: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.loc = loc
        self.value: Any = None  # the text that failed, when there was one


def error(kind: str, loc: list[Any], message: str, value: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": kind, "loc": loc, "msg": message}
    # Only a scalar input is echoed back, and at most MAX_ECHOED_INPUT characters of
    # it: an error must not mirror a large body.
    if isinstance(value, (int, float, bool)):
        entry["input"] = value
    elif isinstance(value, str):
        entry["input"] = value[:MAX_ECHOED_INPUT]
    return entry


# -- types ---------------------------------------------------------------------------


def is_optional(annotation: Any) -> tuple[bool, Any]:
    """(True, X) for ``X | None`` / ``Optional[X]``, else (False, annotation)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return True, args[0]
    return False, annotation


def sequence_item(annotation: Any) -> Any | None:
    """X for ``list[X]``, ``tuple[X, ...]``, ``set[X]``, ``frozenset[X]``, else None."""
    origin = typing.get_origin(annotation)
    if annotation in (list, set, frozenset, tuple):
        return str
    if origin in (list, set, frozenset):
        return typing.get_args(annotation)[0]
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


def is_pydantic_model(annotation: Any) -> bool:
    if "pydantic" not in sys.modules or not isinstance(annotation, type):
        return False
    import pydantic

    return issubclass(annotation, pydantic.BaseModel)


def is_struct(annotation: Any) -> bool:
    if "msgspec" not in sys.modules or not isinstance(annotation, type):
        return False
    import msgspec

    return issubclass(annotation, msgspec.Struct)


def is_typeddict(annotation: Any) -> bool:
    return (
        isinstance(annotation, type)
        and issubclass(annotation, dict)
        and hasattr(annotation, "__total__")
    )


def is_model(annotation: Any) -> bool:
    """A structured type a body is decoded into (and a return value encoded from)."""
    return (
        (isinstance(annotation, type) and dataclasses.is_dataclass(annotation))
        or is_typeddict(annotation)
        or is_struct(annotation)
        or is_pydantic_model(annotation)
    )


def msgspec_module() -> Any | None:
    """msgspec when installed, else None (a missing msgspec is not an error)."""
    try:
        import msgspec
    except ImportError:
        return None
    return msgspec


# -- scalar converters ---------------------------------------------------------------


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise Invalid("bool_parsing", "Input should be a valid boolean")


def _caught(kind: str, message: str, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def run(text: str) -> Any:
        try:
            return convert(text)
        except (ValueError, ArithmeticError, TypeError) as exc:
            raise Invalid(kind, message) from exc

    return run


def _to_int(text: str) -> int:
    # int() would take "1_000" and " 7 "; a query value is digits with a sign.
    if not re.fullmatch(r"[+-]?\d{1,4300}", text):
        raise Invalid("int_parsing", "Input should be a valid integer")
    return int(text)


def _to_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Invalid("float_parsing", "Input should be a valid number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Invalid("finite_number", "Input should be a finite number")
    return value


def scalar_converter(annotation: Any) -> Callable[[str], Any] | None:
    """How one text value (query, header, cookie) becomes ``annotation``; None when
    the type cannot come from text."""
    if annotation in (str, Any, inspect.Parameter.empty):
        return str
    if annotation is bool:
        return _to_bool
    if annotation is int:
        return _to_int
    if annotation is float:
        return _to_float
    if annotation is decimal.Decimal:
        return _caught("decimal_parsing", "Input should be a valid decimal", decimal.Decimal)
    if annotation is uuid.UUID:
        return _caught("uuid_parsing", "Input should be a valid UUID", uuid.UUID)
    if annotation is datetime.date:
        return _caught("date_parsing", "Input should be a valid date", datetime.date.fromisoformat)
    if annotation is datetime.datetime:
        return _caught(
            "datetime_parsing", "Input should be a valid datetime", datetime.datetime.fromisoformat
        )
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = ", ".join(repr(m.value) for m in annotation)
        return _caught("enum", f"Input should be {choices}", annotation)
    if typing.get_origin(annotation) is typing.Literal:
        allowed = {str(v): v for v in typing.get_args(annotation)}

        def literal(text: str) -> Any:
            if text not in allowed:
                raise Invalid("literal_error", f"Input should be one of {', '.join(allowed)}")
            return allowed[text]

        return literal
    return None


@dataclasses.dataclass(frozen=True)
class Constraints:
    """Bounds a scalar value must keep (the ``ge=`` ... ``max_length=`` of a marker)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def any(self) -> bool:
        return any(v is not None for v in dataclasses.astuple(self))

    def check(self, value: Any) -> None:
        if self.gt is not None and not value > self.gt:
            raise Invalid("greater_than", f"Input should be greater than {self.gt}")
        if self.ge is not None and not value >= self.ge:
            raise Invalid("greater_than_equal", f"Input should be >= {self.ge}")
        if self.lt is not None and not value < self.lt:
            raise Invalid("less_than", f"Input should be less than {self.lt}")
        if self.le is not None and not value <= self.le:
            raise Invalid("less_than_equal", f"Input should be <= {self.le}")
        if self.min_length is not None and len(value) < self.min_length:
            raise Invalid("string_too_short", f"Input should have >= {self.min_length} chars")
        if self.max_length is not None and len(value) > self.max_length:
            raise Invalid("string_too_long", f"Input should have <= {self.max_length} chars")
        if self.pattern is not None and re.search(self.pattern, value) is None:
            raise Invalid("string_pattern_mismatch", f"Input should match {self.pattern!r}")


# -- body decoders -------------------------------------------------------------------

_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_PATH_PART = re.compile(r"\.([A-Za-z_][\w]*)|\[(\d+)\]|\[['\"]?([^\]'\"]*)['\"]?\]")


def _msgspec_loc(path: str) -> list[Any]:
    loc: list[Any] = []
    for name, index, key in _PATH_PART.findall(path):
        loc.append(name or (int(index) if index else key))
    return loc


def body_decoder(annotation: Any) -> Callable[[bytes], Any]:
    """bytes -> a validated value of ``annotation``; raises RequestValidationError
    with ``loc`` starting at ``"body"``. Planned once per endpoint."""
    item = sequence_item(annotation)
    if is_pydantic_model(annotation) or (item is not None and is_pydantic_model(item)):
        return _pydantic_decoder(annotation)
    msgspec = msgspec_module()
    if msgspec is not None:
        return _msgspec_decoder(msgspec, annotation)
    return _fallback_decoder(annotation)


def _empty_body() -> RequestValidationError:
    return RequestValidationError([error("missing", ["body"], "A JSON body is required")])


def _pydantic_decoder(model: Any) -> Callable[[bytes], Any]:
    """A model's ``model_validate_json``; a list of models through a TypeAdapter."""
    import pydantic

    validate_json = (
        model.model_validate_json
        if is_pydantic_model(model)
        else pydantic.TypeAdapter(model).validate_json
    )

    def decode(body: bytes) -> Any:
        if not body:
            raise _empty_body()
        try:
            return validate_json(body)
        except pydantic.ValidationError as exc:
            raise RequestValidationError(
                [
                    error(e["type"], ["body", *e["loc"]], e["msg"], e.get("input"))
                    for e in exc.errors(include_url=False)
                ]
            ) from None

    return decode


def _msgspec_decoder(msgspec: Any, annotation: Any) -> Callable[[bytes], Any]:
    # A type msgspec can describe is one it decodes as JSON; a custom class it only
    # rejects at decode time, so ask now (TypeError: a RegistrationError).
    msgspec.json.schema(annotation)
    decoder = msgspec.json.Decoder(annotation)

    def decode(body: bytes) -> Any:
        if not body:
            raise _empty_body()
        try:
            return decoder.decode(body)
        except msgspec.ValidationError as exc:
            match = _MSGSPEC_PATH.match(str(exc))
            assert match is not None
            message, path = match.group("msg"), match.group("path") or ""
            kind = "missing" if message.startswith("Object missing") else "value_error"
            loc = ["body", *_msgspec_loc(path)]
            field = re.match(r"Object missing required field `([^`]*)`", message)
            if field:
                loc.append(field.group(1))
            raise RequestValidationError([error(kind, loc, message)]) from None
        except msgspec.DecodeError as exc:
            raise RequestValidationError([error("json_invalid", ["body"], str(exc))]) from None

    return decode


def _fallback_decoder(annotation: Any) -> Callable[[bytes], Any]:
    """Without msgspec: orjson, then a small structural converter."""
    convert = _converter_for(annotation)

    def decode(body: bytes) -> Any:
        if not body:
            raise _empty_body()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RequestValidationError([error("json_invalid", ["body"], str(exc))]) from None
        try:
            return convert(data)
        except Invalid as exc:
            raise RequestValidationError(
                [error(exc.kind, ["body", *exc.loc], exc.message)]
            ) from None

    return decode


def _converter_for(annotation: Any) -> Callable[[Any], Any]:
    """A JSON value -> ``annotation`` for the types the fallback understands."""
    optional, inner = is_optional(annotation)
    if optional:
        convert_inner = _converter_for(inner)
        return lambda v: None if v is None else convert_inner(v)
    if annotation in (Any, object):
        return lambda v: v
    simple = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}
    if annotation in simple:
        allowed = simple[annotation]
        name = annotation.__name__

        def scalar(v: Any) -> Any:
            if (isinstance(v, bool) and annotation is not bool) or not isinstance(v, allowed):
                raise Invalid(f"{name}_type", f"Expected `{name}`, got `{type(v).__name__}`")
            return annotation(v)

        return scalar
    item = sequence_item(annotation)
    if item is not None:
        convert_item = _converter_for(item)
        origin = typing.get_origin(annotation) or annotation

        def sequence(v: Any) -> Any:
            if not isinstance(v, list):
                raise Invalid("list_type", f"Expected `array`, got `{type(v).__name__}`")
            out = []
            for i, x in enumerate(v):
                try:
                    out.append(convert_item(x))
                except Invalid as exc:
                    raise Invalid(exc.kind, exc.message, (i, *exc.loc)) from None
            return origin(out)

        return sequence
    if annotation is dict or typing.get_origin(annotation) is dict:
        return _expect_object
    if isinstance(annotation, type) and (
        dataclasses.is_dataclass(annotation) or is_typeddict(annotation)
    ):
        return _record_converter(annotation)
    scalar = scalar_converter(annotation)
    if scalar is not None:

        def from_text(v: Any) -> Any:
            if not isinstance(v, str):
                raise Invalid("string_type", f"Expected `str`, got `{type(v).__name__}`")
            return scalar(v)

        return from_text
    raise TypeError(f"cannot decode {annotation!r} without msgspec (pip install msgspec)")


def _expect_object(v: Any) -> Any:
    if not isinstance(v, dict):
        raise Invalid("dict_type", f"Expected `object`, got `{type(v).__name__}`")
    return v


def _record_converter(cls: Any) -> Callable[[Any], Any]:
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = {
            n
            for n, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        names = list(fields)
    else:
        names = list(hints)
        required = set(getattr(cls, "__required_keys__", names))
    converters = {n: _converter_for(hints[n]) for n in names}

    def record(v: Any) -> Any:
        v = _expect_object(v)
        values = {}
        for n in names:
            if n not in v:
                if n in required:
                    raise Invalid("missing", f"Object missing required field `{n}`", (n,))
                continue
            try:
                values[n] = converters[n](v[n])
            except Invalid as exc:
                raise Invalid(exc.kind, exc.message, (n, *exc.loc)) from None
        return cls(**values)

    return record
