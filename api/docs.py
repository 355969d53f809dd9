"""`/docs`: Swagger UI served from Parley itself, so that it works without internet access.

FastAPI's own `/docs` loads Swagger UI's JavaScript and CSS from a CDN; offline (and on many company
networks) that page stays blank. The assets come instead from the `fastapi-offline` package (a
recent Swagger UI 5, which renders OpenAPI 3.1) and are served under `/static-docs/`. The page gets
a Content-Security-Policy as strict as the web pages': its one inline script (Swagger UI's start-up
call, written by FastAPI) is allowed by its hash, everything else must come from Parley.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/static-docs"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def csp_for(html: str) -> str:
    """The page's Content-Security-Policy: only Parley's own assets, plus the page's inline scripts by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def install(app: FastAPI) -> None:
    """Serve Swagger UI at /docs and its assets at /static-docs (create the app with docs_url=None)."""
    missing = [name for name in ASSETS if not (ASSETS_DIR / name).is_file()]
    if missing:  # a broken install: fail at start-up rather than serve a blank page
        raise RuntimeError(f"Swagger UI assets missing from {ASSETS_DIR}: {', '.join(missing)}")
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="static-docs")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — API docs",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # no badge from the public validator service: nothing on this page leaves Parley
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
        html = bytes(page.body).decode()
        return HTMLResponse(html, headers={
            "Content-Security-Policy": csp_for(html),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        })
