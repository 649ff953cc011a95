"""The TechEmpower-style suite (benchmarks/techempower.py, ``make bench-tfb``): its
start-and-verify path against a real PostgreSQL (Debian's, installed by
scripts/test-deps.sh) for Pyre's three implementations, a deliberately broken app
that the verifier must refuse, and the verifier's rules on hand-made responses.
Nothing is timed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from benchmarks import techempower
from benchmarks.tfb import verify
from benchmarks.tfb.postgres import Postgres, read_world

SETTINGS = techempower.Settings(
    duration=1, warmup=0, connections=8, pipeline=16, server_cpu=None, client_cpu=None
)


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with Postgres() as server:
        yield server


@pytest.mark.parametrize("name", ["pyre-asgi", "pyre-psgi", "pyre-framework"])
def test_pyre_implementations_pass_verification(pg: Postgres, tmp_path: Path, name: str) -> None:
    outcome = techempower.run_impl(name, pg, SETTINGS, tmp_path, verify_only=True)
    assert outcome.error is None
    assert outcome.verification == {test: [] for test in verify.TESTS}
    assert all(outcome.passed(test) for test in verify.TESTS)
    assert outcome.results == {}  # verify-only: nothing measured


def test_the_suite_command_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The command's own path: its PostgreSQL started and stopped, one implementation.
    code = techempower.main(["--verify-only", "--impls", "pyre-psgi", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verification passed" in out


def test_a_wrong_implementation_fails_and_is_not_measured(
    pg: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = replace(techempower.IMPLS["pyre-asgi"], app="tests.apps.tfb_broken:app")
    monkeypatch.setitem(techempower.IMPLS, "broken", broken)
    outcome = techempower.run_impl("broken", pg, SETTINGS, tmp_path, verify_only=True)
    assert outcome.error is None
    failed = {test for test, problems in outcome.verification.items() if problems}
    assert failed == {"json", "fortunes", "updates"}, outcome.verification
    assert "Hello World" in outcome.verification["json"][0]
    assert any("differs" in p for p in outcome.verification["fortunes"])
    assert any("not persisted" in p for p in outcome.verification["updates"])
    assert not outcome.passed("fortunes")
    # A failed test is never measured (run_impl measures only what passed).
    assert all(outcome.passed(t) for t in ("plaintext", "db", "queries"))


def test_the_database_is_techempowers(pg: Postgres) -> None:
    assert pg.psql("SELECT count(*) FROM world;", "hello_world").strip() == "10000"
    numbers = read_world(pg, list(range(1, 10001)))
    assert len(numbers) == 10000 and all(1 <= n <= 10000 for n in numbers.values())
    assert pg.psql("SELECT count(*) FROM fortune;", "hello_world").strip() == "12"


# --------------------------------------------------------------------------- rules

HEADERS = {
    "server": "test",
    "date": "Fri, 04 Dec 2026 21:00:00 GMT",
}


def response(body: bytes | str, content_type: str, **headers: str) -> verify.Response:
    data = body.encode() if isinstance(body, str) else body
    merged = {**HEADERS, "content-type": content_type, "content-length": str(len(data))}
    merged.update(headers)
    return verify.Response(200, {k: v for k, v in merged.items() if v}, data)


HTML = "text/html; charset=utf-8"


def test_the_expected_fortunes_page_passes_in_any_equivalent_spelling() -> None:
    page = verify.expected_fortunes()
    assert verify.check_fortunes(response(page, HTML)) == []
    # Whitespace between elements and another spelling of an escape are the same page.
    assert verify.check_fortunes(response(page.replace("\n", ""), HTML)) == []
    assert verify.check_fortunes(response(page.replace("&#x27;", "&#39;"), HTML)) == []
    assert verify.check_fortunes(response(page.replace("&#x27;", "'"), HTML)) == []
    assert "&lt;script&gt;" in page and "<td>0</td>" in page
    assert "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af" in page


def _by_id(page: str) -> str:
    head, _, rest = page.partition("<tr><td>")
    rows, _, tail = ("<tr><td>" + rest).rpartition("</tr>\n")
    lines = sorted(
        (rows + "</tr>\n").splitlines(keepends=True), key=lambda r: int(r[8:].split("<")[0])
    )
    return head + "".join(lines) + tail


@pytest.mark.parametrize(
    "wrong",
    [
        # the <script> fortune not escaped
        lambda p: p.replace("&lt;script&gt;", "<script>").replace("&lt;/script&gt;", "</script>"),
        # the extra fortune missing
        lambda p: p.replace(
            "<tr><td>0</td><td>Additional fortune added at request time.</td></tr>\n", ""
        ),
        # sorted by id instead of by message
        lambda p: _by_id(p),
        # the Japanese fortune mangled
        lambda p: p.replace("\u30d5\u30ec", "??"),
        # no table header
        lambda p: p.replace("<tr><th>id</th><th>message</th></tr>\n", ""),
    ],
    ids=["unescaped", "no-extra-fortune", "unsorted", "mojibake", "no-header-row"],
)
def test_a_wrong_fortunes_page_is_rejected(wrong) -> None:  # type: ignore[no-untyped-def]
    page = wrong(verify.expected_fortunes())
    assert page != verify.expected_fortunes()
    assert verify.check_fortunes(response(page, HTML))


def test_fortunes_need_html_and_utf8() -> None:
    page = verify.expected_fortunes()
    assert verify.check_fortunes(response(page, "text/html"))  # no charset
    assert verify.check_fortunes(response(page, "text/plain; charset=utf-8"))
    latin = page.encode("utf-8").replace("\u30d5".encode(), b"\xff")
    assert verify.check_fortunes(response(latin, HTML))


def test_json_rules() -> None:
    good = response(b'{"message":"Hello, World!"}', "application/json")
    assert verify.check_json(good) == []
    for body in (
        b'{"message":"Hello World"}',
        b'{"message":"Hello, World!","extra":1}',
        b'["Hello, World!"]',
        b"Hello, World!",
    ):
        assert verify.check_json(response(body, "application/json")), body
    assert verify.check_json(response(good.body, "text/plain"))


def test_required_headers() -> None:
    body = b'{"message":"Hello, World!"}'
    for missing in ("server", "date", "content-length"):
        problems = verify.check_json(response(body, "application/json", **{missing: ""}))
        assert any(f"no {missing.title()}" in p for p in problems), missing
    problems = verify.check_json(response(body, "application/json", date="yesterday"))
    assert any("not an HTTP date" in p for p in problems)
    problems = verify.check_json(response(body, "application/json", **{"content-length": "3"}))
    assert any("Content-Length" in p for p in problems)


def test_world_rules() -> None:
    stored = {1: 10, 2: 20}

    def read(ids: list[int]) -> dict[int, int]:
        return {i: stored[i] for i in ids if i in stored}

    def check(value: object, count: int | None) -> list[str]:
        body = json.dumps(value).encode()
        return verify.check_world(response(body, "application/json"), count, read)[0]

    assert check({"id": 1, "randomNumber": 10}, None) == []
    assert check([{"id": 1, "randomNumber": 10}, {"id": 2, "randomNumber": 20}], 2) == []
    assert check({"id": "1", "randomNumber": 10}, None)  # a string id
    assert check({"id": 1, "randomnumber": 10}, None)  # the key's case
    assert check({"id": 1, "randomNumber": 11}, None)  # not the stored number
    assert check({"id": 1, "randomNumber": 10}, 1)  # an object where a list is due
    assert check([{"id": 1, "randomNumber": 10}], 2)  # too few
    assert check({"id": 0, "randomNumber": 10}, None)  # out of range


def test_the_queries_rule() -> None:
    from benchmarks.tfb import common

    assert [common.clamp(v) for v in ("20", "0", "-3", "foo", "", None, "501", "500")] == [
        20,
        1,
        1,
        1,
        1,
        1,
        500,
        500,
    ]
    assert common.queries_count(b"queries=7&x=1") == 7
    assert common.queries_count(b"") == 1
