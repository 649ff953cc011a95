"""A minimal single-file Django ASGI project, for tests/test_frameworks_differential.py.

Settings are configured in this module (no settings file, no database, DEBUG off) and
the module is its own URLconf. Routes, async and sync views mixed:

    /hello                  plain text (async view)
    /json                   JsonResponse (sync view)
    /echo                   POST: the body echoed with the request's content type (async)
    /query?x=..             the query parameters as JSON (sync)
    /boom                   raises: Django's 500 page (async)
    /sync-boom              raises in a sync view: 500
    /stream?n=N             StreamingHttpResponse from an async generator
    /redirect               302 to /hello
    /cookie                 sets two cookies
    /multi                  a header with repeated values (Vary) and custom headers
    /only-get               require_GET: other methods get 405
    /slash/                 CommonMiddleware's APPEND_SLASH: /slash redirects here
anything else: Django's 404.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        SECRET_KEY="pyre-differential-test-secret-key-not-secret",
        ROOT_URLCONF=__name__,
        DATABASES={},
        INSTALLED_APPS=[],
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        USE_TZ=True,
        APPEND_SLASH=True,
        LOGGING_CONFIG=None,
    )

from django.core.asgi import get_asgi_application
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path
from django.views.decorators.http import require_GET


def record(line: str) -> None:
    calls = os.environ.get("PYRE_TEST_CALLS")
    if calls:
        with open(calls, "a") as file:
            file.write(line + "\n")


async def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"hello, django", content_type="text/plain; charset=utf-8")


def json_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"framework": "django", "method": request.method, "list": [1, 2, 3]})


async def echo(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    content_type = request.headers.get("content-type", "application/octet-stream")
    return HttpResponse(request.body, content_type=content_type)


def query(request: HttpRequest) -> JsonResponse:
    return JsonResponse({key: request.GET.getlist(key) for key in sorted(request.GET)})


async def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("django async boom")


def sync_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("django sync boom")


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    count = int(request.GET.get("n", "3"))

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(count):
            yield f"piece {i}\n".encode()

    return StreamingHttpResponse(pieces(), content_type="text/plain")


def redirect(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("/hello")


async def cookie(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(b"cookies set", content_type="text/plain")
    response.set_cookie("flavour", "oatmeal", max_age=3600, httponly=True, samesite="Lax")
    response.set_cookie("second", "two", path="/cookie")
    return response


def multi(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(b"multi", content_type="text/plain")
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["X-Request-Header"] = request.headers.get("x-custom", "absent")
    return response


@require_GET
def only_get(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"only GET", content_type="text/plain")


def slash(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"slash", content_type="text/plain")


urlpatterns = [
    path("hello", hello),
    path("json", json_view),
    path("echo", echo),
    path("query", query),
    path("boom", boom),
    path("sync-boom", sync_boom),
    path("stream", stream),
    path("redirect", redirect),
    path("cookie", cookie),
    path("multi", multi),
    path("only-get", only_get),
    path("slash/", slash),
]

application = get_asgi_application()
record("django loaded")
