"""The chain: the canonical form of an event, its hash, and appending it to its dispute's chain.

Two hash rules, one formula: hash = sha256_hex(prev_hash + canonical JSON of the event). They differ in
the canonical JSON only:

- rule 2 (`HASH_RULE`, what `append` writes): RFC 8785, the JSON Canonicalization Scheme (`rfc8785`);
- rule 1 (events recorded before it): Python's `json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`.

They write strings and integers alike and differ only in some numbers (rule 1 writes `1.0` and `1e-07`
where RFC 8785 writes `1` and `1e-7`) and in the order of keys outside the Basic Multilingual Plane; most
events read the same under both. The payload is stored as its canonical text, so an event's text under
either rule is the canonical object of its other fields with that stored text in place of the payload
(`event_text`): verification checks every event against the rule its payload is written in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import rfc8785
from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlmodel import Session

from domain.model import Event
from store.db import insert_or_ignore
from store.tables import AUDIT_EVENTS

GENESIS = "0" * 64
HASH_RULE = 2  # the rule `append` writes; rule 1 still verifies
EVENT_FIELDS = ("dispute_id", "seq", "at", "actor", "action", "tier", "payload", "charter_version")
_T = AUDIT_EVENTS.c
# an event's place in its chain and the one before it, read together (`append`)
_THIS_AND_PREVIOUS = select(_T.seq, _T.prev_hash, _T.hash).where(
    _T.dispute_id == bindparam("dispute_id"), _T.seq.between(bindparam("before"), bindparam("seq")))


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


def canonical_v1(value: Any) -> str:
    """Hash rule 1's canonical JSON: sorted keys, compact separators, UTF-8 text, times in `iso` form."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_json_default)


def _plain(value: Any) -> Any:
    """`value` with times, decimals, enums and models turned into what JSON holds (as rule 1 writes them)."""
    return json.loads(canonical_v1(value))


def canonical_v2(value: Any) -> str:
    """Hash rule 2's canonical JSON: RFC 8785 (the JSON Canonicalization Scheme).

    Raises rfc8785.CanonicalizationError for what RFC 8785 cannot write: an integer beyond ±(2**53 - 1),
    text that is not Unicode.
    """
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (rfc8785.IntegerDomainError, rfc8785.FloatDomainError):
        raise
    except rfc8785.CanonicalizationError:  # a time, a decimal, a model, a key that is not text …
        return rfc8785.dumps(_plain(value)).decode("utf-8")


def canonical(value: Any) -> str:
    """The canonical JSON Parley writes now: rule 2, or rule 1 for a value RFC 8785 cannot write (an
    integer beyond ±(2**53 - 1): JSON's numbers are doubles)."""
    try:
        return canonical_v2(value)
    except rfc8785.IntegerDomainError:
        return canonical_v1(value)


RULES: dict[int, Callable[[Any], str]] = {2: canonical_v2, 1: canonical_v1}

_V1_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_quote: Callable[[str], str] = json.encoder.encode_basestring  # a JSON string, as both rules write it
_EVENT = '{"action":%s,"actor":%s,"at":"%s","charter_version":%s,"dispute_id":%s,"payload":%s,"seq":%d,"tier":%d}'


def payload_rule(value: Any, stored: str) -> int | None:
    """The rule whose canonical text of the (parsed, plain JSON) payload `value` is `stored`, if any."""
    try:
        if _V1_ENCODER.encode(value) == stored:
            return 1
    except (ValueError, TypeError, RecursionError):
        pass
    try:
        if rfc8785.dumps(value).decode("utf-8") == stored:
            return 2
    except (ValueError, TypeError, RecursionError):
        pass
    return None


def event_text(dispute_id: str, seq: int, at: str, actor: str, action: str, tier: int, payload: str,
               charter_version: str) -> str:
    """The canonical text of an event whose payload's canonical text is `payload` and time (in `iso`
    form) is `at`; the same under both rules (keys are plain ASCII, strings are written alike)."""
    return _EVENT % (_quote(action), _quote(actor), at, _quote(charter_version), _quote(dispute_id), payload,
                     seq, tier)


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


def _stored_form(event: Event) -> tuple[dict[str, Any], str]:
    """(the hashed fields, the stored payload text) of an event as `append` writes it (rule 2)."""
    fields = event_fields(event)
    return fields, canonical(fields["payload"])


def append(session: Session, event: Event) -> bool:
    """Add `event` to its dispute's chain; False when it is already there (a retried write).

    Raises ChainError when event seq-1 is missing (events are written in order) or when this seq
    was recorded with different content (under either hash rule: a retry of an event recorded before
    rule 2 finds it in place).
    """
    if event.seq < 1:
        raise ChainError(f"{event.dispute_id}: seq must start at 1 (got {event.seq})")
    fields, payload_text = _stored_form(event)
    text_ = _event_text_of(fields, payload_text)
    where = {"dispute_id": event.dispute_id, "seq": event.seq, "before": event.seq - 1}
    known = {row.seq: row for row in session.execute(_THIS_AND_PREVIOUS, where)}
    if (existing := known.get(event.seq)) is not None:
        earlier = {chain_hash(existing.prev_hash, text_)}
        try:
            earlier.add(chain_hash(existing.prev_hash, _event_text_of(fields, canonical_v1(event.payload))))
        except (ValueError, TypeError):
            pass
        if existing.hash not in earlier:
            raise ChainError(
                f"{event.dispute_id}: event {event.seq} is already recorded with different content"
            )
        return False
    if event.seq == 1:
        prev = GENESIS
    elif (before := known.get(event.seq - 1)) is not None:
        prev = before.hash
    else:
        raise ChainError(f"{event.dispute_id}: cannot record event {event.seq} before event {event.seq - 1}")
    values = {
        **fields,
        "at": event.at,
        "payload": payload_text,
        "prev_hash": prev,
        "hash": chain_hash(prev, text_),
    }
    return insert_or_ignore(session, AUDIT_EVENTS, values, ["dispute_id", "seq"])


def _event_text_of(fields: dict[str, Any], payload_text: str) -> str:
    return event_text(fields["dispute_id"], fields["seq"], fields["at"], fields["actor"], fields["action"],
                      fields["tier"], payload_text, fields["charter_version"])
