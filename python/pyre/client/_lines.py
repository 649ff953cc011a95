"""Splitting decoded text into lines as it arrives, for ``aiter_lines()``.

How it works: text pieces are fed in; every complete line is given out at once, and
the unfinished rest is kept for the next piece. ``\\n``, ``\\r\\n`` and a lone ``\\r``
end a line (as ``str.splitlines`` minus the exotic separators), and a ``\\r`` at the
very end of a piece is held back: its ``\\n`` may open the next piece, and
``\\r\\n`` split across two pieces is one line end, not two.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(r"\r\n|\r|\n")


class LineSplitter:
    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, text: str) -> list[str]:
        """The lines completed by ``text``."""
        text = self._rest + text
        if text.endswith("\r"):
            # Its "\n" may still come.
            text, self._rest = text[:-1], "\r"
        else:
            self._rest = ""
        parts = _LINE_END.split(text)
        self._rest = parts.pop() + self._rest
        return parts

    def flush(self) -> list[str]:
        """The last line, when the text did not end with a line end."""
        rest, self._rest = self._rest, ""
        if rest.endswith("\r"):
            return [rest[:-1]]  # a held-back "\r" ended that line
        return [rest] if rest else []
