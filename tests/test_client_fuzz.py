"""Fuzz targets, a few lines each, for the client's parsers of what servers and
users send (no sockets): line splitting, Content-Encoding decoding, Location
resolution, NO_PROXY and proxy URLs, Set-Cookie, and multipart encoding (checked by
python-multipart's parser). Each either works or fails with its own typed error,
never with anything else. PYRE_FUZZ_EXAMPLES sets the examples per target."""

from __future__ import annotations

import gzip
import itertools
import os
import re
import zlib

import brotli
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from python_multipart.multipart import MultipartParser

from pyre.client import Cookies, DecodingError, ProxyError, RemoteProtocolError
from pyre.client._decoders import decoder_for
from pyre.client._lines import LineSplitter
from pyre.client._multipart import MultipartBody
from pyre.client._proxy import NoProxy, parse_proxy
from pyre.client._redirects import redirect_url

EXAMPLES = int(os.environ.get("PYRE_FUZZ_EXAMPLES", "300"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None)

COMPRESS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def cut(data: bytes | str, points: list[int]) -> list:  # type: ignore[type-arg]
    """``data`` cut at ``points`` (positions modulo its length)."""
    marks = sorted({p % (len(data) + 1) for p in points})
    edges = [0, *marks, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@fuzz
@given(st.text(alphabet="ab\r\n", max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_lines_do_not_depend_on_where_pieces_end(text: str, points: list[int]) -> None:
    splitter = LineSplitter()
    lines = [line for piece in cut(text, points) for line in splitter.feed(piece)]
    expected = re.split(r"\r\n|\r|\n", text)
    if expected[-1] == "":
        expected.pop()
    assert lines + splitter.flush() == expected


@fuzz
@given(
    st.sampled_from(sorted(COMPRESS)),
    st.binary(max_size=3000),
    st.lists(st.integers(0, 4000), max_size=5),
)
def test_compressed_bodies_decode_wherever_they_are_cut(
    coding: str, data: bytes, points: list[int]
) -> None:
    decoder = decoder_for(coding)
    assert decoder is not None
    out = [o for piece in cut(COMPRESS[coding](data), points) for o in decoder.decode(piece)]
    assert b"".join([*out, *decoder.flush()]) == data


@fuzz
@given(st.sampled_from(["gzip", "deflate", "br", "zstd", "gzip, br"]), st.binary(max_size=300))
def test_garbage_bodies_raise_decoding_error_only(coding: str, data: bytes) -> None:
    decoder = decoder_for(coding)
    assert decoder is not None
    try:
        b"".join([*decoder.decode(data), *decoder.flush()])
    except DecodingError:
        pass


@fuzz
@given(st.text(max_size=40))
def test_any_location_resolves_or_raises_remote_protocol_error(location: str) -> None:
    try:
        url = redirect_url("http://127.0.0.1:8000/a/b?c=d", location)
    except RemoteProtocolError:
        return
    assert url.split(":", 1)[0].lower() in ("http", "https")
    assert " " not in url


@fuzz
@given(st.text(max_size=40), st.text(max_size=20), st.integers(0, 65535))
def test_no_proxy_and_proxy_urls_never_crash(value: str, host: str, port: int) -> None:
    NoProxy(value).matches(host, port)
    try:
        parse_proxy(value)
    except ProxyError:
        pass


@fuzz
@given(st.lists(st.text(max_size=40), max_size=4))
def test_any_set_cookie_is_stored_or_ignored(values: list[str]) -> None:
    jar = Cookies()
    jar.extract("http://127.0.0.1/path/", values)
    header = jar.header_for("http://127.0.0.1/path/x")
    assert header is None or ("\r" not in header and "\n" not in header)


field_names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)


@fuzz
@given(
    st.dictionaries(field_names, st.text(st.characters(blacklist_categories=["Cs"])), max_size=3),
    st.lists(st.tuples(field_names, field_names, st.binary(max_size=200)), max_size=3),
)
def test_multipart_bodies_parse_back(
    data: dict[str, str], files: list[tuple[str, str, bytes]]
) -> None:
    body = MultipartBody(data, [(name, (filename, content)) for name, filename, content in files])
    raw = b"".join(body)
    assert len(raw) == body.length
    parts: list[bytes] = []
    current: list[bytes] = []
    parser = MultipartParser(
        body.boundary,
        {
            "on_part_begin": lambda: current.clear(),
            "on_part_data": lambda buf, start, end: current.append(buf[start:end]),
            "on_part_end": lambda: parts.append(b"".join(current)),
        },
    )
    parser.write(raw)
    parser.finalize()
    expected = [v.encode() for v in data.values()] + [content for _, _, content in files]
    assert parts == expected
