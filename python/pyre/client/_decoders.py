"""Content-Encoding decoding, incrementally, so a streamed body is decoded piece by
piece in bounded memory.

How it works: ``decoder_for(Content-Encoding)`` builds one step per coding, the last
applied first. ``Decoder.decode(piece)`` is a generator of decoded pieces of at most
``DECODED_PIECE`` bytes each: a step never inflates one input piece whole (a small
gzip bomb expands to gigabytes), it yields bounded pieces and keeps the rest of its
input until they are taken, so a consumer of ``iter_bytes()`` holds one piece at a
time whatever the compression ratio.

- ``gzip`` (``x-gzip``) and ``deflate`` with Python's zlib; gzip members follow
  one another (padding after the last is ignored, as urllib3 does). ``deflate`` is
  meant to be a zlib stream (RFC 9110), but some servers send raw deflate; as
  browsers do, the first bytes decide.
- ``br`` when the ``brotli`` package is installed (bounded pieces with brotli >= 1.2;
  brotli stops its output once past the limit, so it holds at most one brotli block
  more, and older versions inflate one input piece whole);
- ``zstd`` (one frame after another) with Python 3.14's ``compression.zstd``, else
  the ``zstandard`` package (its decoder has no output bound: one input piece is
  inflated whole);
- ``identity`` is skipped. A coding not known (or whose package is missing) leaves
  the whole body undecoded: the caller sees the bytes as sent and the coding in
  ``Content-Encoding``. ``ACCEPT_ENCODING`` lists only what can be decoded here.

Malformed or truncated compressed data raises ``DecodingError``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

from pyre.client._errors import DecodingError

# The most bytes one decoded piece holds (the bound on what one step inflates at
# once; see the module docstring).
DECODED_PIECE = 64 * 1024

try:  # pragma: no cover - depends on what is installed
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

try:  # pragma: no cover - Python 3.14+
    from compression import zstd as stdlib_zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    stdlib_zstd = None

try:  # pragma: no cover - depends on what is installed
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None


class _ZlibStep:
    def __init__(self, wbits: int, name: str) -> None:
        self._name = name
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._started = False
        self._members = 1
        self._ignoring = False  # the rest is padding after the last gzip member

    def feed(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        while data and not self._ignoring:
            if obj.eof:
                if self._name != "gzip":
                    return  # bytes after the end of a deflate stream are ignored
                # Another gzip member (RFC 1952 2.2: a gzip file is a series of them).
                self._obj = obj = zlib.decompressobj(self._wbits)
                self._members += 1
            try:
                out = obj.decompress(data, DECODED_PIECE)
            except zlib.error as e:
                if self._name == "deflate" and not self._started:
                    # Raw deflate, without the zlib wrapper.
                    self._obj = obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                if self._members > 1:
                    # Not another member but padding after the last one: ignored,
                    # as urllib3 does.
                    self._ignoring = True
                    return
                raise DecodingError(f"invalid {self._name} body: {e}") from None
            self._started = True
            # At the end of a stream, what follows it; else what the output bound left.
            data = obj.unused_data if obj.eof else obj.unconsumed_tail
            if out:
                yield out

    def finish(self) -> Iterator[bytes]:
        if self._ignoring:
            return
        try:
            tail = self._obj.flush()
        except zlib.error as e:  # pragma: no cover - flush rarely fails
            raise DecodingError(f"invalid {self._name} body: {e}") from None
        if tail:
            yield tail
        if self._started and not self._obj.eof and not self._ignoring:
            raise DecodingError(f"invalid {self._name} body: the compressed data is truncated")


class _BrotliStep:
    def __init__(self) -> None:
        assert brotli is not None
        self._obj = brotli.Decompressor()
        self._bounded = hasattr(self._obj, "can_accept_more_data")
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        self._started = self._started or bool(data)
        try:
            if not self._bounded:  # brotli < 1.2: no output bound
                out = obj.process(data)
                if out:
                    yield out
                return
            out = obj.process(data, output_buffer_limit=DECODED_PIECE)
            yield from _pieces(out)
            while not obj.can_accept_more_data():
                out = obj.process(b"", output_buffer_limit=DECODED_PIECE)
                if not out:
                    break
                yield from _pieces(out)
        except brotli.error as e:
            raise DecodingError(f"invalid br body: {e}") from None

    def finish(self) -> Iterator[bytes]:
        if self._started and not self._obj.is_finished():
            raise DecodingError("invalid br body: the compressed data is truncated")
        return iter(())


def _pieces(out: bytes) -> Iterator[bytes]:
    # brotli's limit stops the output growing once reached, so one output may pass
    # it by a block: handed on in pieces of the promised size.
    for start in range(0, len(out), DECODED_PIECE):
        yield out[start : start + DECODED_PIECE]


class _ZstdStep:
    def __init__(self) -> None:
        if stdlib_zstd is not None:
            self._obj: Any = stdlib_zstd.ZstdDecompressor()
            self._error: Any = stdlib_zstd.ZstdError
            self._bounded = True
        else:
            assert zstandard is not None
            self._obj = zstandard.ZstdDecompressor().decompressobj()
            self._error = zstandard.ZstdError
            self._bounded = False
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        self._started = self._started or bool(data)
        try:
            if not self._bounded:
                while data:
                    if obj.eof:
                        # Another frame: a zstd stream may hold several (RFC 8878
                        # section 3); zstandard's object decodes one (and refuses
                        # input, even empty, after it).
                        self._obj = obj = zstandard.ZstdDecompressor().decompressobj()
                    out = obj.decompress(data)
                    data = obj.unused_data if obj.eof else b""
                    if out:
                        yield out
                return
            while True:
                if obj.eof:
                    if not data:
                        break
                    self._obj = obj = stdlib_zstd.ZstdDecompressor()  # another frame
                out = obj.decompress(data, DECODED_PIECE)
                data = obj.unused_data if obj.eof else b""
                if out:
                    yield out
                if obj.needs_input and not data:
                    break
        except self._error as e:
            raise DecodingError(f"invalid zstd body: {e}") from None

    def finish(self) -> Iterator[bytes]:
        if self._started and not self._obj.eof:
            raise DecodingError("invalid zstd body: the compressed data is truncated")
        return iter(())


Step = _ZlibStep | _BrotliStep | _ZstdStep

# Each coding this client can decode, and how to make its step.
STEPS: dict[str, Callable[[], Step]] = {
    "gzip": lambda: _ZlibStep(16 + zlib.MAX_WBITS, "gzip"),
    "x-gzip": lambda: _ZlibStep(16 + zlib.MAX_WBITS, "gzip"),
    "deflate": lambda: _ZlibStep(zlib.MAX_WBITS, "deflate"),
}
if brotli is not None:
    STEPS["br"] = _BrotliStep
if stdlib_zstd is not None or zstandard is not None:
    STEPS["zstd"] = _ZstdStep

# The default Accept-Encoding: the codings above, best first by no measure other
# than habit (browsers list them in this order).
ACCEPT_ENCODING = ", ".join(c for c in ("gzip", "deflate", "br", "zstd") if c in STEPS)


class Decoder:
    """Decodes the codings of one Content-Encoding value, last applied first."""

    def __init__(self, steps: list[Step]) -> None:
        self._steps = steps

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data`` (each at most ``DECODED_PIECE`` bytes of
        one step's output)."""
        return self._through(0, iter((data,)))

    def flush(self) -> Iterator[bytes]:
        """What is left once the body ended; raises ``DecodingError`` if the
        compressed data stopped short."""
        return self._through(0, iter(()), final=True)

    def _through(self, index: int, pieces: Iterator[bytes], final: bool = False) -> Iterator[bytes]:
        if index == len(self._steps):
            yield from pieces
            return
        step = self._steps[index]

        def outputs() -> Iterator[bytes]:
            for piece in pieces:
                yield from step.feed(piece)
            if final:
                yield from step.finish()

        yield from self._through(index + 1, outputs(), final)


def decoder_for(content_encoding: str | None) -> Decoder | None:
    """A decoder for ``content_encoding``, or None when there is nothing (known) to
    decode."""
    if not content_encoding:
        return None
    steps = []
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",")]):
        if coding == "identity" or not coding:
            continue
        make = STEPS.get(coding)
        if make is None:
            return None
        steps.append(make())
    return Decoder(steps) if steps else None
