"""What a workflows worker leaves to the relay of a deliveries worker (activities.relay), and how a relay
takes it: the outbox rows of an event, by event, for a lease; webhook deliveries, once each. The recording
writes them left to the relay (`relay_until` set as they are inserted: `record_event`, store.registration_trail).

A row is the relay's while `relay_until` is set: free from that time on, held by a relay until then.
Delivered, or handed to a `deliver_notices` activity, it is NULL again, so that the relay's query only
ever reads what is in flight (its index on `relay_until`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, update
from sqlmodel import Session

from domain.model import Event
from store.db import rowcount
from store.tables import AUDIT_EVENTS, NOTIFICATIONS
from store.webhook_tables import WEBHOOK_DELIVERIES

N, D, A = NOTIFICATIONS.c, WEBHOOK_DELIVERIES.c, AUDIT_EVENTS.c
_UNDELIVERED = or_(N.status == "pending", N.email_status == "pending")


# built once (a relay runs them on every turn), their values bound at execution
_EVENTS_DUE = (select(N.dispute_id, N.seq).where(N.relay_until <= bindparam("now"), _UNDELIVERED)
               .group_by(N.dispute_id, N.seq).order_by(func.min(N.id)).limit(bindparam("limit")))
_CLAIM_EVENT = update(NOTIFICATIONS).where(
    N.dispute_id == bindparam("of_dispute"), N.seq == bindparam("of_seq"), N.relay_until <= bindparam("now"),
    _UNDELIVERED).values(relay_until=bindparam("until"))
_RELEASE_EVENT = update(NOTIFICATIONS).where(
    N.dispute_id == bindparam("of_dispute"), N.seq == bindparam("of_seq"), N.relay_until.is_not(None),
).values(relay_until=None)
_WEBHOOKS_DUE = (select(D.id, D.webhook_id, D.attempts, D.last_error, D.delivered_at, D.failed_at)
                 .where(D.relay_until <= bindparam("now")).order_by(D.relay_until, D.id).limit(bindparam("limit")))
_CLAIM_WEBHOOK = update(WEBHOOK_DELIVERIES).where(D.id == bindparam("of_id"), D.relay_until.is_not(None)).values(
    relay_until=None)
_RECORDED_EVENTS = select(A.dispute_id, A.seq, A.at, A.actor, A.action, A.tier, A.payload, A.charter_version).where(
    A.dispute_id.in_(bindparam("ids", expanding=True)), A.seq.in_(bindparam("seqs", expanding=True)))


def events_due(session: Session, now: datetime, limit: int) -> list[tuple[str, int]]:
    """The events with notices that no relay holds, oldest first."""
    rows = session.execute(_EVENTS_DUE, {"now": now, "limit": limit})
    return [(row.dispute_id, row.seq) for row in rows]


def claim_event(session: Session, dispute_id: str, seq: int, now: datetime, until: datetime) -> bool:
    """Hold the event's notices until `until`; False when another relay holds them or none is left."""
    where = {"of_dispute": dispute_id, "of_seq": seq, "now": now, "until": until}
    return rowcount(session.execute(_CLAIM_EVENT, where)) > 0


def release_event(session: Session, dispute_id: str, seq: int) -> None:
    """Delivered, or handed to a `deliver_notices` activity: no longer the relay's."""
    session.execute(_RELEASE_EVENT, {"of_dispute": dispute_id, "of_seq": seq})


def webhooks_due(session: Session, now: datetime, limit: int) -> list[tuple[str, str, bool]]:
    """The webhook deliveries left to the relay, oldest first: (delivery id, subscription id, still untried)."""
    rows = session.execute(_WEBHOOKS_DUE, {"now": now, "limit": limit}).all()
    return [(row.id, row.webhook_id, row.attempts == 0 and row.last_error is None and row.delivered_at is None
             and row.failed_at is None) for row in rows]


def claim_webhook(session: Session, delivery_id: str) -> bool:
    """Take a delivery left to the relay, once: False when another relay took it."""
    return rowcount(session.execute(_CLAIM_WEBHOOK, {"of_id": delivery_id})) > 0


def recorded_events(session: Session, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Event]:
    """The events (dispute id, seq) as the audit trail holds them, in one query; those it lacks are left out."""
    if not keys:
        return {}
    wanted = set(keys)  # of the disputes' events with these numbers (a few more at most), the ones asked for
    rows = session.execute(_RECORDED_EVENTS, {"ids": sorted({d for d, _ in wanted}),
                                              "seqs": sorted({seq for _, seq in wanted})})
    return {(row.dispute_id, row.seq): Event(dispute_id=row.dispute_id, seq=row.seq, at=row.at, actor=row.actor,
                                             action=row.action, tier=row.tier, payload=json.loads(row.payload),
                                             charter_version=row.charter_version) for row in rows
            if (row.dispute_id, row.seq) in wanted}
