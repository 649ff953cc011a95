"""Server-side MUSTs and SHOULDs of RFC 9112 (HTTP/1.1) and RFC 9110 (HTTP
semantics) for an origin server, one case each, over real loopback sockets.

Refusals: every malformed request gets its status, ``Connection: close``, a ``Date``,
and a closed connection; the application is never called, and a request pipelined
behind it is never processed. tests/test_protocol_errors.py checks the codec's reason
texts and log lines for the basic forms; the cases here extend those with the
clause each one enforces, other spellings, and the pipelined follow-up.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest

from tests.conformance.wire import Conn, calls, paths, request, token
from tests.support import ServerProcess

HOST = b"Host: example.com"
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT"
)


@dataclass(frozen=True)
class Refusal:
    id: str
    clause: str  # the requirement the refusal enforces
    head: bytes  # start line and fields; "{t}" in the start line is the test's token
    status: int


def line(start: bytes, *fields: bytes, body: bytes = b"") -> bytes:
    return request(start, *fields, body=body)


REFUSALS = [
    Refusal(
        "host-missing",
        "RFC 9112 §3.2: a server MUST respond with 400 to an HTTP/1.1 request without Host",
        line(b"GET /{t} HTTP/1.1"),
        400,
    ),
    Refusal(
        "host-twice",
        "RFC 9112 §3.2: MUST respond 400 to a request with more than one Host field",
        line(b"GET /{t} HTTP/1.1", HOST, b"Host: other.example"),
        400,
    ),
    Refusal(
        "host-list",
        "RFC 9112 §3.2: MUST respond 400 to a Host field with an invalid value (a list)",
        line(b"GET /{t} HTTP/1.1", b"Host: a.example, b.example"),
        400,
    ),
    Refusal(
        "host-missing-absolute-form",
        "RFC 9112 §3.2: Host is required even when the target is in absolute-form",
        line(b"GET http://example.com/{t} HTTP/1.1"),
        400,
    ),
    Refusal(
        "cl-and-te",
        "RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding MAY be "
        "rejected, and the server MUST close the connection after responding",
        line(
            b"POST /{t} HTTP/1.1",
            HOST,
            b"Transfer-Encoding: chunked",
            b"Content-Length: 3",
            body=b"0\r\n\r\n",
        ),
        400,
    ),
    Refusal(
        "cl-invalid",
        "RFC 9112 §6.3: an invalid Content-Length MUST get 400 and a closed connection",
        line(b"POST /{t} HTTP/1.1", HOST, b"Content-Length: 3a", body=b"abc"),
        400,
    ),
    Refusal(
        "cl-differing",
        "RFC 9112 §6.3: differing Content-Length values are unrecoverable: 400 and close",
        line(b"POST /{t} HTTP/1.1", HOST, b"Content-Length: 3", b"Content-Length: 4", body=b"abc"),
        400,
    ),
    Refusal(
        "te-chunked-not-last",
        "RFC 9112 §6.3: Transfer-Encoding whose final coding is not chunked on a request: "
        "MUST respond 400 and close",
        line(b"POST /{t} HTTP/1.1", HOST, b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"),
        400,
    ),
    Refusal(
        "te-unknown-coding",
        "RFC 9112 §6.1: a transfer coding the server does not understand SHOULD get 501",
        line(b"POST /{t} HTTP/1.1", HOST, b"Transfer-Encoding: snappy, chunked", body=b"0\r\n\r\n"),
        501,
    ),
    Refusal(
        "te-http10",
        "RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing: the "
        "server MUST close after responding (Pyre refuses with 400)",
        line(b"POST /{t} HTTP/1.0", HOST, b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        400,
    ),
    Refusal(
        "obs-fold-space",
        "RFC 9112 §5.2: obs-fold in a request MUST be rejected with 400 or replaced by SP "
        "(Pyre rejects)",
        line(b"GET /{t} HTTP/1.1", HOST, b"X-A: one", b" two"),
        400,
    ),
    Refusal(
        "obs-fold-tab",
        "RFC 9112 §5.2: obs-fold (a continuation line starting with HTAB) MUST be "
        "rejected with 400 or replaced",
        line(b"GET /{t} HTTP/1.1", HOST, b"X-A: one", b"\ttwo"),
        400,
    ),
    Refusal(
        "whitespace-after-start-line",
        "RFC 9112 §2.2: whitespace between the start-line and the first field MUST be "
        "rejected or the line ignored (Pyre rejects)",
        line(b"GET /{t} HTTP/1.1", b" X-A: b", HOST),
        400,
    ),
    Refusal(
        "space-before-colon",
        "RFC 9112 §5.1: whitespace between field name and colon MUST get 400",
        line(b"GET /{t} HTTP/1.1", HOST, b"Content-Length : 0"),
        400,
    ),
    Refusal(
        "tab-before-colon",
        "RFC 9112 §5.1: whitespace (HTAB) between field name and colon MUST get 400",
        line(b"GET /{t} HTTP/1.1", HOST, b"X-A\t: b"),
        400,
    ),
    Refusal(
        "bare-cr-in-value",
        "RFC 9112 §2.2: a bare CR MUST be treated as invalid or replaced by SP (Pyre: 400)",
        line(b"GET /{t} HTTP/1.1", HOST, b"X-A: b\rX-B: c"),
        400,
    ),
    Refusal(
        "bare-cr-in-request-line",
        "RFC 9112 §2.2: a bare CR in the request line MUST be treated as invalid",
        line(b"GET /{t}\r HTTP/1.1", HOST),
        400,
    ),
    Refusal(
        "bare-cr-as-line-end",
        "RFC 9112 §2.2: a bare CR ending a field line MUST be treated as invalid",
        b"GET /{t} HTTP/1.1\r\nHost: example.com\rX-A: b\r\n\r\n",
        400,
    ),
    Refusal(
        "nul-in-value",
        "RFC 9110 §5.5: a field value with NUL MUST be rejected or NUL replaced by SP",
        line(b"GET /{t} HTTP/1.1", HOST, b"X-A: a\x00b"),
        400,
    ),
    Refusal(
        "nul-in-target",
        "RFC 9112 §3.2: a request-target with a NUL is an invalid request-line: 400",
        line(b"GET /{t}\x00 HTTP/1.1", HOST),
        400,
    ),
    Refusal(
        "invalid-request-line",
        "RFC 9112 §3: an invalid request-line SHOULD get 400",
        line(b"GET /{t} HTTP/1.1 extra", HOST),
        400,
    ),
    Refusal(
        "asterisk-form-not-options",
        "RFC 9112 §3.2.4: the asterisk-form is only for OPTIONS; anything else is an "
        "invalid request-target: 400",
        line(b"GET * HTTP/1.1", HOST, b"X-T: {t}"),
        400,
    ),
    Refusal(
        "target-too-long",
        "RFC 9112 §3: a request-target longer than the server wishes to parse MUST get 414",
        line(b"GET /{t}/" + b"a" * 9000 + b" HTTP/1.1", HOST),
        414,
    ),
    Refusal(
        "fields-too-large",
        "RFC 9110 §5.4 (status from RFC 6585 §5): a field section larger than the server "
        "wishes to process MUST get a 4xx: 431",
        line(b"GET /{t} HTTP/1.1", HOST, *(b"X-F%d: " % i + b"v" * 1000 for i in range(70))),
        431,
    ),
    Refusal(
        "version-2",
        "RFC 9110 §15.6.6: a major version the server does not support gets 505",
        line(b"GET /{t} HTTP/2.0", HOST),
        505,
    ),
    Refusal(
        "version-3",
        "RFC 9110 §15.6.6: a major version the server does not support gets 505",
        line(b"GET /{t} HTTP/3.0", HOST),
        505,
    ),
    # Issue 16: answers that independent suites found wrong or weak.
    *(
        Refusal(
            f"target-not-utf8-{name}",
            "RFC 9112 §3.2: a request-target that is not valid (ASCII) URI syntax is a bad "
            "request: 400, not 505 (RFC 9110 §15.6.6 is only for the major version)",
            line(b"GET /" + raw + b"?t={t} HTTP/1.1", HOST),
            400,
        )
        for name, raw in [
            ("overlong-slash", b"\xc0\xaf"),
            ("continuation", b"\x80"),
            ("ff", b"\xff"),
            ("inside", b"a\xc0\xafb"),
        ]
    ),
    Refusal(
        "method-100000-bytes",
        "RFC 9112 §3: a method longer than any the server implements SHOULD get 501 "
        "(Pyre's limit: 32 bytes), not 431",
        line(b"A" * 100_000 + b" /{t} HTTP/1.1", HOST),
        501,
    ),
    Refusal(
        "method-33-bytes",
        "RFC 9112 §3: a method longer than any the server implements SHOULD get 501",
        line(b"M" * 33 + b" /{t} HTTP/1.1", HOST),
        501,
    ),
    Refusal(
        "host-empty",
        "RFC 9110 §4.2.1: an http URI with an empty host is invalid; RFC 9112 §3.2: a Host "
        "with an invalid value gets 400",
        line(b"GET /{t} HTTP/1.1", b"Host: "),
        400,
    ),
    Refusal(
        "host-port-only",
        "RFC 9110 §4.2.1: an http URI with an empty host is invalid (`Host: :80`)",
        line(b"GET /{t} HTTP/1.1", b"Host: :80"),
        400,
    ),
    Refusal(
        "connect",
        "Pyre does not tunnel: CONNECT gets 501 from the server (RFC 9110 §15.6.2) and the "
        "application is never called",
        line(b"CONNECT example.com:443 HTTP/1.1", b"Host: example.com:443", b"X-T: {t}"),
        501,
    ),
    Refusal(
        "fragment-in-target",
        "RFC 9112 §3.2.1: origin-form is absolute-path [ ? query ]; a fragment is never "
        "part of a request-target: 400",
        line(b"GET /{t}#frag HTTP/1.1", HOST),
        400,
    ),
    Refusal(
        "fragment-in-absolute-form",
        "RFC 9112 §3.2.2: absolute-form is absolute-URI, which has no fragment: 400",
        line(b"GET http://example.com/{t}#frag HTTP/1.1", HOST),
        400,
    ),
]


def test_refusal_table() -> None:
    assert len({case.id for case in REFUSALS}) == len(REFUSALS) >= 25


@pytest.mark.parametrize("follow_up", [False, True], ids=["alone", "pipelined"])
@pytest.mark.parametrize("case", REFUSALS, ids=[case.id for case in REFUSALS])
def test_refused(case: Refusal, follow_up: bool, server: ServerProcess) -> None:
    """Each case enforces the clause in its ``clause`` (shown on failure): the status,
    `Connection: close`, Date, a closed connection, and nothing processed, the
    pipelined follow-up included (RFC 9112 §9.6, §6.3)."""
    t = token()
    raw = case.head.replace(b"{t}", t.encode())
    if follow_up:
        raw += request(b"GET /" + t.encode() + b"/smuggled HTTP/1.1", HOST)
    with Conn.open(server.port) as conn:
        conn.send(raw)
        response = conn.response()
        assert response.status == case.status, (case.clause, response.raw_head)
        assert (response.header("connection") or "").lower() == "close", response.raw_head
        assert response.has("date"), "RFC 9110 §6.6.1: Date in a 4xx/5xx (MUST for 4xx)"
        assert conn.closed(), f"{case.clause}: connection left open after the refusal"
    assert calls(server, t) == [], case.clause


# --- Requests that must be accepted, and what the application sees.


def test_http10_without_host_is_accepted(server: ServerProcess) -> None:
    """RFC 9112 §3.2: Host is required of HTTP/1.1 requests only; an HTTP/1.0 request
    without it is served (and, without keep-alive, the connection closed, §9.3)."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET /{t} HTTP/1.0".encode()))
        response = conn.response()
        assert response.status == 200
        assert conn.closed()
    assert paths(server, t) == [f"/{t}"]


def test_absolute_form_authority_wins_over_host(server: ServerProcess) -> None:
    """RFC 9112 §3.2.2: for an absolute-form target the server MUST ignore the received
    Host field and use the authority of the target; the app sees the path and query of
    the target and the target's host."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET http://target.example/{t}/abs?q=1 HTTP/1.1".encode(), HOST))
        response = conn.response()
        assert response.status == 200
    [seen] = calls(server, t)
    assert (seen["path"], seen["query"]) == (f"/{t}/abs", "q=1")
    hosts = [v for n, v in seen["headers"] if n == "host"]
    assert hosts == ["target.example"], f"app saw Host {hosts}, target authority is target.example"


def test_options_asterisk_form(server: ServerProcess) -> None:
    """RFC 9112 §3.2.4: `OPTIONS *` is a valid request about the server as a whole."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(b"OPTIONS * HTTP/1.1", HOST, f"X-T: {t}".encode()))
        assert conn.response().status == 200
    assert [(c["method"], c["path"]) for c in calls(server, t)] == [("OPTIONS", "*")]


def test_one_empty_line_before_request_line_is_ignored(server: ServerProcess) -> None:
    """RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received
    before the request-line."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(b"\r\n" + request(f"GET /{t} HTTP/1.1".encode(), HOST))
        assert conn.response().status == 200
    assert paths(server, t) == [f"/{t}"]


@pytest.mark.parametrize("minor", [2, 9])
def test_higher_minor_version_is_served_as_http11(minor: int, server: ServerProcess) -> None:
    """RFC 9112 §2.3: a message with a higher minor version (HTTP/1.2) SHOULD be
    processed as HTTP/1.1: served, answered in HTTP/1.1, kept alive; the application
    sees `http_version` 1.1."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET /{t}/a HTTP/1.{minor}".encode(), HOST))
        response = conn.response()
        assert (response.status, response.version) == (200, b"HTTP/1.1")
        conn.send(request(f"GET /{t}/b HTTP/1.{minor}".encode(), HOST))
        assert conn.response().status == 200
    seen = calls(server, t)
    assert [c["path"] for c in seen] == [f"/{t}/a", f"/{t}/b"]
    assert {c["http_version"] for c in seen} == {"1.1"}


def test_response_version_is_1_1_for_http10(server: ServerProcess) -> None:
    """RFC 9110 §6.2 / RFC 9112 §2.3: a server SHOULD send the highest version it
    conforms to whose major is no higher than the request's: HTTP/1.1 to a 1.0 client."""
    with Conn.open(server.port) as conn:
        conn.send(request(b"GET /v HTTP/1.0"))
        assert conn.response().version == b"HTTP/1.1"


# --- Persistence (RFC 9112 §9).


def test_connection_close_honoured_nothing_after(server: ServerProcess) -> None:
    """RFC 9112 §9.6: a server that receives `Connection: close` MUST close after the
    response, and MUST NOT process further requests received on that connection."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"GET /{t}/first HTTP/1.1".encode(), HOST, b"Connection: close")
            + request(f"GET /{t}/second HTTP/1.1".encode(), HOST)
        )
        response = conn.response()
        assert response.status == 200
        assert (response.header("connection") or "").lower() == "close"
        assert conn.closed()
    assert paths(server, t) == [f"/{t}/first"]


def test_connection_close_is_case_insensitive_and_a_list(server: ServerProcess) -> None:
    """RFC 9110 §7.6.1: connection options are case-insensitive tokens in a list."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"GET /{t}/first HTTP/1.1".encode(), HOST, b"Connection: foo, CLOSE")
            + request(f"GET /{t}/second HTTP/1.1".encode(), HOST)
        )
        assert conn.response().status == 200
        assert conn.closed()
    assert paths(server, t) == [f"/{t}/first"]


def test_http11_persists_by_default(server: ServerProcess) -> None:
    """RFC 9112 §9.3: an HTTP/1.1 connection persists unless `close` is signalled."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET /{t}/1 HTTP/1.1".encode(), HOST))
        assert conn.response().status == 200
        assert not conn.closed(0.3)
        conn.send(request(f"GET /{t}/2 HTTP/1.1".encode(), HOST))
        assert conn.response().status == 200
    assert paths(server, t) == [f"/{t}/1", f"/{t}/2"]


def test_http10_closes_without_keep_alive(server: ServerProcess) -> None:
    """RFC 9112 §9.3: an HTTP/1.0 request without `keep-alive` does not persist: the
    server closes after the response and processes nothing pipelined behind it."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"GET /{t}/first HTTP/1.0".encode())
            + request(f"GET /{t}/second HTTP/1.0".encode())
        )
        assert conn.response().status == 200
        assert conn.closed()
    assert paths(server, t) == [f"/{t}/first"]


def test_http10_keep_alive_persists(server: ServerProcess) -> None:
    """RFC 9112 §9.3 and Appendix C.2.2: an HTTP/1.0 request with `Connection:
    keep-alive` may persist when the response length is known; Pyre keeps it open and
    says so."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET /{t}/1 HTTP/1.0".encode(), b"Connection: keep-alive"))
        response = conn.response()
        assert response.status == 200
        assert (response.header("connection") or "").lower() == "keep-alive"
        assert not conn.closed(0.3)
        conn.send(request(f"GET /{t}/2 HTTP/1.0".encode()))
        assert conn.response().status == 200
        assert conn.closed()
    assert paths(server, t) == [f"/{t}/1", f"/{t}/2"]


def test_pipelined_responses_in_order(server: ServerProcess) -> None:
    """RFC 9112 §9.3.2: a server MUST send responses to pipelined requests in the order
    the requests were received, even when the first is the slowest."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"GET /{t}/a?delay=0.3 HTTP/1.1".encode(), HOST)
            + request(f"HEAD /{t}/b HTTP/1.1".encode(), HOST)
            + request(f"POST /{t}/c HTTP/1.1".encode(), HOST, b"Content-Length: 2", body=b"hi")
            + request(f"GET /{t}/d HTTP/1.1".encode(), HOST)
        )
        order = [
            conn.response("GET").json()["path"],
            conn.response("HEAD").status,
            conn.response("POST").json()["body"],
            conn.response("GET").json()["path"],
        ]
    assert order == [f"/{t}/a", 200, "hi", f"/{t}/d"]


def test_body_without_length_is_empty(server: ServerProcess) -> None:
    """RFC 9112 §6.3 (7): a request with neither Content-Length nor Transfer-Encoding
    has no body, so bytes after its head are the next request."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"POST /{t}/a HTTP/1.1".encode(), HOST)
            + request(f"GET /{t}/b HTTP/1.1".encode(), HOST)
        )
        assert conn.response().json()["body"] == ""
        assert conn.response().json()["path"] == f"/{t}/b"


# --- Expect: 100-continue (RFC 9110 §10.1.1).


def test_100_continue_http11(server: ServerProcess) -> None:
    """RFC 9110 §10.1.1: an origin server receiving `Expect: 100-continue` on HTTP/1.1
    MUST send 100 (Continue) or a final status before waiting for the body; RFC 9110
    §8.6 and RFC 9112 §6.1: no Content-Length or Transfer-Encoding in a 1xx."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(
                f"POST /{t} HTTP/1.1".encode(),
                HOST,
                b"Content-Length: 5",
                b"Expect: 100-continue",
            )
        )
        interim = conn.response()
        assert interim.status == 100, interim.raw_head
        assert not interim.has("transfer-encoding") and not interim.has("content-length")
        conn.send(b"hello")
        final = conn.response()
        assert final.status == 200 and final.json()["body"] == "hello"


def test_100_continue_ignored_for_http10(server: ServerProcess) -> None:
    """RFC 9110 §10.1.1: a server MUST ignore a 100-continue expectation in an HTTP/1.0
    request: no 100 is sent, the body is read as framed."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(
                f"POST /{t} HTTP/1.0".encode(),
                b"Content-Length: 5",
                b"Expect: 100-continue",
            )
        )
        time.sleep(0.2)  # a 100 would be sent now, before the body
        conn.send(b"hello")
        response = conn.response()
        assert response.status == 200, response.raw_head
        assert response.json()["body"] == "hello"
        assert conn.closed()


# --- Responses (RFC 9110 §6.6.1, §9.3.2, §15.3.5, §15.4.5; RFC 9112 §6).


def test_date_present(server: ServerProcess) -> None:
    """RFC 9110 §6.6.1: an origin server with a clock MUST send Date in 2xx, 3xx and
    4xx responses, as an IMF-fixdate."""
    with Conn.open(server.port) as conn:
        for status in (200, 302, 404, 500):
            conn.send(request(f"GET /date?status={status} HTTP/1.1".encode(), HOST))
            response = conn.response()
            assert response.status == status
            assert IMF_FIXDATE.fullmatch(response.header("date") or ""), response.raw_head


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_for_204_304(status: int, server: ServerProcess) -> None:
    """RFC 9110 §15.3.5 and §15.4.5: 204 and 304 end at the header section; RFC 9112
    §6.1 and RFC 9110 §8.6: no Transfer-Encoding in them, no Content-Length in a 204.
    The next pipelined response starts right after the head."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"GET /{t}/a?status={status} HTTP/1.1".encode(), HOST)
            + request(f"GET /{t}/b HTTP/1.1".encode(), HOST)
        )
        response = conn.response()
        assert response.status == status
        assert not response.has("transfer-encoding"), response.raw_head
        if status == 204:
            assert not response.has("content-length"), response.raw_head
        following = conn.response()  # a leaked body would garble this status line
        assert following.status == 200 and following.json()["path"] == f"/{t}/b"


def test_no_body_for_head(server: ServerProcess) -> None:
    """RFC 9110 §9.3.2: the server MUST NOT send content in a HEAD response, and SHOULD
    send the fields a GET would (Content-Length of the GET body here)."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"HEAD /{t}/x HTTP/1.1".encode(), HOST)
            + request(f"GET /{t}/y HTTP/1.1".encode(), HOST)
        )
        head = conn.response("HEAD")
        get = conn.response("GET")
        assert head.status == 200 and get.status == 200, conn.buf
        assert get.json()["path"] == f"/{t}/y", "HEAD response carried a body"
        assert head.has("content-length") and not head.has("transfer-encoding")


def test_no_transfer_encoding_to_http10(server: ServerProcess) -> None:
    """RFC 9112 §6.1: a server MUST NOT send Transfer-Encoding unless the request is
    HTTP/1.1 or later; a body of unknown length is close-delimited instead."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET /{t}?stream=1 HTTP/1.0".encode()))
        response = conn.response()
        assert not response.has("transfer-encoding"), response.raw_head
        assert response.json()["path"] == f"/{t}"
        assert conn.closed()


def test_chunked_to_http11_when_length_unknown(server: ServerProcess) -> None:
    """RFC 9112 §6.1 and §7: a body of unknown length on HTTP/1.1 is chunked, with
    chunked the final coding, and the connection stays usable."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET /{t}?stream=1 HTTP/1.1".encode(), HOST))
        response = conn.response()
        assert (response.header("transfer-encoding") or "").lower() == "chunked"
        assert response.json()["path"] == f"/{t}"
        assert not conn.closed(0.3)


def test_incomplete_body_is_not_complete(server: ServerProcess) -> None:
    """RFC 9112 §6.3 (5) and §8: a body shorter than its Content-Length, the connection
    closed by the client, is incomplete: the application never gets it as whole."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(
            request(f"POST /{t} HTTP/1.1".encode(), HOST, b"Content-Length: 10", body=b"hello")
        )
        time.sleep(0.1)
        conn.shutdown_write()
        assert conn.closed(), "the server must not answer an incomplete request as complete"
    deadline = time.monotonic() + 3
    while not calls(server, t) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(c["body"], c["complete"]) for c in calls(server, t)] in ([], [("hello", False)])


def test_http10_keep_alive_with_unknown_length_closes(server: ServerProcess) -> None:
    """RFC 9112 §6.1 and §9.3: to HTTP/1.0 a body of unknown length can only be
    delimited by closing, so keep-alive is dropped: no Transfer-Encoding, and the
    connection closes after the body."""
    t = token()
    with Conn.open(server.port) as conn:
        conn.send(request(f"GET /{t}?stream=1 HTTP/1.0".encode(), b"Connection: keep-alive"))
        response = conn.response()
        assert not response.has("transfer-encoding"), response.raw_head
        assert (response.header("connection") or "").lower() != "keep-alive", response.raw_head
        assert response.json()["path"] == f"/{t}"
        assert conn.closed()
