"""The settings page (`/settings`): how the signed-in user hears from Parley (their `notify` preference),
and for the admin everyone's, with a form to set anyone's. Changes go through `service.users`, as the JSON
API's `PUT /api/users/{email}/notify` does; the rule of who may is there, not here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import SessionDep
from api.web.render import PageRoute, render
from api.web.session import PageUser, flash
from domain.model import Role
from service.users import notify_setting, set_notify
from settings import Settings
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
                  email_on=settings.smtp_url is not None, stored=user.id != 0)


@router.post(PAGE)
async def settings_save(request: Request, user: PageUser, session: SessionDep) -> Response:
    form = await request.form()
    email = str(form.get("email") or user.email)
    setting = set_notify(session, user, email, str(form.get("notify") or "") or None, _settings(request))
    whom = "you" if setting.email == user.email else setting.email
    flash(request, f"Saved: Parley now reaches {whom} {EFFECTIVE[setting.effective]}.")
    return RedirectResponse(PAGE, status_code=303)
