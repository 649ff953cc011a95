"""A socket-level fuzzer: hypothesis builds valid requests (methods, targets, fields,
Content-Length and chunked bodies, pipelining), mutates their bytes (flips, inserted
CR/LF/NUL/space/colon/tab, truncation, duplicated lines), sends them in random pieces
with small delays, and checks what one Pyre process (ASGI, then PSGI) does with them.

How the verdict is reached: h11's server-side parser is the reference. It reads the
same bytes and says which requests they hold (method, target, body), and whether the
bytes end cleanly, mid-request, or in an error. Pyre's answers are parsed with h11's
client side (so each must be well-formed), and the application (tests/apps/fuzz_echo.py)
reports in a header what it saw. Then:

- every answer is the application's 2xx or Pyre's own 4xx/5xx;
- the requests the application saw are, in order, the ones h11 saw (differential
  check: same method, target and body), and never more than the example held;
- when the bytes end cleanly, Pyre answers every request or closes, within a second
  of silence (a hang fails); unmutated requests must all be answered with 2xx;
- after every example a fresh connection still gets its plain GET answered.

Bounded: ``PYRE_FUZZ_EXAMPLES`` examples per interface (500 by default; raise it for
long runs). A failure prints the falsifying example and a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import ServerProcess, connect, serve

EXAMPLES = int(os.environ.get("PYRE_FUZZ_EXAMPLES", "500"))
SILENCE = 1.0  # seconds without a byte or a close after which the server "hangs"

# --- Valid requests -----------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/%"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F))


@dataclass
class Request:
    method: str
    target: str
    body: bytes
    raw: bytes


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(METHODS))
    target = "/" + draw(st.text(PATH_CHARS, max_size=20))
    if draw(st.booleans()):
        target += "?" + draw(st.text(PATH_CHARS + "?", min_size=1, max_size=20))
    version = draw(st.sampled_from(["1.1", "1.1", "1.1", "1.0"]))
    fields = [("Host", "fuzz")] if version == "1.1" or draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 3))):
        name = "x-" + draw(st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8))
        value = draw(st.text(VALUE_CHARS + " ", max_size=20)).strip()
        fields.append((name, value))
    if version == "1.0" and draw(st.booleans()):
        fields.append(("Connection", "keep-alive"))
    elif draw(st.integers(0, 9)) == 0:
        fields.append(("Connection", "close"))
    body = draw(st.binary(max_size=64))
    framing = draw(
        st.sampled_from(["none", "length", "chunked"] if version == "1.1" else ["none", "length"])
    )
    if framing == "none":
        body = b""
    payload = body
    if framing == "length":
        fields.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        fields.append(("Transfer-Encoding", "chunked"))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        payload = b""
        for piece in pieces:
            if piece:
                extension = b";ext=1" if draw(st.integers(0, 4)) == 0 else b""
                payload += b"%x%s\r\n%s\r\n" % (len(piece), extension, piece)
        payload += b"0\r\n"
        if draw(st.integers(0, 4)) == 0:
            payload += b"x-trailer: yes\r\n"
        payload += b"\r\n"
    head = f"{method} {target} HTTP/{version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields)
    return Request(method, target, body, head.encode() + b"\r\n" + payload)


# --- Mutations ----------------------------------------------------------------------

INSERTS = [b"\r", b"\n", b"\0", b" ", b":", b"\t"]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with up to three mutations, each at a drawn position."""
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "insert", "truncate", "duplicate-line"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + draw(st.sampled_from(INSERTS)) + data[at:]
        elif kind == "truncate":
            data = data[:at]
        else:
            lines = data.split(b"\r\n")
            line = draw(st.integers(0, len(lines) - 1))
            data = b"\r\n".join(lines[: line + 1] + lines[line:])
    return data


@dataclass
class Example:
    requests: list[Request]
    data: bytes
    pieces: list[tuple[bytes, float]]  # each piece is sent after its delay

    @property
    def unmutated(self) -> bool:
        return self.data == b"".join(r.raw for r in self.requests)


@st.composite
def examples(draw: st.DrawFn) -> Example:
    batch = draw(st.lists(requests(), min_size=1, max_size=3))
    data = draw(mutated(b"".join(r.raw for r in batch)))
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=4))))
    cuts = [c for c in cuts if c < len(data)]
    pieces = [
        (data[a:b], draw(st.sampled_from([0.0, 0.0, 0.001, 0.005])))
        for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)
    ]
    return Example(batch, data, pieces)


# --- The reference: what h11 reads in the bytes -------------------------------------


@dataclass
class Reference:
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    # "clean", "partial" (mid-request), "error", "closes" (the last request closes the
    # connection) or "paused" (h11 waits for a protocol switch: nothing more is checked)
    ending: str = "clean"


def reference(data: bytes) -> Reference:
    """The requests h11 finds in ``data``, answering each as a server would so that it
    goes on to the next pipelined one."""
    ref = Reference()
    conn = h11.Connection(h11.SERVER)
    while data.startswith(b"\r\n"):  # ignored empty lines (see below)
        data = data[2:]
    if data:  # (receiving b"" would mean end of input)
        conn.receive_data(data)
    current: list = []
    keep_alive_1_0 = False
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                mid = conn.their_state is not h11.IDLE or conn.trailing_data[0]
                ref.ending = "partial" if mid else "clean"
                return ref
            if event is h11.PAUSED:  # a protocol switch was asked for (CONNECT, Upgrade)
                ref.ending = "paused"
                return ref
            assert not isinstance(event, h11.ConnectionClosed)  # input never ends
            if isinstance(event, h11.Request):
                current = [event.method.decode("latin-1"), event.target.decode("latin-1"), b""]
                keep_alive_1_0 = event.http_version == b"1.0" and any(
                    name == b"connection" and b"keep-alive" in value.lower().split(b",")
                    for name, value in event.headers
                )
            elif isinstance(event, h11.Data):
                current[2] += event.data
            elif isinstance(event, h11.EndOfMessage):
                ref.requests.append((current[0], current[1], current[2]))
                conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                conn.send(h11.EndOfMessage())
                if conn.our_state is h11.MUST_CLOSE and not keep_alive_1_0:
                    ref.ending = "closes"
                    return ref
                # A fresh parser goes on with the bytes left: h11 has no HTTP/1.0
                # keep-alive (Pyre has), and empty lines before a request line are
                # ignored, as RFC 9112 section 2.2 asks (h11 refuses them).
                rest = conn.trailing_data[0]
                while rest.startswith(b"\r\n"):
                    rest = rest[2:]
                conn = h11.Connection(h11.SERVER)
                if rest:  # (receiving b"" would mean end of input)
                    conn.receive_data(rest)
    except h11.RemoteProtocolError:
        ref.ending = "error"
        return ref


# --- Pyre's side --------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    seen: dict | None  # what the application reported, None for Pyre's own answers


def answers(raw: bytes, closed: bool, methods: list[str]) -> tuple[list[Answer], bool]:
    """The complete responses in ``raw``, parsed strictly by h11's client side (any
    malformation raises); and whether a response is still incomplete."""
    found: list[Answer] = []
    while raw:
        method = methods[len(found)] if len(found) < len(methods) else "GET"
        try:
            parsed = parse_response(raw, closed, method)
        except h11.RemoteProtocolError:
            # Pyre answers a refused request whose line starts with HEAD without a
            # body; h11 may have read that request differently (or not at all).
            parsed = parse_response(raw, closed, "HEAD")
            assert parsed is not None and parsed[0] >= 400 and closed and not parsed[2], raw
        if parsed is None:
            return found, True
        if parsed == "closed":
            return found, False
        status, seen, raw = parsed
        found.append(Answer(status, seen))
    return found, False


def parse_response(raw: bytes, closed: bool, method: str):
    """The first response in ``raw`` as ``(status, seen, rest)`` when it is complete,
    ``None`` when more bytes are needed, ``"closed"`` at a clean close."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "fuzz")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    if closed:
        conn.receive_data(b"")
    status, seen = 0, None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            return None
        if isinstance(event, h11.Response):
            status = event.status_code
            for name, value in event.headers:
                if name == b"x-seen":
                    seen = json.loads(value)
        elif isinstance(event, h11.EndOfMessage):
            return status, seen, conn.trailing_data[0]
        elif isinstance(event, h11.ConnectionClosed):
            return "closed"


def exchange(port: int, example: Example, expected: int | None) -> tuple[list[Answer], bool]:
    """Sends the example's pieces, then reads until the server closes, ``expected``
    answers from the application arrived (None: wait for the close), or it stayed
    silent for ``SILENCE`` seconds. Returns the answers and whether it closed."""
    methods = [r[0] for r in reference(example.data).requests]
    with connect(port, 5.0) as sock:
        for piece, delay in example.pieces:
            time.sleep(delay)
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        raw, closed = b"", False
        sock.settimeout(SILENCE)
        while expected != 0:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            raw += chunk
            found, pending = answers(raw, False, methods)
            # A response still coming (or a bodiless refusal read as if it had a
            # body, settled by the close) keeps the reading going.
            if (
                expected is not None
                and len(found) >= expected
                and found[-1].seen is not None
                and not pending
            ):
                break
        found, incomplete = answers(raw, closed, methods)
        assert not incomplete, f"a response was cut short: {raw!r}"
        return found, closed


def plain_get(port: int) -> None:
    with connect(port, 5.0) as sock:
        sock.sendall(b"GET /alive HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 "), reply


def check(server: ServerProcess, example: Example) -> None:
    ref = reference(example.data)
    # Keep-alive endings: stop once every request h11 found is answered; otherwise
    # (an error, or a request that closes) wait for the close.
    expected = len(ref.requests) if ref.ending in ("clean", "partial") else None
    found, closed = exchange(server.port, example, expected)
    served = [a.seen for a in found if a.seen is not None]
    context = f"sent {example.data!r}\nh11: {ref}\nPyre: {found} closed={closed}"

    for answer in found:
        assert (answer.seen is not None and 200 <= answer.status < 300) or (
            answer.seen is None and answer.status >= 400
        ), context
    # Pyre's own (error) answer ends the exchange: nothing is served after it.
    errors = [i for i, a in enumerate(found) if a.seen is None]
    if errors:
        assert errors == [len(found) - 1], context
    for seen, (method, target, body) in zip(served, ref.requests, strict=False):
        path, _, query = target.partition("?")
        got = (seen["method"], seen["path"], seen["query"], seen["body"].encode("latin-1"))
        assert got == (method, path, query, body), context
    assert len(served) <= max(len(example.requests), len(ref.requests)), context
    if ref.ending in ("clean", "partial"):
        assert len(served) <= len(ref.requests), context
    if ref.ending in ("clean", "closes"):
        # Every request is answered, or Pyre refused one and closed: no hang.
        assert len(served) == len(ref.requests) or closed, context
    if ref.ending == "closes" and len(served) == len(ref.requests):
        assert closed, context
    if ref.ending == "error" and not example.data.endswith(b"\r"):
        # Refused (or, where Pyre is the more lenient, served) within the silence.
        # (A lone CR at the very end is not refused yet: its LF may still come, and
        # an empty line before a request is allowed; the header timeout ends it.)
        assert closed or errors or len(served) > len(ref.requests), context
    if example.unmutated:
        # Requests behind one that closes the connection are never read.
        assert ref.ending in ("clean", "closes"), context
        assert len(served) == len(ref.requests) and not errors, context
    plain_get(server.port)


@pytest.fixture(scope="module", params=["asgi", "psgi"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    app = "tests.apps.fuzz_echo:app" if request.param == "asgi" else "tests.apps.fuzz_echo:handler"
    tmp = tmp_path_factory.mktemp("fuzz")
    with serve(app, "--interface", request.param, "--no-access-log", tmp=tmp) as process:
        yield process
        assert process.process.poll() is None, process.log


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(example=examples())
def test_mutated_requests_are_answered_or_refused(server: ServerProcess, example: Example) -> None:
    check(server, example)


def test_the_reference_sees_what_a_valid_request_holds() -> None:
    """The checks above rest on the reference parser: it must find an unmutated
    request's method, target and body, and report a truncated one as partial."""
    raw = (
        b"POST /a?b=c HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    assert reference(raw).requests == [("POST", "/a?b=c", b"abc")]
    assert reference(raw).ending == "clean"
    assert reference(raw[:-3]).ending == "partial"
    assert reference(b"GET / HTTP/1.1\r\n\r\n").ending == "error"  # no Host
