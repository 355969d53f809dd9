"""Digests in the outbox (`notifications`): one event per digest (`digest:<date>`, seq 0), one row per person.

The row's unique key (event, seq, recipient) makes each digest once per person; its Slack state
(`status`) and e-mail state (`email_status`) are chosen, claimed and marked as for a dispute's notices
(activities.media, store.notifications), so each (digest, person, medium) goes out once. A direct message
is marked as being posted (`slack_posting_at`, `notifications.posting`) just before it goes, as a notice is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlmodel import Session

from store.db import insert_or_ignore
from store.notifications import DIGEST_KIND
from store.tables import NOTIFICATIONS, utcnow

N = NOTIFICATIONS.c
SEQ = 0  # a digest is one event with no sequence of its own
KIND = DIGEST_KIND


def queue(session: Session, key: str, texts: dict[str, str]) -> int:
    """A row per recipient (`texts`: e-mail -> the digest as text) unless it exists; how many are new."""
    now = utcnow()
    return sum(insert_or_ignore(session, NOTIFICATIONS, {
        "dispute_id": key, "seq": SEQ, "recipient": recipient, "kind": KIND, "text": text, "created_at": now,
        "status": "pending", "attempts": 0, "slack_channel": None,
    }, ["dispute_id", "seq", "recipient"]) for recipient, text in texts.items())


def queued(session: Session, key: str) -> list[str]:
    """The recipients of a digest, in the order they were queued."""
    return list(session.execute(select(N.recipient).where(N.dispute_id == key, N.seq == SEQ).order_by(N.id)).scalars())


_STATE = (N.id, N.recipient, N.text, N.status, N.email_status, N.error, N.email_error, N.slack_posting_at)


def state(session: Session, key: str, recipient: str) -> Row[Any] | None:
    """A person's row: `id, recipient, text, status, email_status, error, email_error, slack_posting_at` (set:
    an earlier attempt began posting the direct message, see `notifications.posting`)."""
    return session.execute(select(*_STATE).where(N.dispute_id == key, N.seq == SEQ, N.recipient == recipient)).first()


def rows(session: Session, key: str) -> Sequence[Row[Any]]:
    """Every row of a digest, as `state` gives them, in order."""
    return session.execute(select(*_STATE).where(N.dispute_id == key, N.seq == SEQ).order_by(N.id)).all()
