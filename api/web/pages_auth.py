"""Signing in with a token, and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import SessionDep, SettingsDep
from api.web.forms import FormState
from api.web.render import PageRoute, render
from api.web.session import MaybeUser, flash, safe_next, sign_in, sign_out

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/sign-in")
def sign_in_page(request: Request, user: MaybeUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "sign_in.html", form=FormState("signin"), next=safe_next(next))


@router.post("/sign-in")
def sign_in_submit(request: Request, session: SessionDep, settings: SettingsDep,
                   token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    token = token.strip()
    next_path = safe_next(next)
    if not token:
        return render(request, "sign_in.html", status_code=422, next=next_path,
                      form=FormState("signin", errors={"token": "Enter your Parley token."}))
    user = sign_in(request, session, settings, token)
    if user is None:
        return render(request, "sign_in.html", status_code=401, next=next_path,
                      form=FormState("signin", errors={"token": "That token is unknown or has been revoked."}))
    flash(request, f"Signed in as {user.name} ({user.email}).")
    return RedirectResponse(next_path, status_code=303)


@router.post("/sign-out")
def sign_out_submit(request: Request) -> Response:
    sign_out(request)
    flash(request, "Signed out.")
    return RedirectResponse("/sign-in", status_code=303)
