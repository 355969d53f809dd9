"""A registration's events in the store: the audit chain (keyed by the registration id, in the same
`audit_events` table and hash chain as disputes), the row's lifecycle columns, and the outbox rows
of the people each event tells, all in the caller's transaction.

`record` is what `record_registration_event` (activities/registrations.py) runs for every event the
workflow numbers, and what the service runs for a registration's first event. A repeated call (a
retried activity) finds the event in place and changes nothing.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlmodel import Session

from domain.model import Event, Notice
from domain.registration_lifecycle import RegistrationRecorded
from store import audit, registrations
from store.db import insert_or_ignore
from store.tables import NOTIFICATIONS, utcnow

LIFECYCLE = ("status", "approved_at", "protected_until", "decided_by", "reason", "won")


def record(session: Session, item: RegistrationRecorded, first_status: str) -> bool:
    """Append the event, move the row forward to the registration after it, queue its notices.
    Returns whether anything may be waiting for delivery (there are notices and Slack is on)."""
    event, reg = item.event, item.registration
    if event.dispute_id != reg.id:
        raise ValueError(f"event of {event.dispute_id} carries the registration {reg.id}")
    audit.append(session, event)
    row = registrations.require(session, reg.id)
    if row.last_seq < event.seq:
        changes: dict[str, Any] = {name: getattr(reg, name) for name in LIFECYCLE}
        changes.update(row_values(item.changes))
        registrations.update(session, reg.id, **changes, last_seq=event.seq, updated_at=event.at)
    queue_notices(session, event, item.notices, first_status)
    return first_status == "pending" and bool(item.notices)


def queue_notices(session: Session, event: Event, notices: list[Notice], first_status: str) -> None:
    now = utcnow()
    for notice in notices:
        insert_or_ignore(session, NOTIFICATIONS, {
            "dispute_id": event.dispute_id, "seq": event.seq, "recipient": notice.recipient, "kind": notice.kind,
            "text": notice.text, "created_at": now, "status": first_status, "attempts": 0, "slack_channel": None,
        }, ["dispute_id", "seq", "recipient"])


def row_values(changes: dict[str, Any]) -> dict[str, Any]:
    """Descriptive fields as they crossed Temporal (JSON) -> as the row keeps them."""
    out = dict(changes)
    if isinstance(out.get("expected_close"), str):
        out["expected_close"] = date.fromisoformat(out["expected_close"])
    if isinstance(out.get("products"), list):
        out["products"] = json.dumps(out["products"], ensure_ascii=False)
    return out
