"""Static files and path safety over a real socket (tests/apps/framework_extras_app.py
on Pyre, and on uvicorn for the ASGI path): StaticFiles mounts and
``FileResponse.from_directory`` never leave their root, whatever the request path
holds; missing files are 404s through the app's exception handlers; download names
are encoded as RFC 6266 says."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyre.framework import HTTPException
from pyre.framework.files import content_disposition, safe_join
from tests.support import ServerProcess, connect, serve, serve_uvicorn

APP = "tests.apps.framework_extras_app:app"
SECRET = b"TOP-SECRET outside the root"


def make_tree(base: Path) -> Path:
    """base/secret.txt outside the root; base/root with files, links in and out."""
    (base / "secret.txt").write_bytes(SECRET)
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_text("hello from the root\n")
    (root / "sub" / "inner.txt").write_text("inner\n")
    (root / "back\\slash.txt").write_text("a file whose name has a backslash\n")
    os.symlink(base / "secret.txt", root / "link-out")
    os.symlink("hello.txt", root / "link-in")
    os.symlink(base, root / "dirlink-out")
    site = root / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "docs" / "index.html").write_text("<h1>docs</h1>")
    (site / "404.html").write_text("<h1>not here</h1>")
    (base / "templates").mkdir()
    (base / "templates" / "page.html").write_text(
        "<p>{{ name }}</p>{% for i in items %}<i>{{ i }}</i>{% endfor %}"
    )
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("static")
    make_tree(base)
    return base


@pytest.fixture(scope="module", params=["pyre", "uvicorn"])
def server(request: pytest.FixtureRequest, tree: Path) -> Iterator[ServerProcess]:
    os.environ["PYRE_TEST_ROOT"] = str(tree)  # inherited by the server process
    try:
        starter = serve if request.param == "pyre" else serve_uvicorn
        with starter(APP, tmp=tree) as running:
            yield running
    finally:
        os.environ.pop("PYRE_TEST_ROOT", None)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client normalises it); (status, body)."""
    with connect(port) as sock:
        request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


TRAVERSALS = [
    "../secret.txt",
    "..%2fsecret.txt",
    "..%2Fsecret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    "sub/../../secret.txt",
    "sub/%2e%2e/%2e%2e/secret.txt",
    "%2fetc%2fhostname",
    "/etc/hostname",
    "..\\secret.txt",
    "..%5csecret.txt",
    "%5c..%5csecret.txt",
    "hello.txt%00.png",
    "%00",
    "link-out",
    "dirlink-out/secret.txt",
    "back%5cslash.txt",
]


@pytest.mark.parametrize("prefix", ["/static/", "/safe/"])
@pytest.mark.parametrize("rest", TRAVERSALS)
def test_traversal_never_leaves_the_root(server: ServerProcess, prefix: str, rest: str) -> None:
    status, body = raw_get(server.port, prefix + rest)
    # 404 from the framework, or 400 from a server that refuses the target itself.
    assert status in (400, 404), (status, body[:200])
    assert SECRET not in body


@pytest.mark.parametrize("prefix", ["/static/", "/safe/"])
@pytest.mark.parametrize(
    ("rest", "content"),
    [
        ("hello.txt", b"hello from the root\n"),
        ("sub/inner.txt", b"inner\n"),
        ("./sub//inner.txt", b"inner\n"),
        ("link-in", b"hello from the root\n"),  # a symlink inside the root is followed
        ("sub/%69nner.txt", b"inner\n"),
    ],
)
def test_files_inside_the_root_are_served(
    server: ServerProcess, prefix: str, rest: str, content: bytes
) -> None:
    status, body = raw_get(server.port, prefix + rest)
    assert (status, body) == (200, content)


def test_static_files_answer_like_file_response(client: httpx.Client) -> None:
    whole = client.get("/static/hello.txt")
    assert whole.headers["content-type"] == "text/plain; charset=utf-8"
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    assert client.get("/static/hello.txt", headers={"if-none-match": etag}).status_code == 304
    part = client.get("/static/hello.txt", headers={"range": "bytes=0-4"})
    assert (part.status_code, part.content) == (206, b"hello")
    assert client.head("/static/hello.txt").headers["content-length"] == str(len(whole.content))


def test_static_files_errors_go_through_the_exception_handlers(client: httpx.Client) -> None:
    missing = client.get("/static/nope.txt")
    assert missing.status_code == 404
    assert missing.headers["x-handled"] == "yes"
    directory = client.get("/static/sub")  # html=False: a directory is no file
    assert directory.status_code == 404
    post = client.post("/static/hello.txt")
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"
    assert post.headers["x-handled"] == "yes"


def test_html_mode_index_redirect_404_page_and_cache_control(client: httpx.Client) -> None:
    home = client.get("/site/")
    assert (home.status_code, home.text) == (200, "<h1>home</h1>")
    assert home.headers["cache-control"] == "public, max-age=60"
    assert home.headers["content-type"].startswith("text/html")
    redirect = client.get("/site/docs", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/site/docs/"
    assert client.get("/site/docs/").text == "<h1>docs</h1>"
    assert client.get("/site", follow_redirects=True).text == "<h1>home</h1>"
    missing = client.get("/site/nothing.html")
    assert (missing.status_code, missing.text) == (404, "<h1>not here</h1>")
    etag = home.headers["etag"]
    cached = client.get("/site/", headers={"if-none-match": etag})
    assert cached.status_code == 304
    assert cached.headers["cache-control"] == "public, max-age=60"


def test_a_missing_file_is_a_404_through_the_handlers(client: httpx.Client) -> None:
    for path in ("/missing", "/directory", "/safe/nope.txt"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["x-handled"] == "yes", path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        (
            "résumé €.txt",
            'attachment; filename="r_sum_ _.txt"'
            "; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.txt",
        ),
        (
            'say "hi".txt',
            'attachment; filename="say \\"hi\\".txt"; filename*=UTF-8\'\'say%20%22hi%22.txt',
        ),
        (
            "日本語.txt",
            "attachment; filename=\"___.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt",
        ),
        ("a\r\nb.txt", "attachment; filename=\"a__b.txt\"; filename*=UTF-8''a%0D%0Ab.txt"),
    ],
)
def test_download_names_are_encoded_per_rfc_6266(
    client: httpx.Client, name: str, expected: str
) -> None:
    assert content_disposition(name) == expected
    response = client.get("/download", params={"name": name})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == expected
    assert response.content == b"hello from the root\n"


def test_safe_join_table(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    real = os.path.realpath(root)
    assert safe_join(root, "hello.txt") == os.path.join(real, "hello.txt")
    assert safe_join(root, "/sub/inner.txt") == os.path.join(real, "sub", "inner.txt")
    assert safe_join(root, "") == real
    # Followed on purpose: the link's target is then served wherever it is.
    assert safe_join(root, "link-out", follow_symlinks=True) == os.path.join(real, "link-out")
    for bad in ["..", "../x", "a/../../x", "x\x00", "a\\b", "link-out", "dirlink-out/secret.txt"]:
        with pytest.raises(HTTPException) as raised:
            safe_join(root, bad)
        assert raised.value.status == 404, bad


def test_mount_and_static_files_registration_errors(tmp_path: Path) -> None:
    from pyre.framework import App, RegistrationError, StaticFiles

    app = App()
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "absent")
    static = StaticFiles(directory=tmp_path)
    with pytest.raises(RegistrationError, match="must not be '/'"):
        app.mount("/", static)
    app.mount("/static/", static)
    with pytest.raises(RegistrationError, match="already mounted"):
        app.mount("/static", static)


@pytest.mark.parametrize(
    ("rest", "value"),
    [("..%2f..%2fetc%2fhostname", "../../etc/hostname"), ("%2fetc%2fhostname", "/etc/hostname")],
)
def test_the_path_converter_hands_traversals_through(
    server: ServerProcess, rest: str, value: str
) -> None:
    """Why ``safe_join`` exists: ``{rest:path}`` is the decoded rest of the path, so
    ``os.path.join(root, rest)`` would leave the root (docs/framework.md, section 4)."""
    status, body = raw_get(server.port, "/echo-path/" + rest)
    assert status == 200
    assert json.loads(body) == {"rest": value}
    assert not os.path.normpath(os.path.join("/srv/root", value)).startswith("/srv/root/")
