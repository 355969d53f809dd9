"""The chain: the canonical form of an event, its hash, and appending it to its dispute's chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session

from domain.model import Event
from store.db import insert_or_ignore
from store.tables import AUDIT_EVENTS

GENESIS = "0" * 64
EVENT_FIELDS = ("dispute_id", "seq", "at", "actor", "action", "tier", "payload", "charter_version")
_T = AUDIT_EVENTS.c


class ChainError(Exception):
    """An event cannot join its chain: its predecessor is missing, or its seq is taken by another."""


def iso(at: datetime) -> str:
    """The one time format of the audit trail: UTC with microseconds and a "Z"."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} cannot be part of an audit event")


def canonical(event_fields: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, compact separators, UTF-8 text, times in `iso` form."""
    return json.dumps(event_fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_json_default)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _hashed(source: Any, payload: Any) -> dict[str, Any]:
    return {
        "dispute_id": source.dispute_id,
        "seq": source.seq,
        "at": iso(source.at),
        "actor": source.actor,
        "action": source.action,
        "tier": source.tier,
        "payload": payload,
        "charter_version": source.charter_version,
    }


def event_fields(event: Event) -> dict[str, Any]:
    """The hashed fields of an event, normalised exactly as they read back from the store."""
    return _hashed(event, json.loads(canonical(event.payload)))


def append(session: Session, event: Event) -> bool:
    """Add `event` to its dispute's chain; False when it is already there (a retried write).

    Raises ChainError when event seq-1 is missing (events are written in order) or when this seq
    was recorded with different content.
    """
    if event.seq < 1:
        raise ChainError(f"{event.dispute_id}: seq must start at 1 (got {event.seq})")
    fields = event_fields(event)
    text_ = canonical(fields)
    existing = session.execute(
        select(_T.prev_hash, _T.hash).where(_T.dispute_id == event.dispute_id, _T.seq == event.seq)
    ).first()
    if existing is not None:
        if chain_hash(existing.prev_hash, text_) != existing.hash:
            raise ChainError(
                f"{event.dispute_id}: event {event.seq} is already recorded with different content"
            )
        return False
    prev = GENESIS if event.seq == 1 else session.execute(
        select(_T.hash).where(_T.dispute_id == event.dispute_id, _T.seq == event.seq - 1)
    ).scalar()
    if prev is None:
        raise ChainError(f"{event.dispute_id}: cannot record event {event.seq} before event {event.seq - 1}")
    values = {
        **fields,
        "at": event.at,
        "payload": canonical(fields["payload"]),
        "prev_hash": prev,
        "hash": chain_hash(prev, text_),
    }
    return insert_or_ignore(session, AUDIT_EVENTS, values, ["dispute_id", "seq"])

