"""Who is signed in to the web pages, and the protections around it.

A user signs in with one of their API tokens; the signed session cookie (Starlette's
`SessionMiddleware`, keyed by PARLEY_SECRET_KEY) then holds the user id and the id of that token, so
revoking the token ends the session too. Behind a single-sign-on proxy, `PARLEY_SSO_HEADER` names a
request header carrying the user's e-mail, which is trusted instead (off unless set).

Every form carries the session's CSRF token; every POST is checked against it (`check_csrf`, run
for every page route by `api.web.render.PageRoute`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from api.deps import SessionDep
from domain.errors import Forbidden, ParleyError
from domain.model import Role
from service.disputes import ADMIN_EMAIL
from settings import Settings
from store.tables import ApiToken, User
from store.users import hash_token, user_by_email

SESSION_COOKIE = "parley_session"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf"


class SignInRequired(Exception):
    """Raised by `page_user` when nobody is signed in; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Forbidden):
    def __init__(self) -> None:
        super().__init__("This form has expired or did not come from Parley. Reload the page and try again.")


async def to_sign_in(request: Request, exc: Exception) -> Response:
    next_path = exc.next_path if isinstance(exc, SignInRequired) else "/"
    return RedirectResponse(f"/sign-in?next={quote(next_path, safe='/')}", status_code=303)


def safe_next(value: str | None) -> str:
    """Only a path on this site (never "//host" or "https://…"), so sign-in cannot bounce elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# --- CSRF and flash messages -----------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def check_csrf(request: Request) -> None:
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(sent, str) or not isinstance(expected, str) or not expected \
            or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected()


def flash(request: Request, text: str, kind: str = "ok") -> None:
    messages: list[dict[str, str]] = list(request.session.get("flash", []))
    messages.append({"kind": kind, "text": text})
    request.session["flash"] = messages[-5:]


def flash_refusal(request: Request, exc: ParleyError, noun: str) -> None:
    """The flash for an action the service refused: a 409 comes from a tab opened before the state moved,
    so it says the page now shows the current state."""
    if exc.status == 409:
        flash(request, f"Not done. This {noun} has moved on: {exc.message} — the page now shows its "
                       "current state.", "error")
    else:
        flash(request, f"Not done: {exc.message}", "error")


def pop_flashes(request: Request) -> list[dict[str, str]]:
    if "flash" not in request.session:
        return []
    messages: list[dict[str, str]] = request.session.pop("flash")
    return messages


# --- signing in --------------------------------------------------------------------------------

def _admin_mark(admin_token: str) -> str:
    return hashlib.sha256(b"parley-web-admin:" + admin_token.encode()).hexdigest()[:32]


def bootstrap_admin() -> User:
    return User(id=0, email=ADMIN_EMAIL, name="Bootstrap admin", role=Role.admin.value)


def sign_in(request: Request, session: Session, settings: Settings, secret: str) -> User | None:
    """Start a session for the owner of `secret` (an API token); None when it is unknown or revoked."""
    secret = secret.strip()
    user: User | None
    data: dict[str, Any]
    if settings.admin_token and hmac.compare_digest(secret.encode(), settings.admin_token.encode()):
        user, data = bootstrap_admin(), {"uid": 0, "adm": _admin_mark(settings.admin_token)}
    else:
        row = session.exec(
            select(User, ApiToken).join(ApiToken)
            .where(ApiToken.token_hash == hash_token(secret), col(ApiToken.revoked_at).is_(None))
        ).first()
        if row is None:
            return None
        user, token = row
        data = {"uid": user.id, "tid": token.id}
    request.session.clear()  # a fresh session: no fixation, a fresh CSRF token
    request.session.update(data)
    csrf_token(request)
    return user


def sign_out(request: Request) -> None:
    request.session.clear()


def signed_in_user(request: Request, session: Session) -> User | None:
    settings: Settings = request.app.state.settings
    if settings.sso_header:
        email = request.headers.get(settings.sso_header, "").strip()
        if email:
            user = user_by_email(session, email)
            if user is None:
                raise Forbidden(f"The single-sign-on identity {email} is not a Parley user; ask an admin to add you.")
            return user
    data = request.session
    uid = data.get("uid")
    if uid == 0 and settings.admin_token:
        mark = data.get("adm")
        if isinstance(mark, str) and hmac.compare_digest(mark, _admin_mark(settings.admin_token)):
            return bootstrap_admin()
        return None
    tid = data.get("tid")
    if not isinstance(uid, int) or not isinstance(tid, str):
        return None
    user = session.exec(
        select(User).join(ApiToken)
        .where(User.id == uid, ApiToken.id == tid, col(ApiToken.revoked_at).is_(None))
    ).first()
    if user is None:  # the token was revoked: the session ends with it
        data.pop("uid", None)
        data.pop("tid", None)
    return user


def via_sso(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return bool(settings.sso_header and request.headers.get(settings.sso_header, "").strip())


def page_user(request: Request, session: SessionDep) -> User:
    user = signed_in_user(request, session)
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path if request.method == "GET" else "/")
    request.state.user = user
    return user


def optional_user(request: Request, session: SessionDep) -> User | None:
    user = signed_in_user(request, session)
    request.state.user = user
    return user


PageUser = Annotated[User, Depends(page_user)]
MaybeUser = Annotated[User | None, Depends(optional_user)]

