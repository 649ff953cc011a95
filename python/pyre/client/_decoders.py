"""Content-Encoding decoding (gzip, deflate) with Python's zlib, incrementally, so a
streamed body is decoded piece by piece in bounded memory.

``deflate`` is meant to be a zlib stream (RFC 9110), but some servers send raw
deflate; as browsers do, the first bytes decide. Unknown codings are passed through
undecoded (the caller sees them in ``Content-Encoding``).
"""

from __future__ import annotations

import zlib

from pyre.client._errors import DecodingError


class _ZlibDecoder:
    def __init__(self, wbits: int, name: str) -> None:
        self._name = name
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._started = False

    def decode(self, data: bytes) -> bytes:
        try:
            out = self._obj.decompress(data)
        except zlib.error as e:
            if self._name == "deflate" and not self._started:
                # Raw deflate, without the zlib wrapper.
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self.decode(data)
            raise DecodingError(f"invalid {self._name} body: {e}") from None
        self._started = True
        return out

    def flush(self) -> bytes:
        try:
            return self._obj.flush()
        except zlib.error as e:
            raise DecodingError(f"invalid {self._name} body: {e}") from None


class Decoder:
    """Decodes the codings of one Content-Encoding value, last applied first."""

    def __init__(self, steps: list[_ZlibDecoder]) -> None:
        self._steps = steps

    def decode(self, data: bytes) -> bytes:
        for step in self._steps:
            data = step.decode(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for step in self._steps:
            data = (step.decode(data) if data else b"") + step.flush()
        return data


def decoder_for(content_encoding: str | None) -> Decoder | None:
    """A decoder for ``content_encoding``, or None when there is nothing (known) to
    decode."""
    if not content_encoding:
        return None
    steps = []
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",")]):
        if coding in ("gzip", "x-gzip"):
            steps.append(_ZlibDecoder(16 + zlib.MAX_WBITS, "gzip"))
        elif coding == "deflate":
            steps.append(_ZlibDecoder(zlib.MAX_WBITS, "deflate"))
        elif coding == "identity":
            continue
        else:
            return None
    return Decoder(steps) if steps else None
