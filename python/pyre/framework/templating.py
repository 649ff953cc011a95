"""Jinja2 templates, an optional extra (``pip install 'pyre-http[templates]'``):
jinja2 is imported when a ``Templates`` is made, never by ``import pyre.framework``.

    templates = Templates(directory="templates")

    @framework.endpoint("/hello/{name}")
    async def hello(self, request: Request, name: str):
        return templates.response("hello.html", {"request": request, "name": name})

HTML-ish templates (``.html``, ``.htm``, ``.xml``, ``.jinja``) are autoescaped. When the
context has a ``request``, ``url_for`` (the app's) is available in the template.
Rendering is synchronous (templates are loaded and compiled once, then cached by
Jinja2), as in Starlette.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pyre.framework.responses import HTMLResponse


class Templates:
    """A Jinja2 environment loading from ``directory`` (or a list of them);
    ``env_options`` go to ``jinja2.Environment``."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | list[str | os.PathLike[str]],
        **env_options: Any,
    ) -> None:
        try:
            import jinja2
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "pyre.framework.templating needs Jinja2: pip install 'pyre-http[templates]'"
            ) from exc
        directories = directory if isinstance(directory, list) else [directory]
        env_options.setdefault(
            "autoescape", jinja2.select_autoescape(["html", "htm", "xml", "jinja"])
        )
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([os.fspath(d) for d in directories]), **env_options
        )

    def render(self, name: str, context: Mapping[str, Any] | None = None) -> str:
        """The template ``name`` rendered with ``context``."""
        values = dict(context or {})
        request = values.get("request")
        if request is not None:
            values.setdefault("url_for", request.app.url_for)
        return self.env.get_template(name).render(values)

    def response(
        self,
        name: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Any = None,
    ) -> HTMLResponse:
        """An HTML response (or ``media_type``) with the rendered template."""
        return HTMLResponse(
            self.render(name, context),
            status=status,
            headers=headers,
            media_type=media_type,
            background=background,
        )
