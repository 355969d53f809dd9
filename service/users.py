"""People's own settings, for every surface: the `notify` preference (DESIGN §7), who may change it, and
what it means on this installation (Slack and SMTP set up or not)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from domain.errors import Forbidden, InvalidInput, NotFound
from domain.notify_prefs import PREFERENCES, effective, may_set
from settings import Settings
from store.tables import User
from store.users import set_notify as store_notify
from store.users import user_by_email


@dataclass(frozen=True)
class NotifySetting:
    email: str
    notify: str | None  # None: the default
    effective: str  # "slack" | "email" | "both" | "outbox": how Parley reaches them now


def notify_setting(user: User, settings: Settings) -> NotifySetting:
    return NotifySetting(email=user.email, notify=user.notify, effective=effective(
        user.notify, has_slack_id=bool(user.slack_user_id), slack_on=bool(settings.slack_bot_token),
        email_on=settings.smtp_url is not None))


def set_notify(session: Session, actor: User, email: str, notify: str | None, settings: Settings) -> NotifySetting:
    """Set `email`'s preference (None: back to the default) and commit. The admin may set anyone's,
    everyone else only their own (403, whether or not that person exists)."""
    if not may_set(actor.role, actor.email, email):
        raise Forbidden(f"only an admin sets another person's notification preference; {actor.email} is a "
                        f"{actor.role}")
    if notify is not None and notify not in PREFERENCES:
        raise InvalidInput(f"notify: must be one of {', '.join(PREFERENCES)}, not {notify!r}", field="notify")
    target = user_by_email(session, email)
    if target is None:
        raise NotFound(f"no user {email}")
    store_notify(session, target, notify)
    session.commit()
    session.refresh(target)
    return notify_setting(target, settings)
