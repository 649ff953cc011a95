"""Conditional and range requests for files (RFC 9110 sections 13 and 14), as
``FileResponse`` answers them.

How it works: the file's validators are its ETag (modification time and size) and
Last-Modified. ``If-None-Match`` (or, without it, ``If-Modified-Since``) that still
matches gives 304. A ``Range`` of byte ranges on a GET, honoured unless ``If-Range``
names another version, gives 206 with one range (``Content-Range``) or several
(``multipart/byteranges``); a range no byte of the file satisfies gives 416. A
malformed ``Range`` is ignored (200 with the whole file), as the RFC allows.

Also here: ``safe_join``, the only way a request's path should become a file path
(it never leaves the root), and ``content_disposition`` (RFC 6266 names).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

#: More ranges than this in one request are answered with the whole file.
MAX_RANGES = 16


@dataclass
class Plan:
    """What to send: the status, extra headers, and the byte ranges of the file
    (``None``: the whole file; empty: no body)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    ranges: list[tuple[int, int]] | None = None  # (start, end inclusive)
    boundary: str | None = None


def validators(stat: os.stat_result) -> tuple[str, str]:
    """(ETag, Last-Modified) of a file."""
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    return etag, formatdate(stat.st_mtime, usegmt=True)


def _etag_matches(header: str, etag: str, weak: bool) -> bool:
    if header.strip() == "*":
        return True
    candidates = [t.strip() for t in header.split(",")]
    if weak:
        strip = lambda t: t[2:] if t.startswith("W/") else t  # noqa: E731
        return any(strip(t) == strip(etag) for t in candidates)
    return etag in candidates


def _date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ranges of a ``bytes=`` Range header (possibly empty: 416), or
    None when the header is malformed (ignored)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges = []
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) > MAX_RANGES:
        return None
    for part in parts:
        first, dash, last = part.partition("-")
        if not dash:
            return None
        first, last = first.strip(), last.strip()
        if not first:
            if not last.isdigit():
                return None
            length = int(last)
            if length == 0:
                continue
            ranges.append((max(0, size - length), size - 1))
            continue
        if not first.isdigit() or (last and not last.isdigit()):
            return None
        start = int(first)
        if last and int(last) < start:
            return None
        if start >= size:
            continue  # unsatisfiable
        end = min(int(last), size - 1) if last else size - 1
        ranges.append((start, end))
    return [r for r in ranges if r[0] <= r[1]]


def plan(headers: Any, method: str, stat: os.stat_result, media_type: str) -> Plan:
    """Decides the response to a request for a file with this ``stat``."""
    etag, last_modified = validators(stat)
    common = [("etag", etag), ("last-modified", last_modified), ("accept-ranges", "bytes")]
    if method not in ("GET", "HEAD"):
        return Plan(200, common)
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag, weak=True):
            return Plan(304, common, ranges=[])
    else:
        since = headers.get("if-modified-since")
        when = _date(since) if since else None
        if when is not None and int(stat.st_mtime) <= when:
            return Plan(304, common, ranges=[])
    range_header = headers.get("range")
    if range_header is None or method != "GET":
        return Plan(200, common)
    if_range = headers.get("if-range")
    if if_range is not None:
        if if_range.strip().startswith(('"', "W/")):
            current = if_range.strip() == etag  # strong comparison only
        else:
            when = _date(if_range)
            current = when is not None and int(stat.st_mtime) == int(when)
        if not current:
            return Plan(200, common)
    ranges = parse_ranges(range_header, stat.st_size)
    if ranges is None:
        return Plan(200, common)
    if not ranges:
        return Plan(416, [*common, ("content-range", f"bytes */{stat.st_size}")], ranges=[])
    if len(ranges) == 1:
        start, end = ranges[0]
        return Plan(
            206, [*common, ("content-range", f"bytes {start}-{end}/{stat.st_size}")], ranges
        )
    boundary = secrets.token_hex(16)
    return Plan(
        206,
        [*common, ("content-type", f"multipart/byteranges; boundary={boundary}")],
        ranges,
        boundary,
    )


def part_headers(boundary: str, media_type: str, start: int, end: int, size: int) -> bytes:
    return (
        f"--{boundary}\r\ncontent-type: {media_type}\r\n"
        f"content-range: bytes {start}-{end}/{size}\r\n\r\n"
    ).encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def multipart_length(plan: Plan, media_type: str, size: int) -> int:
    assert plan.ranges and plan.boundary
    total = len(closing(plan.boundary))
    for start, end in plan.ranges:
        total += len(part_headers(plan.boundary, media_type, start, end, size))
        total += end - start + 1 + 2  # the bytes and their CRLF
    return total


# -- path safety ------------------------------------------------------------------------


def safe_join(root: str | os.PathLike[str], path: str, *, follow_symlinks: bool = False) -> str:
    """The file ``path`` (a URL's remainder, e.g. a ``{rest:path}`` parameter) names
    under directory ``root``, or ``HTTPException(404)`` when it would leave it.

    ``path`` is split on ``/``: empty and ``.`` segments are dropped (so a leading
    ``/``, from ``%2f``, stays inside ``root``), and a ``..`` segment, a backslash or
    a NUL anywhere is refused outright (404) rather than normalised. The result is
    then resolved (``os.path.realpath``): a symlink is followed only when its target
    is inside ``root`` too, unless ``follow_symlinks`` (then any target, as when the
    root's owner put links there on purpose). Never build a file path from a request
    with ``os.path.join``: ``os.path.join(root, "/etc/hostname")`` is
    ``/etc/hostname``."""
    from pyre.framework.exceptions import HTTPException

    if "\x00" in path or "\\" in path:
        raise HTTPException(404)
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise HTTPException(404)
    base = os.path.realpath(root)
    joined = os.path.join(base, *segments)
    if follow_symlinks:
        return joined
    resolved = os.path.realpath(joined)
    if resolved != base and not resolved.startswith(base.rstrip(os.sep) + os.sep):
        raise HTTPException(404)
    return resolved


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value naming ``filename`` (RFC 6266): ``filename=``
    with an ASCII fallback (other characters as ``_``, quotes and backslashes
    escaped), and ``filename*=UTF-8''...`` (percent-encoded) when the name is not
    plain ASCII, which browsers prefer."""
    from urllib.parse import quote

    fallback = "".join(c if 0x20 <= ord(c) < 0x7F else "_" for c in filename)
    fallback = fallback.replace("\\", "\\\\").replace('"', '\\"')
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename or any(ord(c) < 0x20 or ord(c) >= 0x7F for c in filename):
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
