"""The settings page (`/settings`): how the signed-in user hears from Parley (their `notify` preference),
and for the admin everyone's, with a form to set anyone's. Changes go through `service.users`, as the JSON
API's `PUT /api/users/{email}/notify` does; the rule of who may is there, not here. A mediator or executive
also sets their own absence and delegate here (`service.away`, as `PUT /api/users/{email}/away`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from api.deps import SessionDep
from api.web.render import PageRoute, render
from api.web.session import PageUser, flash, flash_refusal
from domain.away import adjudicating_role
from domain.errors import InvalidInput, ParleyError
from domain.model import Role
from service import away
from service.disputes import Service
from service.users import notify_setting, set_notify
from settings import Settings
from store import queries
from store.tables import User
from store.users import all_users

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = "/settings"
CHOICES = [("", "The default"), ("slack", "Slack"), ("email", "E-mail"), ("both", "Slack and e-mail")]
EFFECTIVE = {"slack": "in Slack", "email": "by e-mail", "both": "in Slack and by e-mail",
             "outbox": "in the Outbox only (neither Slack nor e-mail is set up for you)"}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get(PAGE)
def settings_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    settings = _settings(request)
    everyone = [(u, notify_setting(u, settings)) for u in all_users(session)] if user.role == Role.admin else []
    return render(request, "settings.html", title="Settings", mine=notify_setting(user, settings), choices=CHOICES,
                  effective_words=EFFECTIVE, everyone=everyone, slack_on=bool(settings.slack_bot_token),
                  email_on=settings.smtp_url is not None, stored=user.id != 0,
                  away=_away_section(request, user, session))


def _away_section(request: Request, user: User, session: Session) -> dict[str, Any] | None:
    """Away and delegation (DESIGN §8): a mediator's or executive's own absence, and whom they stand in for."""
    if user.id == 0 or adjudicating_role(user.role) is None:
        return None
    service: Service = request.app.state.service
    status = away.status_of(session, user.email, service.clock())
    delegates = [(u.email, f"{u.name} ({u.email})") for u in queries.people_with_role(session, Role(user.role))
                 if u.email != user.email]
    return {"status": status, "delegates": delegates, "time_zone": service.charter().calendar.timezone,
            "role": user.role}


@router.post(f"{PAGE}/away")
async def settings_away(request: Request, user: PageUser) -> Response:
    """Sets or clears the signed-in user's absence through `service.away`, as `PUT /api/users/{email}/away` does."""
    form = await request.form()
    service: Service = request.app.state.service
    try:
        if form.get("clear"):
            await away.delete(service, user, user.email)
            flash(request, "Your absence is cleared: new work comes to you again.")
        else:
            starts_on, ends_on = _day(form.get("from"), "from"), _day(form.get("until"), "until")
            status = await away.put(service, user, user.email, starts_on, ends_on,
                                    str(form.get("delegate") or "") or None)
            assert status.absence is not None
            flash(request, f"Saved: you are {status.absence.sentence()}.")
    except ParleyError as exc:
        flash_refusal(request, exc, "absence")
    return RedirectResponse(PAGE, status_code=303)


def _day(value: object, field: str) -> date:
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        raise InvalidInput(f"{field}: {value or 'nothing'!r} is not a date like 2026-12-21", field=field) from None


@router.post(PAGE)
async def settings_save(request: Request, user: PageUser, session: SessionDep) -> Response:
    form = await request.form()
    email = str(form.get("email") or user.email)
    setting = set_notify(session, user, email, str(form.get("notify") or "") or None, _settings(request))
    whom = "you" if setting.email == user.email else setting.email
    flash(request, f"Saved: Parley now reaches {whom} {EFFECTIVE[setting.effective]}.")
    return RedirectResponse(PAGE, status_code=303)
