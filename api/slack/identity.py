"""Who is this Slack user in Parley?

By `users.slack_user_id` first; otherwise Slack's `users.info` gives the profile e-mail, the Parley
user with that e-mail is linked to the Slack id (remembered for next time) and returned. A Parley
user already linked to a *different* Slack account is not taken over: that person is told so.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from store.db import session
from store.tables import User
from store.users import user_by_email


@dataclass(frozen=True)
class Unknown:
    """Why a Slack user is not (yet) a Parley user: shown to them as is."""

    reason: str


def by_slack_id(engine: Engine, slack_user_id: str) -> User | None:
    with Session(engine, expire_on_commit=False) as s:
        return s.exec(select(User).where(User.slack_user_id == slack_user_id)).first()


def link_by_email(engine: Engine, slack_user_id: str, email: str) -> User | Unknown:
    """The Parley user with `email`, linked to `slack_user_id` unless linked elsewhere already."""
    try:
        # read-then-write: on SQLite the write lock is taken at BEGIN, so a concurrent reader cannot make
        # the upgrade fail with "database is locked"
        with session(engine, write=True) as s:
            user = user_by_email(s, email)
            if user is None:
                return Unknown(f"Parley has no user with your Slack e-mail ({email}). "
                               "Ask a Parley admin to add you; nothing was recorded.")
            if user.slack_user_id and user.slack_user_id != slack_user_id:
                return Unknown(f"The Parley user {email} is linked to another Slack account. "
                               "Ask a Parley admin to check it; nothing was recorded.")
            if user.slack_user_id is None:
                user.slack_user_id = slack_user_id
                s.add(user)
            return user
    except IntegrityError:  # a concurrent first contact linked it already
        again = by_slack_id(engine, slack_user_id)
        return again if again is not None else Unknown("Your Slack account could not be linked; try again.")


def email_from_info(info: object) -> str | None:
    """The e-mail of a `users.info` answer, when it is a real, active person."""
    if not isinstance(info, dict):
        return None
    member = info.get("user")
    if not isinstance(member, dict) or member.get("deleted") or member.get("is_bot"):
        return None
    profile = member.get("profile")
    email = profile.get("email") if isinstance(profile, dict) else None
    return str(email).strip().lower() if email else None


def lookup_failure(exc: SlackApiError) -> Unknown:
    error = exc.response.get("error") if exc.response is not None else None
    if error in ("user_not_found", "users_not_found"):
        return Unknown("Slack does not know your account; nothing was recorded.")
    if error == "missing_scope":
        return Unknown("Parley cannot read Slack e-mail addresses (the app lacks the users:read.email scope). "
                       "Ask a Parley admin to link your Slack account; nothing was recorded.")
    return Unknown(f"Parley could not look up your Slack account right now ({error or 'Slack error'}); "
                   "nothing was recorded. Try again in a moment.")
