"""``StaticFiles``: a directory served under a prefix, ``app.mount("/static",
StaticFiles(directory="static"))``.

How it works: the rest of the path after the mount's prefix is joined to the
directory by :func:`pyre.framework.files.safe_join` (no ``..``, backslash or NUL;
a symlink only when it stays inside the directory, unless ``follow_symlinks``), and
the file is answered by ``FileResponse``: sendfile, ETag and Last-Modified,
conditional requests (304), byte ranges (206, 416). Only GET and HEAD are served
(else 405). With ``html=True`` a directory is answered with its ``index.html``
(``/docs`` first redirects to ``/docs/`` so that relative links work) and a missing
file with the directory's ``404.html``, if there is one; otherwise a directory is a
404. Errors are ``HTTPException``s, so the app's exception handlers shape them.
"""

from __future__ import annotations

import os
import stat as stat_module
from typing import TYPE_CHECKING

from pyre.framework.exceptions import HTTPException
from pyre.framework.files import safe_join
from pyre.framework.responses import FileResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from pyre.framework.request import Request


class StaticFiles:
    """Serves the files under ``directory``.

    ``html``: directories answer with ``index.html``, missing files with
    ``404.html`` (status 404). ``cache_control``: a ``Cache-Control`` value for every
    file response (e.g. ``"public, max-age=3600"``). ``follow_symlinks``: serve
    symlinks whose target is outside ``directory`` too (by default such a link is a
    404; links inside it are always followed). ``check_dir``: raise at construction
    if ``directory`` is not a directory."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        cache_control: str | None = None,
        follow_symlinks: bool = False,
        check_dir: bool = True,
    ) -> None:
        self.directory = os.path.realpath(directory)
        self.html = html
        self.cache_control = cache_control
        self.follow_symlinks = follow_symlinks
        if check_dir and not os.path.isdir(self.directory):
            raise RuntimeError(f"StaticFiles: directory {os.fspath(directory)!r} does not exist")

    async def handle(self, request: Request, path: str) -> Response:
        """The response to ``request`` for ``path``, the part of the URL path after
        the mount's prefix."""
        if request.method not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        try:
            full = safe_join(self.directory, path, follow_symlinks=self.follow_symlinks)
            return self._file_or_index(request, full)
        except HTTPException as exc:
            if exc.status == 404 and self.html:
                page = os.path.join(self.directory, "404.html")
                if os.path.isfile(page):
                    return self._file(safe_join(self.directory, "404.html"), status=404)
            raise

    def _file_or_index(self, request: Request, full: str) -> Response:
        try:
            mode = os.stat(full).st_mode
        except (OSError, ValueError) as exc:
            raise HTTPException(404) from exc
        if stat_module.S_ISDIR(mode):
            if not self.html:
                raise HTTPException(404)
            if not request.path.endswith("/"):
                query = request.query_string.decode("latin-1")
                return RedirectResponse(request.path + "/" + (f"?{query}" if query else ""))
            return self._file(safe_join(full, "index.html"))
        return self._file(full)

    def _file(self, path: str, status: int = 200) -> FileResponse:
        headers = {"cache-control": self.cache_control} if self.cache_control else None
        response = FileResponse(path, status=status, headers=headers)
        response.prepare()
        return response
