"""Webhook subscriptions and deliveries in the store (DESIGN §7).

`enqueue` is what any writer of events calls inside its own transaction (the dispute's `record_event`, a
registration's `store.registration_trail.record`): one delivery row per subscription that wants the event's
type, unique per (subscription, event id), so a retried writer adds nothing twice. It returns the
deliveries still to be made, for the writer to hand over once the transaction has committed: their first
try is made straight away (those `untried` yet), their retries by Temporal. Every attempt reads its target
here and logs itself: marked under way when it begins, counted with its outcome when it ends; one cut short
(its worker killed mid-request) is counted when the next one begins. The sweep finds the deliveries that
fell between the two (`overdue`): a first try that never happened, a next try that never began.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, or_, select, true, update
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from domain.webhook_events import WebhookEvent, wants
from store.db import insert_all_or_ignore, rowcount
from store.tables import utcnow
from store.webhook_tables import WEBHOOK_DELIVERIES, WEBHOOKS, WebhookDeliveryRow, WebhookRow

_D = WEBHOOK_DELIVERIES.c
UNDER_WAY = "no answer yet: an attempt is under way (or its worker stopped during it)"


def create(session: Session, *, url: str, events: Sequence[str], description: str | None, created_by: str,
           now: datetime | None = None) -> WebhookRow:
    """A new active subscription with a fresh secret (the caller shows `secret` once)."""
    row = WebhookRow(id=f"WH-{secrets.token_hex(6)}", url=url, events=json.dumps(list(events)), description=description,
                     secret=f"whsec_{secrets.token_urlsafe(32)}", created_by=created_by,
                     created_at=now or utcnow(), active=True)
    session.add(row)
    session.flush()
    return row


def events_of(row: WebhookRow) -> list[str]:
    events: list[str] = json.loads(row.events)
    return events


def active(session: Session) -> list[WebhookRow]:
    return list(session.exec(select_rows(WebhookRow).where(col(WebhookRow.active))
                             .order_by(col(WebhookRow.created_at), col(WebhookRow.id))).all())


def webhook(session: Session, webhook_id: str) -> WebhookRow | None:
    """An active subscription; None when unknown or removed."""
    return session.exec(select_rows(WebhookRow).where(col(WebhookRow.id) == webhook_id, col(WebhookRow.active))).first()


def deactivate(session: Session, webhook_id: str) -> bool:
    """Remove a subscription: nothing new is queued for it and its pending deliveries stop at their next try."""
    result = session.execute(update(WEBHOOKS).where(WEBHOOKS.c.id == webhook_id, WEBHOOKS.c.active)
                             .values(active=False))
    return rowcount(result) > 0


# --- deliveries ----------------------------------------------------------------------------------

def delivery_id(webhook_id: str, event_id: str) -> str:
    """The same id for the same (subscription, event), whoever queues it and however often."""
    return "WHD-" + hashlib.sha256(f"{webhook_id}\n{event_id}".encode()).hexdigest()[:20]


def enqueue(session: Session, type: str, data: dict[str, Any], event_id: str, *,  # noqa: A002 (the event's type)
            created_at: datetime | None = None) -> list[str]:
    """Queue the event for every active subscription that wants `type`; the ids of its deliveries still due."""
    return enqueue_event(session, WebhookEvent(id=event_id, type=type, created_at=created_at or utcnow(), data=data))


# built once: every recorded event that receivers may subscribe to runs them
_SUBSCRIPTIONS = select(WEBHOOKS.c.id, WEBHOOKS.c.events).where(WEBHOOKS.c.active).order_by(
    WEBHOOKS.c.created_at, WEBHOOKS.c.id)
_STILL_DUE = select(_D.id).where(_D.id.in_(bindparam("ids", expanding=True)), _D.delivered_at.is_(None),
                                 _D.failed_at.is_(None))


def subscribers(session: Session, event_type: str) -> list[str]:
    """The active subscriptions that want events of this type."""
    return [row.id for row in session.execute(_SUBSCRIPTIONS) if wants(json.loads(row.events), event_type)]


def enqueue_event(session: Session, event: WebhookEvent, targets: Sequence[str] | None = None, *,
                  relay_from: datetime | None = None) -> list[str]:
    """`enqueue` for a built event; `targets` when the caller has asked `subscribers` already. With `relay_from`,
    the deliveries are written left to a deliveries worker's relay from then (store.relay), which starts them:
    none is returned."""
    targets = subscribers(session, event.type) if targets is None else targets
    if not targets:
        return []
    body, now = event.body(), utcnow()
    rows = [{"id": delivery_id(webhook_id, event.id), "webhook_id": webhook_id, "event_id": event.id,
             "type": event.type, "body": body, "created_at": now, "attempts": 0, "next_try_at": now,
             "relay_until": relay_from} for webhook_id in targets]
    insert_all_or_ignore(session, WEBHOOK_DELIVERIES, rows, ["webhook_id", "event_id"])
    if relay_from is not None:
        return []
    due = session.execute(_STILL_DUE, {"ids": [row["id"] for row in rows]})
    return sorted(due.scalars())


def untried(session: Session, delivery_ids: Sequence[str]) -> list[tuple[str, str]]:
    """Of these deliveries, the ones still due that no attempt has begun on, with their subscription's id."""
    rows = session.execute(select(_D.id, _D.webhook_id).where(
        _D.id.in_(delivery_ids), _D.attempts == 0, _D.last_error.is_(None), _D.delivered_at.is_(None),
        _D.failed_at.is_(None)).order_by(_D.id))
    return [(row.id, row.webhook_id) for row in rows]


@dataclass(frozen=True)
class Overdue:
    """A delivery still due whose first try never happened, or whose next try is late: no attempt is coming."""

    delivery_id: str
    attempts: int
    created_at: datetime
    active: bool  # whether its subscription still is


def overdue(session: Session, *, now: datetime, grace: timedelta, window: timedelta,
            limit: int = 500) -> list[Overdue]:
    """The deliveries queued within `window` and still due whose first try has not ended `grace` after they
    were queued (and that no deliveries worker's relay is yet to take), or whose next try is more than `grace`
    late; oldest first, at most `limit`. Read one subscription at a time (its index on (subscription, queued
    at)), so that a sweep reads only recent rows."""
    late = now - grace
    found: list[Overdue] = []
    for hook in session.execute(select(WEBHOOKS.c.id, WEBHOOKS.c.active).order_by(WEBHOOKS.c.id)).all():
        if len(found) >= limit:
            break
        rows = session.execute(
            select(_D.id, _D.attempts, _D.created_at)
            .where(_D.webhook_id == hook.id, _D.created_at >= now - window, _D.delivered_at.is_(None),
                   _D.failed_at.is_(None), _D.relay_until.is_(None),  # a relay's to take first (store.relay)
                   or_(and_(_D.attempts == 0, _D.created_at < late), _D.next_try_at < late))
            .order_by(_D.created_at, _D.id).limit(limit - len(found)))
        found += [Overdue(row.id, row.attempts, row.created_at, bool(hook.active)) for row in rows]
    return found


def deliveries(session: Session, webhook_id: str, *, limit: int = 100, offset: int = 0) -> list[WebhookDeliveryRow]:
    """A subscription's deliveries, newest first."""
    query = (select_rows(WebhookDeliveryRow).where(col(WebhookDeliveryRow.webhook_id) == webhook_id)
             .order_by(col(WebhookDeliveryRow.created_at).desc(), col(WebhookDeliveryRow.id))
             .offset(offset).limit(limit))
    return list(session.exec(query).all())


def delivery(session: Session, delivery_id: str) -> WebhookDeliveryRow | None:
    return session.get(WebhookDeliveryRow, delivery_id)


def status_of(row: WebhookDeliveryRow) -> str:
    """"delivered", "failed" (given up after 24 hours, or its subscription removed) or "pending"."""
    if row.delivered_at is not None:
        return "delivered"
    return "failed" if row.failed_at is not None else "pending"


@dataclass(frozen=True)
class Target:
    """What one attempt sends, and where."""

    delivery_id: str
    url: str
    secret: str
    body: str
    event_id: str
    active: bool


# an attempt's statements, built once (store.db)
_TARGET = (select(_D.id, _D.body, _D.event_id, WEBHOOKS.c.url, WEBHOOKS.c.secret, WEBHOOKS.c.active)
           .join(WEBHOOKS, WEBHOOKS.c.id == _D.webhook_id).where(_D.id == bindparam("of_id")))


def _of_subscription(column: Any) -> Any:
    """`column` of the delivery's subscription, as a subquery of a statement on the delivery."""
    return (select(column).where(WEBHOOKS.c.id == _D.webhook_id).correlate(WEBHOOK_DELIVERIES)
            .scalar_subquery())


# Marks an attempt at an active subscription under way and answers what it sends, in one statement.
_BEGIN_ATTEMPT = (
    update(WEBHOOK_DELIVERIES)
    .where(_D.id == bindparam("of_id"), _of_subscription(WEBHOOKS.c.active) == true())
    .values(attempts=_D.attempts + case((_D.last_error == UNDER_WAY, 1), else_=0),  # the one before, cut short
            last_status=None, last_error=UNDER_WAY, next_try_at=None)
    .returning(_D.id, _D.body, _D.event_id, _of_subscription(WEBHOOKS.c.url).label("url"),
               _of_subscription(WEBHOOKS.c.secret).label("secret"), true().label("active"))
)
_ATTEMPT_MADE = {"attempts": _D.attempts + 1, "last_status": bindparam("b_status"),
                 "last_error": bindparam("b_error"), "next_try_at": bindparam("b_next_try")}
_RECORD_ATTEMPT = update(WEBHOOK_DELIVERIES).where(_D.id == bindparam("of_id")).values(_ATTEMPT_MADE)
_RECORD_DELIVERED = update(WEBHOOK_DELIVERIES).where(_D.id == bindparam("of_id")).values(
    {**_ATTEMPT_MADE, "delivered_at": bindparam("b_delivered"), "failed_at": None})


def target(session: Session, delivery_id: str) -> Target | None:
    return _target(session.execute(_TARGET, {"of_id": delivery_id}).first())


def _target(row: Any) -> Target | None:
    if row is None:
        return None
    return Target(delivery_id=row.id, url=row.url, secret=row.secret, body=row.body, event_id=row.event_id,
                  active=bool(row.active))


def begin_attempt(session: Session, delivery_id: str) -> Target | None:
    """What an attempt sends, and where. One at an active subscription is marked under way; should the one
    before it still be marked so, its worker died mid-request and it is counted now, without an outcome."""
    begun = _target(session.execute(_BEGIN_ATTEMPT, {"of_id": delivery_id}).first())
    return begun or target(session, delivery_id)  # none begun: no such delivery, or a removed subscription


def record_attempt(session: Session, delivery_id: str, *, status: int | None, error: str | None,
                   next_try_at: datetime | None, delivered_at: datetime | None = None) -> None:
    """One attempt made: counted, with the receiver's status, why it failed and when the next one is due."""
    values = {"of_id": delivery_id, "b_status": status, "b_error": error, "b_next_try": next_try_at}
    if delivered_at is None:
        session.execute(_RECORD_ATTEMPT, values)
    else:
        session.execute(_RECORD_DELIVERED, {**values, "b_delivered": delivered_at})


def mark_failed(session: Session, delivery_id: str, *, reason: str, at: datetime) -> None:
    """Given up: no more tries. `reason` joins the last attempt's error. Once given up, it stays as it is."""
    row = delivery(session, delivery_id)
    if row is None or row.delivered_at is not None or row.failed_at is not None:
        return
    error = f"{reason}; last attempt: {row.last_error}" if row.last_error else reason
    session.execute(update(WEBHOOK_DELIVERIES).where(_D.id == delivery_id)
                    .values(failed_at=at, next_try_at=None, last_error=error))


def reopen(session: Session, delivery_id: str, *, at: datetime) -> None:
    """Due again (a redelivery): the log keeps the attempts so far."""
    put_back(session, delivery_id, {"delivered_at": None, "failed_at": None, "next_try_at": at})


def state_of(row: WebhookDeliveryRow) -> dict[str, datetime | None]:
    return {"delivered_at": row.delivered_at, "failed_at": row.failed_at, "next_try_at": row.next_try_at}


def put_back(session: Session, delivery_id: str, state: dict[str, datetime | None]) -> None:
    """Set the delivery's state (`state_of`) again, as it was before a redelivery that did not start."""
    session.execute(update(WEBHOOK_DELIVERIES).where(_D.id == delivery_id).values(**state))
