"""The web pages: server-rendered Jinja2 on the same FastAPI app as the JSON API.

`install(app, settings)` adds the signed session cookie, the static files and the page routes.
Pages read the projection and the audit trail (`store.queries`, `store.stats`, read-only) and change state only
through `service/` (`Service.file`, `Service.act`), exactly like the JSON API: the workflow stays the one writer.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from api.web.pages_audit import router as audit_pages
from api.web.pages_auth import router as auth_pages
from api.web.pages_disputes import router as dispute_pages
from api.web.pages_overlaps import router as overlap_pages
from api.web.pages_partners import router as partner_pages
from api.web.pages_registrations import router as registration_pages
from api.web.pages_settings import router as settings_pages
from api.web.render import STATIC_DIR
from api.web.session import SESSION_COOKIE, SESSION_MAX_AGE_S, SignInRequired, to_sign_in
from settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        SessionMiddleware, secret_key=settings.secret_key, session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S, same_site="lax", https_only=settings.base_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(SignInRequired, to_sign_in)
    for router in (auth_pages, dispute_pages, audit_pages, settings_pages, registration_pages, overlap_pages,
                   partner_pages):
        app.include_router(router)
