"""A registration's events in the store: the audit chain (keyed by the registration id, in the same
`audit_events` table and hash chain as disputes), the row's lifecycle columns, the outbox rows of the
people each event tells, and the webhook deliveries of the events receivers subscribe to
(`registration.approved`, `registration.expired`, `overlap.detected`), all in the caller's transaction.

`record` is what `record_registration_event` (activities/registrations.py) runs for every event the
workflow numbers, and what the service runs for a registration's first event. A repeated call (a
retried activity) finds the event in place and changes nothing, and queues no delivery twice: the
event id of a delivery is the audit event's (`evt_<registration>_<seq>`), and an overlap's is the pair's,
so the second registration to record an overlap finds it queued. The caller starts the deliveries still
due once the transaction has committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from domain.model import Event, Notice
from domain.registration_lifecycle import RegistrationRecorded
from domain.webhook_events import overlap_event, registration_event, registration_type
from store import audit, registrations, webhooks
from store.db import insert_or_ignore
from store.registration_json import overlap_of, shown
from store.tables import NOTIFICATIONS, utcnow

LIFECYCLE = ("status", "approved_at", "protected_until", "decided_by", "reason", "won")


@dataclass(frozen=True)
class Written:
    """What recording an event leaves to do once the transaction has committed."""

    notices_due: bool  # there are notices and Slack or e-mail is on: `deliver_notices` has work
    deliveries: list[str] = field(default_factory=list)  # webhook deliveries still due: start their workflows


def record(session: Session, item: RegistrationRecorded, first_status: str, *,
           relay_from: datetime | None = None) -> Written:
    """Append the event, move the row forward to the registration after it, queue its notices and its
    webhook deliveries; with `relay_from`, both are written left to a deliveries worker's relay (store.relay)."""
    event, reg = item.event, item.registration
    if event.dispute_id != reg.id:
        raise ValueError(f"event of {event.dispute_id} carries the registration {reg.id}")
    audit.append(session, event)
    row = registrations.require(session, reg.id)
    if row.last_seq < event.seq:
        changes: dict[str, Any] = {name: getattr(reg, name) for name in LIFECYCLE}
        changes.update(row_values(item.changes))
        registrations.update(session, reg.id, **changes, last_seq=event.seq, updated_at=event.at)
    queue_notices(session, event, item.notices, first_status, relay_from)
    return Written(notices_due=first_status == "pending" and bool(item.notices),
                    deliveries=queue_webhooks(session, event, relay_from))


def queue_webhooks(session: Session, event: Event, relay_from: datetime | None = None) -> list[str]:
    """The event's webhook deliveries, if it is of a type some subscription wants; those still due (none when
    they are left to a relay from `relay_from`)."""
    kind = registration_type(event)
    targets = webhooks.subscribers(session, kind) if kind is not None else []
    if not targets:
        return []
    if kind != "overlap.detected":
        return webhooks.enqueue_event(session, registration_event(event, shown(session, event.dispute_id)), targets,
                                      relay_from=relay_from)
    other_id = str(event.payload["registration_id"])
    overlap = overlap_of(session, event.dispute_id, other_id)  # (always there: overlaps are noted once recorded)
    score = overlap.score if overlap else int(event.payload["score"])
    hook = overlap_event(event, shown(session, event.dispute_id), shown(session, other_id), score=score,
                         reason=overlap.reason if overlap else None,
                         found_at=overlap.found_at if overlap else event.at)
    return webhooks.enqueue_event(session, hook, targets, relay_from=relay_from)


def queue_notices(session: Session, event: Event, notices: list[Notice], first_status: str,
                  relay_from: datetime | None = None) -> None:
    now = utcnow()
    for notice in notices:
        insert_or_ignore(session, NOTIFICATIONS, {
            "dispute_id": event.dispute_id, "seq": event.seq, "recipient": notice.recipient, "kind": notice.kind,
            "text": notice.text, "created_at": now, "status": first_status, "attempts": 0, "slack_channel": None,
            "relay_until": relay_from if first_status == "pending" else None,
        }, ["dispute_id", "seq", "recipient"])


def row_values(changes: dict[str, Any]) -> dict[str, Any]:
    """Descriptive fields as they crossed Temporal (JSON) -> as the row keeps them."""
    out = dict(changes)
    if isinstance(out.get("expected_close"), str):
        out["expected_close"] = date.fromisoformat(out["expected_close"])
    if isinstance(out.get("products"), list):
        out["products"] = json.dumps(out["products"], ensure_ascii=False)
    return out
