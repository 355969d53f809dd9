"""How a person hears from Parley (DESIGN §7): their `notify` preference, its default, and who may set it.

A preference is `slack`, `email` or `both`; unset means the default: Slack for people with a Slack id
when a bot token is set, otherwise e-mail when SMTP is set, otherwise the outbox. With a bot token and
no SMTP, a person without a stored Slack id is still tried in Slack (looked up by e-mail there) and
parked in the outbox when Slack does not know them. A medium Parley is not set up for is dropped; a
person left with no medium gets the outbox.
"""

from __future__ import annotations

from typing import Literal, get_args

from domain.model import Role

NotifyPreference = Literal["slack", "email", "both"]
PREFERENCES: tuple[str, ...] = get_args(NotifyPreference)
Medium = Literal["slack", "email"]


def media_for(preference: str | None, *, has_slack_id: bool, slack_on: bool, email_on: bool) -> frozenset[Medium]:
    """The media that reach this person; empty means the outbox."""
    wanted: set[Medium]
    if preference == "slack":
        wanted = {"slack"}
    elif preference == "email":
        wanted = {"email"}
    elif preference == "both":
        wanted = {"slack", "email"}
    elif slack_on and (has_slack_id or not email_on):
        wanted = {"slack"}
    else:
        wanted = {"email"}
    if not slack_on:
        wanted.discard("slack")
    if not email_on:
        wanted.discard("email")
    return frozenset(wanted)


def effective(preference: str | None, *, has_slack_id: bool, slack_on: bool, email_on: bool) -> str:
    """`slack`, `email`, `both` or `outbox`: what the preference means on this installation."""
    media = media_for(preference, has_slack_id=has_slack_id, slack_on=slack_on, email_on=email_on)
    return "both" if len(media) == 2 else next(iter(media), "outbox")


def may_set(actor_role: str, actor_email: str, target_email: str) -> bool:
    """The admin sets anyone's preference; everyone else only their own."""
    return actor_role == Role.admin.value or actor_email.strip().lower() == target_email.strip().lower()
