"""TechEmpower's verification rules (toolset/test_types/*/verify.py, restated here),
checked against a running implementation before it is measured.

Every response: status 200; ``Server``, ``Date`` (an HTTP date), ``Content-Type`` and
``Content-Length`` present (and the length right). Per test:

- json: ``application/json``; an object of exactly ``{"message": "Hello, World!"}``.
- plaintext: ``text/plain``; the body ``Hello, World!``.
- db: ``application/json``; an object with integer ``id`` and ``randomNumber`` in
  1..10000, and the number is the row's in the database.
- queries: a list of such objects, as many as the ``queries`` rule gives: 20 for
  ``queries=20``, 1 for ``0``, ``foo`` and an empty or missing value, 500 for
  ``501``; every number is the row's in the database.
- fortunes: ``text/html`` with ``charset=utf-8``; the page equals TechEmpower's
  fortunes page for the 12 fortunes plus "Additional fortune added at request time."
  (id 0), sorted by message, HTML-escaped. As TechEmpower's own check, the page is
  compared parsed: whitespace between elements is ignored and an escape is equal to
  any other spelling of the same character (``&#39;`` or ``&#x27;``; quotes may be
  left unescaped in text), while an unescaped ``<script>`` is a different page.
- updates: as queries; and afterwards the database holds the numbers returned for
  every row (the updates were persisted), and some differ from what was there.

The verifier does not share code with the implementations: the expected fortunes
page is built here from benchmarks/tfb/postgres.py's table.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from html import escape
from html.parser import HTMLParser
from typing import Any

from benchmarks.tfb.postgres import FORTUNES

ADDITIONAL = "Additional fortune added at request time."
TESTS = ("json", "plaintext", "db", "queries", "fortunes", "updates")
# The path wrk requests for each test.
PATHS = {
    "json": "/json",
    "plaintext": "/plaintext",
    "db": "/db",
    "queries": "/queries?queries=20",
    "fortunes": "/fortunes",
    "updates": "/updates?queries=20",
}
# The queries parameter's rule, as TechEmpower checks it: (query string, count).
COUNTS = (("queries=20", 20), ("queries=0", 1), ("queries=foo", 1), ("queries=", 1))
COUNTS_LONG = (*COUNTS, ("queries=501", 500), ("", 1))

ReadWorld = Callable[[list[int]], dict[int, int]]


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def fetch(port: int, path: str, timeout: float = 10.0) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "*/*"})
        response = conn.getresponse()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Response(response.status, headers, body)
    finally:
        conn.close()


# --------------------------------------------------------------------------- rules


def check_headers(response: Response, content_type: str) -> list[str]:
    problems = []
    if response.status != 200:
        problems.append(f"status {response.status} (body {response.body[:120]!r})")
    for name in ("server", "date", "content-type", "content-length"):
        if name not in response.headers:
            problems.append(f"no {name.title()} header")
    date = response.headers.get("date")
    if date is not None:
        try:
            parsedate_to_datetime(date)
        except (TypeError, ValueError):
            problems.append(f"Date is not an HTTP date: {date!r}")
    length = response.headers.get("content-length")
    if length is not None and length.strip() != str(len(response.body)):
        problems.append(f"Content-Length {length} but the body has {len(response.body)} bytes")
    got = response.headers.get("content-type", "")
    if got and not got.lower().startswith(content_type):
        problems.append(f"Content-Type {got!r}, expected {content_type}")
    return problems


def check_json(response: Response) -> list[str]:
    problems = check_headers(response, "application/json")
    try:
        value = json.loads(response.body)
    except ValueError:
        return [*problems, f"not JSON: {response.body[:120]!r}"]
    if value != {"message": "Hello, World!"}:
        problems.append(f'expected {{"message": "Hello, World!"}}, got {value!r}'[:200])
    return problems


def check_plaintext(response: Response) -> list[str]:
    problems = check_headers(response, "text/plain")
    if response.body != b"Hello, World!":
        problems.append(f"expected b'Hello, World!', got {response.body[:120]!r}")
    return problems


def world_object(value: Any) -> tuple[int, int] | str:
    """(id, randomNumber) of one world object, or what is wrong with it."""
    if not isinstance(value, dict):
        return f"not an object: {value!r}"[:120]
    if set(value) != {"id", "randomNumber"}:
        return f"keys {sorted(value)}, expected ['id', 'randomNumber']"
    row_id, number = value["id"], value["randomNumber"]
    for name, field in (("id", row_id), ("randomNumber", number)):
        if not isinstance(field, int) or isinstance(field, bool):
            return f"{name} is not an integer: {field!r}"
        if not 1 <= field <= 10000:
            return f"{name} {field} is not in 1..10000"
    return row_id, number


def check_world(
    response: Response, count: int | None, read_world: ReadWorld | None
) -> tuple[list[str], list[tuple[int, int]]]:
    """A single object (count None) or a list of ``count``; their rows, checked
    against the database when ``read_world`` is given."""
    problems = check_headers(response, "application/json")
    try:
        value = json.loads(response.body)
    except ValueError:
        return [*problems, f"not JSON: {response.body[:120]!r}"], []
    if count is None:
        items = [value]
    elif not isinstance(value, list):
        return [*problems, f"not a JSON list: {response.body[:120]!r}"], []
    else:
        items = value
        if len(items) != count:
            problems.append(f"{len(items)} objects, expected {count}")
    rows = []
    for item in items:
        row = world_object(item)
        if isinstance(row, str):
            return [*problems, row], []
        rows.append(row)
    if read_world is not None and rows:
        stored = read_world([i for i, _ in rows])
        wrong = [(i, n, stored.get(i)) for i, n in rows if stored.get(i) != n]
        if wrong:
            problems.append(
                f"{len(wrong)} of {len(rows)} numbers differ from the database's, "
                f"e.g. id {wrong[0][0]}: {wrong[0][1]} returned, {wrong[0][2]} stored"
            )
    return problems, rows


def expected_fortunes() -> str:
    """TechEmpower's fortunes page, as its template renders it."""
    rows = sorted([*FORTUNES, (0, ADDITIONAL)], key=lambda row: row[1])
    cells = "".join(f"<tr><td>{i}</td><td>{escape(m)}</td></tr>\n" for i, m in rows)
    return (
        "<!DOCTYPE html>\n<html>\n<head><title>Fortunes</title></head>\n<body>\n<table>\n"
        f"<tr><th>id</th><th>message</th></tr>\n{cells}</table>\n</body>\n</html>"
    )


class _Tokens(HTMLParser):
    """An HTML page as tokens: tags (lower-case, with attributes), text with character
    references resolved, whitespace-only text dropped, surrounding whitespace stripped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[tuple[Any, ...]] = []

    def handle_decl(self, decl: str) -> None:
        self.tokens.append(("decl", decl.lower()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(("start", tag, tuple(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(("start", tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.tokens.append(("text", data.strip()))

    def handle_comment(self, data: str) -> None:
        self.tokens.append(("comment", data))


def html_tokens(page: str) -> list[tuple[Any, ...]]:
    parser = _Tokens()
    parser.feed(page)
    parser.close()
    return parser.tokens


def check_fortunes(response: Response) -> list[str]:
    problems = check_headers(response, "text/html")
    content_type = response.headers.get("content-type", "").lower().replace(" ", "")
    if "charset=utf-8" not in content_type:
        problems.append(f"Content-Type {content_type!r} does not say charset=utf-8")
    try:
        page = response.body.decode("utf-8")
    except UnicodeDecodeError:
        return [*problems, "the page is not UTF-8"]
    got, want = html_tokens(page), html_tokens(expected_fortunes())
    if got != want:
        at = next(
            (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
            min(len(got), len(want)),
        )
        problems.append(
            f"the fortunes page differs from TechEmpower's at token {at}: "
            f"got {got[at] if at < len(got) else 'the end'!r}, "
            f"expected {want[at] if at < len(want) else 'the end'!r}"
        )
    return problems


# --------------------------------------------------------------------------- running


def verify(
    port: int, read_world: ReadWorld | None, tests: tuple[str, ...] = TESTS, long: bool = True
) -> dict[str, list[str]]:
    """Every rule of every test against the server on ``port``: problems per test
    (an empty list: the test passed)."""
    counts = COUNTS_LONG if long else COUNTS
    results: dict[str, list[str]] = {}

    def guarded(test: str, run: Callable[[], list[str]]) -> None:
        try:
            results[test] = run()
        except (OSError, http.client.HTTPException) as exc:
            results[test] = [f"request failed: {type(exc).__name__}: {exc}"]

    def db() -> list[str]:
        return check_world(fetch(port, "/db"), None, read_world)[0]

    def queries(test: str) -> list[str]:
        problems = []
        for query, count in counts:
            found, _ = check_world(fetch(port, f"/{test}?{query}"), count, read_world)
            problems.extend(f"/{test}?{query}: {p}" for p in found)
        return problems

    def updates() -> list[str]:
        problems = queries("updates")
        if read_world is None:
            return problems
        # Persisted: the table read before one more request and after it; every
        # number returned is the one stored, and most rows changed (a new random
        # number equals the old one once in 10,000).
        before = read_world(list(range(1, 10001)))
        found, rows = check_world(fetch(port, "/updates?queries=20"), 20, None)
        if found or not rows:
            return [*problems, *found]
        after = read_world([i for i, _ in rows])
        wrong = [(i, n) for i, n in rows if after.get(i) != n]
        if wrong:
            problems.append(
                f"updates not persisted: {len(wrong)} of 20 rows do not hold the returned "
                f"number (id {wrong[0][0]}: {wrong[0][1]} returned, {after.get(wrong[0][0])} "
                "stored)"
            )
        changed = sum(1 for i, _ in rows if after.get(i) != before.get(i))
        if changed < 10:
            problems.append(f"only {changed} of 20 rows changed in the database")
        return problems

    for test in tests:
        if test == "json":
            guarded(test, lambda: check_json(fetch(port, "/json")))
        elif test == "plaintext":
            guarded(test, lambda: check_plaintext(fetch(port, "/plaintext")))
        elif test == "db":
            guarded(test, db)
        elif test == "queries":
            guarded(test, lambda: queries("queries"))
        elif test == "fortunes":
            guarded(test, lambda: check_fortunes(fetch(port, "/fortunes")))
        elif test == "updates":
            guarded(test, updates)
    return results
