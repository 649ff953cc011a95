"""Request smuggling (RFC 9112 §6 and §7, RFC 9110 §8.6): framing obfuscations, each
sent alone and followed by a pipelined ``GET /smuggled/...``.

The verdict for every case is one of:

* refused: the given 4xx (or 501 for an unknown coding, RFC 9112 §6.1), the
  connection closed, nothing after it processed, and the application never called
  (for a bad head) or never given a complete body (for a bad chunked body after a
  valid head: it gets ``http.disconnect``);
* accepted: exactly one request seen by the application, with the body a strict
  parser sees; the pipelined follow-up is then a legitimate second request;
* accepted-then-refused: the framing field is not what it looks like (so the request
  has no body), the application sees one request with an empty body, and the bytes
  after its head are refused as the next request, so the follow-up is never processed.

Bodies that a lenient parser could split differently carry an embedded
``GET /.../embedded`` request; the application must never see it.

Where RFC 9112 leaves a choice, the case says which one Pyre makes ("lenient:").
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conformance.wire import Conn, calls, request, token
from tests.support import ServerProcess

HOST = b"Host: example.com"
CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"
EMBEDDED = b"GET /{t}/embedded HTTP/1.1\r\nHost: example.com\r\n\r\n"
THEN_REFUSED = "then-refused"
WAITS = "waits"  # a valid huge length: the server waits for the body (no default limit)


@dataclass(frozen=True)
class Case:
    id: str
    fields: tuple[bytes, ...]
    body: bytes
    verdict: int | bytes | tuple[bytes, str]  # status, accepted body, or (b"", THEN_REFUSED)
    note: str = ""


def te(value: bytes, body: bytes = CHUNKED_HELLO, verdict=400, note: str = "") -> tuple:
    return ((b"Transfer-Encoding: " + value,), body, verdict, note)


CASES = [
    # --- Transfer-Encoding obfuscations.
    Case("te-lowercase", *te(b"chunked", verdict=b"hello")),
    Case(
        "te-uppercase",
        *te(b"CHUNKED", verdict=b"hello", note="RFC 9112 §7: codings are case-insensitive"),
    ),
    Case("te-mixed-case", *te(b"ChUnKeD", verdict=b"hello")),
    Case(
        "te-leading-space",
        *te(
            b"   chunked",
            verdict=b"hello",
            note="OWS around values is not part of them (RFC 9110 §5.5)",
        ),
    ),
    Case("te-trailing-space", *te(b"chunked   ", verdict=b"hello")),
    Case("te-trailing-tab", *te(b"chunked\t", verdict=b"hello")),
    Case("te-no-space", (b"Transfer-Encoding:chunked",), CHUNKED_HELLO, b"hello"),
    Case("te-leading-vtab", *te(b"\x0bchunked")),
    Case("te-trailing-vtab", *te(b"chunked\x0b")),
    Case("te-form-feed", *te(b"\x0cchunked")),
    Case("te-trailing-nul", *te(b"chunked\x00")),
    Case("te-space-inside", *te(b"chun ked")),
    Case("te-prefixed", *te(b"xchunked", verdict=501)),
    Case("te-suffixed", *te(b"chunkedx", verdict=501)),
    Case(
        "te-duplicate-headers",
        (b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"),
        CHUNKED_HELLO,
        400,
    ),
    Case(
        "te-identity-then-chunked-headers",
        (b"Transfer-Encoding: identity", b"Transfer-Encoding: chunked"),
        CHUNKED_HELLO,
        501,
        "identity is no longer a coding (RFC 9112 §7)",
    ),
    Case("te-comma-list-twice", *te(b"chunked, chunked")),
    Case(
        "te-comma-list-gzip-first",
        *te(
            b"gzip, chunked", verdict=501, note="a coding Pyre does not decode before chunked: 501"
        ),
    ),
    Case("te-chunked-not-last", *te(b"chunked, gzip")),
    Case(
        "te-chunked-not-last-headers",
        (b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip"),
        CHUNKED_HELLO,
        400,
    ),
    Case(
        "te-trailing-empty-element",
        *te(
            b"chunked,",
            verdict=b"hello",
            note="lenient: empty list elements are ignored (RFC 9110 §5.6.1)",
        ),
    ),
    Case(
        "te-leading-empty-element",
        *te(
            b", chunked",
            verdict=b"hello",
            note="lenient: empty list elements are ignored (RFC 9110 §5.6.1)",
        ),
    ),
    Case("te-quoted", *te(b'"chunked"')),
    Case("te-single-quoted", *te(b"'chunked'", verdict=501)),
    Case("te-parameter", *te(b"chunked;q=1")),
    Case("te-line-folding", (b"Transfer-Encoding:", b" chunked"), CHUNKED_HELLO, 400),
    Case("te-folded-continuation", (b"Transfer-Encoding: gzip,", b" chunked"), CHUNKED_HELLO, 400),
    Case("te-kelvin-k", *te(b"chun\xe2\x84\xaaed")),
    Case("te-dotless-i-lookalike", *te(b"chunk\xc4\xb1d")),
    Case("te-trailing-nbsp", *te(b"chunked\xc2\xa0")),
    Case("te-fullwidth", *te(b"\xef\xbd\x83hunked")),
    Case("te-name-space-before-colon", (b"Transfer-Encoding : chunked",), CHUNKED_HELLO, 400),
    Case(
        "te-name-underscore",
        (b"Transfer_Encoding: chunked",),
        CHUNKED_HELLO,
        (b"", THEN_REFUSED),
        "not the Transfer-Encoding field: no body; the chunk bytes are refused as the next request",
    ),
    Case("te-name-leading-space", (b" Transfer-Encoding: chunked",), CHUNKED_HELLO, 400),
    Case("te-empty", *te(b"", verdict=400)),
    # Content-Length together with an obfuscated Transfer-Encoding (CL.TE / TE.CL).
    Case(
        "cl-then-te",
        (b"Content-Length: 40", b"Transfer-Encoding: chunked"),
        b"0\r\n\r\n" + EMBEDDED,
        400,
    ),
    Case(
        "te-then-cl",
        (b"Transfer-Encoding: chunked", b"Content-Length: 4"),
        b"5\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    Case(
        "cl-te-vtab",
        (b"Content-Length: 40", b"Transfer-Encoding: \x0bchunked"),
        b"0\r\n\r\n" + EMBEDDED,
        400,
    ),
    Case(
        "cl-te-uppercase",
        (b"Content-Length: 40", b"Transfer-Encoding: CHUNKED"),
        b"0\r\n\r\n" + EMBEDDED,
        400,
    ),
    Case(
        "cl-te-underscore",
        (b"Content-Length: 5", b"Transfer_Encoding: chunked"),
        b"hello",
        b"hello",
        "Transfer_Encoding is an unrelated field: Content-Length frames the body",
    ),
    Case("cl-te-http10", (b"Content-Length: 5", b"Transfer-Encoding: chunked"), b"hello", 400),
    # --- Content-Length variants.
    Case("cl-plain", (b"Content-Length: 5",), b"hello", b"hello"),
    Case("cl-plus", (b"Content-Length: +5",), b"hello", 400),
    Case("cl-minus", (b"Content-Length: -5",), b"hello", 400),
    Case("cl-minus-zero", (b"Content-Length: -0",), b"", 400),
    Case(
        "cl-leading-zeros",
        (b"Content-Length: 005",),
        b"hello",
        b"hello",
        "lenient: 1*DIGIT allows leading zeros (RFC 9110 §8.6)",
    ),
    Case("cl-hex", (b"Content-Length: 0x5",), b"hello", 400),
    Case("cl-decimal-point", (b"Content-Length: 5.0",), b"hello", 400),
    Case("cl-exponent", (b"Content-Length: 5e0",), b"hello", 400),
    Case(
        "cl-list-same",
        (b"Content-Length: 5, 5",),
        b"hello",
        b"hello",
        "lenient: identical values in a list are one value (RFC 9110 §8.6)",
    ),
    Case(
        "cl-list-same-no-space", (b"Content-Length: 5,5",), b"hello", b"hello", "lenient: as above"
    ),
    Case("cl-list-differ", (b"Content-Length: 5, 40",), b"hello" + EMBEDDED, 400),
    Case(
        "cl-list-empty-element",
        (b"Content-Length: 5,",),
        b"hello",
        400,
        "strict: Content-Length is 1*DIGIT, not a list; only identical values are merged",
    ),
    Case(
        "cl-headers-same",
        (b"Content-Length: 5", b"Content-Length: 5"),
        b"hello",
        b"hello",
        "lenient: identical repeated fields are one value (RFC 9110 §8.6)",
    ),
    Case(
        "cl-headers-differ", (b"Content-Length: 5", b"Content-Length: 40"), b"hello" + EMBEDDED, 400
    ),
    Case("cl-leading-space", (b"Content-Length:    5",), b"hello", b"hello"),
    Case("cl-trailing-space", (b"Content-Length: 5   ",), b"hello", b"hello"),
    Case("cl-space-inside", (b"Content-Length: 1 0",), b"hellohello", 400),
    Case("cl-vtab", (b"Content-Length: \x0b5",), b"hello", 400),
    Case("cl-empty", (b"Content-Length: ",), b"", 400),
    Case("cl-quoted", (b'Content-Length: "5"',), b"hello", 400),
    Case("cl-huge", (b"Content-Length: 99999999999999999999999999",), b"hello", 400),
    Case(
        "cl-u64-max",
        (b"Content-Length: 18446744073709551615",),
        b"hello",
        (413, WAITS),
        "fits u64; no default body limit, so Pyre waits for the body",
    ),
    Case(
        "cl-u64-wrap",
        (b"Content-Length: 18446744073709551621",),
        b"hello",
        400,
        "2**64 + 5: must not wrap to 5",
    ),
    Case("cl-name-space-before-colon", (b"Content-Length : 5",), b"hello", 400),
    Case("cl-folded", (b"Content-Length:", b" 5"), b"hello", 400),
    Case("cl-non-ascii-digit", (b"Content-Length: \xd9\xa5",), b"hello", 400),
    # --- Chunk-size tricks (Transfer-Encoding: chunked).
    Case("chunk-empty-size", (b"Transfer-Encoding: chunked",), b"\r\nhello\r\n0\r\n\r\n", 400),
    Case("chunk-0x-prefix", (b"Transfer-Encoding: chunked",), b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    Case(
        "chunk-leading-zeros",
        (b"Transfer-Encoding: chunked",),
        b"0005\r\nhello\r\n0000\r\n\r\n",
        b"hello",
    ),
    Case(
        "chunk-many-leading-zeros",
        (b"Transfer-Encoding: chunked",),
        b"0" * 30 + b"5\r\nhello\r\n0\r\n\r\n",
        b"hello",
        "lenient: leading zeros are not significant digits",
    ),
    Case(
        "chunk-uppercase-hex",
        (b"Transfer-Encoding: chunked",),
        b"A\r\nhellohello\r\n0\r\n\r\n",
        b"hellohello",
    ),
    Case("chunk-plus", (b"Transfer-Encoding: chunked",), b"+5\r\nhello\r\n0\r\n\r\n", 400),
    Case(
        "chunk-overflow-17-digits",
        (b"Transfer-Encoding: chunked",),
        b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    Case(
        "chunk-overflow-wraps-to-5",
        (b"Transfer-Encoding: chunked",),
        b"10000000000000005\r\nhello\r\n0\r\n\r\n",
        400,
        "2**68 + 5: must not wrap to 5",
    ),
    Case(
        "chunk-u64-max",
        (b"Transfer-Encoding: chunked",),
        b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        (400, 413, WAITS),
        "16 significant digits fit u64: Pyre waits for the data",
    ),
    Case("chunk-size-space", (b"Transfer-Encoding: chunked",), b"5 \r\nhello\r\n0\r\n\r\n", 400),
    Case(
        "chunk-size-leading-space",
        (b"Transfer-Encoding: chunked",),
        b" 5\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    Case("chunk-size-tab", (b"Transfer-Encoding: chunked",), b"5\t\r\nhello\r\n0\r\n\r\n", 400),
    Case(
        "chunk-ext-valid",
        (b"Transfer-Encoding: chunked",),
        b"5;name=value\r\nhello\r\n0;last\r\n\r\n",
        b"hello",
    ),
    Case(
        "chunk-ext-quoted",
        (b"Transfer-Encoding: chunked",),
        b'5;name="v; \\"x\\""\r\nhello\r\n0\r\n\r\n',
        b"hello",
    ),
    Case(
        "chunk-ext-bws",
        (b"Transfer-Encoding: chunked",),
        b"5 ; name = value\r\nhello\r\n0\r\n\r\n",
        (400, b"hello"),
        "RFC 9112 §7.1.1 allows BWS around ; and =, and RFC 9110 §5.6.3 says recipients "
        "MUST parse it; Pyre refuses it (400), the safe direction: a known deviation",
    ),
    Case("chunk-ext-empty", (b"Transfer-Encoding: chunked",), b"5;\r\nhello\r\n0\r\n\r\n", 400),
    Case("chunk-ext-no-name", (b"Transfer-Encoding: chunked",), b"5;=v\r\nhello\r\n0\r\n\r\n", 400),
    Case("chunk-ext-nul", (b"Transfer-Encoding: chunked",), b"5;a\x00\r\nhello\r\n0\r\n\r\n", 400),
    Case(
        "chunk-ext-unterminated-quote",
        (b"Transfer-Encoding: chunked",),
        b'5;a="x\r\nhello\r\n0\r\n\r\n',
        400,
    ),
    Case(
        "chunk-ext-bare-cr", (b"Transfer-Encoding: chunked",), b"5;a\rb\r\nhello\r\n0\r\n\r\n", 400
    ),
    Case(
        "chunk-ext-lf-in-ext",
        (b"Transfer-Encoding: chunked",),
        b"5;a\nGET /x\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    Case("chunk-lf-after-size", (b"Transfer-Encoding: chunked",), b"5\nhello\r\n0\r\n\r\n", 400),
    Case("chunk-lf-after-data", (b"Transfer-Encoding: chunked",), b"5\r\nhello\n0\r\n\r\n", 400),
    Case("chunk-lf-last-chunk", (b"Transfer-Encoding: chunked",), b"5\r\nhello\r\n0\n\r\n", 400),
    Case("chunk-lf-final-line", (b"Transfer-Encoding: chunked",), b"5\r\nhello\r\n0\r\n\n", 400),
    Case(
        "chunk-cr-only-after-data", (b"Transfer-Encoding: chunked",), b"5\r\nhello\r0\r\n\r\n", 400
    ),
    Case(
        "chunk-data-longer-than-size",
        (b"Transfer-Encoding: chunked",),
        b"3\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    Case(
        "chunk-data-shorter-than-size",
        (b"Transfer-Encoding: chunked",),
        b"6\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    Case(
        "chunk-trailer-lf",
        (b"Transfer-Encoding: chunked",),
        b"5\r\nhello\r\n0\r\nX-T: v\n\r\n",
        400,
    ),
    Case(
        "chunk-trailer-obs-fold",
        (b"Transfer-Encoding: chunked",),
        b"5\r\nhello\r\n0\r\nX-T: v\r\n w\r\n\r\n",
        400,
    ),
    Case(
        "chunk-trailer-content-length",
        (b"Transfer-Encoding: chunked",),
        b"5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n",
        b"hello",
        "lenient: the trailer section is accepted; a framing field in it does not change "
        "the framing (RFC 9112 §7.1.2)",
    ),
    Case(
        "chunk-valid-trailer",
        (b"Transfer-Encoding: chunked",),
        b"5\r\nhello\r\n0\r\nX-T: v\r\n\r\n",
        b"hello",
    ),
]


def test_case_table() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 80


def outcomes(verdict: object) -> tuple[set[int], bytes | None, bool]:
    """The refusal statuses allowed, the body if acceptance is allowed, and whether
    the rest after an accepted head is refused."""
    if verdict == (b"", THEN_REFUSED):
        return set(), b"", True
    options = verdict if isinstance(verdict, tuple) else (verdict,)
    statuses = {v for v in options if isinstance(v, int)}
    bodies = [v for v in options if isinstance(v, bytes)]
    return statuses, (bodies[0] if bodies else None), False


def send_case(server: ServerProcess, case: Case, follow_up: bool) -> None:
    t = token()
    version = b"HTTP/1.0" if case.id.endswith("http10") else b"HTTP/1.1"
    raw = request(b"POST /" + t.encode() + b"/first " + version, HOST, *case.fields)
    raw += case.body.replace(b"{t}", t.encode())
    if follow_up:
        raw += request(b"GET /smuggled/" + t.encode() + b" HTTP/1.1", HOST)
    statuses, accepted, then_refused = outcomes(case.verdict)
    expected_paths: list[str] = []
    with Conn.open(server.port) as conn:
        conn.send(raw)
        if isinstance(case.verdict, tuple) and WAITS in case.verdict:
            # Everything sent, the follow-up included, is body: no response yet, or a
            # refusal and a closed connection.
            if not conn.closed(0.5) and conn.buf:
                response = conn.response("POST")
                assert response.status in statuses, f"{case.id}: {response.raw_head!r}"
                assert conn.closed(), f"{case.id}: connection left open after a refusal"
            seen = calls(server, t)
            assert all(c["path"] == f"/{t}/first" and not c["complete"] for c in seen), seen
            return
        response = conn.response("POST")
        if response.status != 200 or accepted is None:
            assert response.status in statuses, (
                f"{case.id}: got {response.raw_head!r}, expected {case.verdict!r}"
            )
            assert conn.closed(), f"{case.id}: connection left open after {response.status}"
        else:
            expected_paths.append(f"/{t}/first")
            if then_refused:
                refusal = conn.response()
                assert refusal.status == 400, refusal.raw_head
                assert conn.closed(), f"{case.id}: connection left open after the refusal"
            elif follow_up:
                expected_paths.append(f"/smuggled/{t}")
                second = conn.response()
                assert second.status == 200 and second.json()["path"] == f"/smuggled/{t}"
            else:
                assert not conn.closed(0.2), f"{case.id}: accepted, but the connection closed"
    seen = calls(server, t)
    if not expected_paths and seen:
        # A body error after a valid head: the application may have been called, but
        # it must never have received the body as complete (it saw http.disconnect).
        assert [(c["path"], c["complete"]) for c in seen] == [(f"/{t}/first", False)], seen
        return
    assert [c["path"] for c in seen] == expected_paths, f"{case.id}: the app saw {seen}"
    if accepted is not None and expected_paths:
        assert seen[0]["body"] == accepted.decode("latin-1"), f"{case.id}: the app saw {seen}"


@pytest.mark.parametrize("follow_up", [False, True], ids=["alone", "then-smuggled"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_smuggling(case: Case, follow_up: bool, server: ServerProcess) -> None:
    send_case(server, case, follow_up)
