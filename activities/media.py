"""Which media an event's outbox rows go by: chosen once per row, before anything is sent.

Each person's row gets their media by their `notify` preference (domain.notify_prefs): its Slack state
stays "pending" when Slack is due, becomes "email" when only e-mail is, or "outbox" (parked) when
neither can reach them; its e-mail state becomes "pending" or "none". The channel's row is Slack's
alone. A retried attempt finds the rows decided and changes nothing. A relay decides them in the
transaction that claims the event (`decide_media`), so that SQLite's one writer sees one write fewer
per event.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from domain.notify_prefs import Medium, media_for
from store import notifications
from store.db import session


def choose_media(engine: Engine, dispute_id: str, seq: int, *, slack_on: bool, email_on: bool) -> None:
    with session(engine) as s:
        rows = notifications.undecided(s, dispute_id, seq)
    if rows:
        with session(engine, write=True) as s:
            decide_media(s, dispute_id, seq, slack_on=slack_on, email_on=email_on)


def decide_media(s: Session, dispute_id: str, seq: int, *, slack_on: bool, email_on: bool) -> None:
    """`choose_media` in a write transaction of the caller's (a relay's claim of the event)."""
    rows = notifications.undecided(s, dispute_id, seq)
    people = notifications.reach(s, {r.recipient for r in rows if r.recipient != "channel"})
    choices = []
    for row in rows:
        media: frozenset[Medium]
        if row.recipient == "channel":
            media = frozenset({"slack"}) if slack_on else frozenset()
        else:
            person = people.get(row.recipient)
            media = media_for(person.notify if person else None,
                              has_slack_id=bool(person and person.slack_user_id),
                              slack_on=slack_on, email_on=email_on)
        status = "pending" if "slack" in media else ("email" if media else "outbox")
        choices.append((row.id, status, "pending" if "email" in media else "none"))
    notifications.decide(s, choices)
