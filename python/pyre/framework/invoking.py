"""How a handler is called: sync handlers in the thread pool, and the invoker of
endpoints with typed parameters or a response model.

An endpoint with only path parameters and the request is called by
``routing.Endpoint.invoke`` (no plan, nothing extra per request). One with query,
header, cookie or body parameters, or a response model, gets :func:`typed_invoker`'s
closure instead, built once at registration: it binds the plan (params.py), calls
the handler, and encodes the result through the response model (serialization.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from pyre.framework.datastructures import MutableHeaders
from pyre.framework.request import Request
from pyre.framework.responses import Response
from pyre.framework.serialization import JSON, response_encoder
from pyre.framework.validation import RequestValidationError


async def run_in_thread(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Runs a sync handler in the loop's default executor (its size is the loop's:
    ``min(32, cpus + 4)`` threads unless ``loop.set_default_executor`` changed it),
    with a copy of the caller's contextvars, as ``asyncio.to_thread`` does."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    result = await loop.run_in_executor(None, functools.partial(context.run, function, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result


class _EncodedJSON(Response):
    """A 200 of JSON bytes already encoded by a response model: skips the generic
    constructor's rendering and header checks (a typed GET's hot path)."""

    media_type = JSON

    def __init__(self, body: bytes) -> None:
        self.status = 200
        self.body = body
        self.background = None
        self.headers = MutableHeaders([("content-type", JSON)])


def typed_invoker(endpoint: Any) -> Callable[[Request], Awaitable[Any]]:
    """The invoker of a ``routing.Endpoint`` with a plan or a response model."""
    handler, binders, plan = endpoint.handler, endpoint.binders, endpoint.plan
    is_coroutine = endpoint.is_coroutine
    encode = None if endpoint.response_model is None else response_encoder(endpoint.response_model)
    text_only = bool(plan.params) and plan.body is None
    with_body = plan.body is not None

    async def invoke(request: Request) -> Any:
        kwargs = {name: bind(request) for name, bind in binders}
        if text_only:
            errors = plan.bind_text(request, kwargs)
            if errors:
                raise RequestValidationError(errors)
        elif with_body:
            await plan.bind(request, kwargs)
        if is_coroutine:
            result = await handler(**kwargs)
        else:
            result = await run_in_thread(handler, kwargs)
        if encode is None or isinstance(result, Response):
            return result
        if isinstance(result, tuple) and 2 <= len(result) <= 3:
            body, *rest = result
            if not isinstance(body, Response):
                body = _EncodedJSON(encode(body))
            return (body, *rest)
        return _EncodedJSON(encode(result))

    return invoke
