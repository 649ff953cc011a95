"""A Starlette application for tests/test_client_api.py (what a client of real APIs
meets), served by Pyre and by uvicorn. Routes:

    /echo                   the request: method, target, headers, body (JSON)
    /redirect?to=U&status=S a redirect to U (default /echo, 302), Location as given;
                            &body=N: a body of N times "moved"
    /set-cookie?c=V...      one Set-Cookie field per ``c`` value, then the echo
    /form                   the parsed form (Starlette's request.form(), i.e.
                            python-multipart): fields, and for files their name,
                            type, size and SHA-256
    /encoded?coding=C       TEXT compressed with each coding of C in order
                            (Content-Encoding: C); &broken=1 cuts it short,
                            &garbage=1 sends bytes that are not compressed
    /lines?n=N              N lines with mixed line ends, split across chunks
    /charset?cs=NAME        "déjà vu" encoded in NAME, or in latin-1 when NAME is
                            not a codec, labelled charset=NAME
    /status/N               status N
    /loop                   a redirect to itself
    /bomb?mib=N             N MiB of zeros, gzip-compressed (about 1000:1)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from typing import Any

import brotli
import zstandard
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 2000

COMPRESS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "raw-deflate": lambda data: zlib.compress(data, wbits=-15),
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


async def echo(request: Request) -> Response:
    body = await request.body()
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return JSONResponse(
        {
            "method": request.method,
            "target": target,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body": body.decode("latin-1"),
            "client": f"{request.client.host}:{request.client.port}" if request.client else "",
        }
    )


async def redirect(request: Request) -> Response:
    status = int(request.query_params.get("status", "302"))
    location = request.query_params.get("to", "/echo")
    body = b"moved" * int(request.query_params.get("body", "0"))
    return Response(body, status, headers={"location": location})


async def set_cookie(request: Request) -> Response:
    response = await echo(request)
    for value in request.query_params.getlist("c"):
        response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
    return response


async def form(request: Request) -> Response:
    result: dict[str, Any] = {}
    async with request.form(max_part_size=64 * 1024 * 1024) as parsed:
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                digest, size = hashlib.sha256(), 0
                while piece := await value.read(1 << 16):
                    digest.update(piece)
                    size += len(piece)
                item: Any = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": size,
                    "sha256": digest.hexdigest(),
                }
            else:
                item = value
            result.setdefault(name, []).append(item)
    return JSONResponse({"content_type": request.headers.get("content-type"), "fields": result})


async def encoded(request: Request) -> Response:
    coding = request.query_params["coding"]
    body = TEXT
    if request.query_params.get("garbage"):
        body = b"this is not compressed at all" * 10
    else:
        for name in coding.split(","):
            body = COMPRESS[name.strip()](body)
    if request.query_params.get("broken"):
        body = body[: len(body) // 2]
    header = coding.replace("raw-deflate", "deflate")
    return Response(body, headers={"content-encoding": header})


async def lines(request: Request) -> Response:
    n = int(request.query_params.get("n", "10"))
    text = "".join(f"line {i}" + ("\r\n" if i % 2 else "\n") for i in range(n)) + "last"
    data = text.encode()

    async def pieces() -> Any:
        for start in range(0, len(data), 7):  # 7-byte chunks split lines and CRLFs
            yield data[start : start + 7]

    return StreamingResponse(pieces(), media_type="text/plain")


async def charset(request: Request) -> Response:
    name = request.query_params["cs"]
    try:
        body = "déjà vu".encode(name)
    except LookupError:
        body = "déjà vu".encode("latin-1")
    return Response(body, headers={"content-type": f"text/plain; charset={name}"})


async def loop(request: Request) -> Response:
    return Response(b"", 302, headers={"location": "/loop"})


BOMBS: dict[int, bytes] = {}


async def bomb(request: Request) -> Response:
    mib = int(request.query_params.get("mib", "64"))
    if mib not in BOMBS:
        BOMBS[mib] = gzip.compress(bytes(mib << 20), compresslevel=9)
    return Response(BOMBS[mib], headers={"content-encoding": "gzip"})


async def status(request: Request) -> Response:
    return Response(json.dumps({"status": "x"}), int(request.path_params["n"]))


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT", "HEAD", "DELETE"]),
        Route("/redirect", redirect, methods=["GET", "POST", "PUT", "HEAD"]),
        Route("/set-cookie", set_cookie),
        Route("/form", form, methods=["POST", "PUT"]),
        Route("/encoded", encoded),
        Route("/lines", lines),
        Route("/charset", charset),
        Route("/status/{n:int}", status),
        Route("/loop", loop),
        Route("/bomb", bomb),
    ]
)
