"""The audit trail: an append-only hash chain per dispute (DESIGN §1, Audit trail).

Each event of a dispute is numbered 1..n by its workflow and linked to the one before it:

    canonical = JSON of {dispute_id, seq, at, actor, action, tier, payload, charter_version}
                with sorted keys, no spaces, UTF-8 (not ASCII-escaped), times as
                "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, always with microseconds)
    hash      = sha256_hex(prev_hash + canonical)      prev_hash of seq 1 = "0" * 64

`verify` walks every chain and reports the first event that does not fit: an edited event (its
hash no longer matches its content), a deleted one (a gap in seq, or a broken link), a reordered
one (its seq is part of its hash) or an inserted one (a broken link after it). Deleting the *last*
events of a chain, or rewriting a whole chain, leaves no broken link; that is what the digest is
for. An auditor saves the digest `verify` returns:

    "v1:<max_id>:<count>:<sha256 hex over the hashes of all events with id <= max_id, by id>"

and later verifies against it: the events that existed then must all still be there, unchanged.

`export` writes the same fields (plus the row id, prev_hash and hash) as JSONL or CSV, so that the
chain can be checked outside Parley with nothing but the rules above.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select, text
from sqlmodel import Session

from domain.model import Event
from store.db import insert_or_ignore
from store.tables import AUDIT_EVENTS

GENESIS = "0" * 64
DIGEST_VERSION = "v1"
BATCH = 5000
EVENT_FIELDS = ("dispute_id", "seq", "at", "actor", "action", "tier", "payload", "charter_version")
RECORD_FIELDS = ("id", *EVENT_FIELDS, "prev_hash", "hash")
DIGEST_CHANGED = "events missing or changed since the digest was taken"
_DIGEST = re.compile(r"^v1:(\d+):(\d+):([0-9a-f]{64})$")
_T = AUDIT_EVENTS.c


class ChainError(Exception):
    """An event cannot join its chain: its predecessor is missing, or its seq is taken by another."""


# --- canonical form and hashes ---------------------------------------------------------------------

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


def _row_fields(row: Any) -> dict[str, Any]:
    """The hashed fields of a stored event (an AuditEvent or a result row of its columns)."""
    return _hashed(row, json.loads(row.payload))


# --- writing ---------------------------------------------------------------------------------------

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


# --- reading ---------------------------------------------------------------------------------------

def record(row: Any) -> dict[str, Any]:
    """An event as the API and the JSONL export show it (payload as an object).

    A payload that is no longer JSON (tampered with) is shown as the stored text, so that an
    export of a damaged trail still works.
    """
    try:
        fields = _row_fields(row)
    except ValueError:
        fields = {**{name: getattr(row, name) for name in EVENT_FIELDS}, "at": iso(row.at)}
    return {"id": row.id, **fields, "prev_hash": row.prev_hash, "hash": row.hash}


def events_for(session: Session, dispute_id: str) -> list[dict[str, Any]]:
    """One dispute's events in order."""
    rows = session.execute(select(AUDIT_EVENTS).where(_T.dispute_id == dispute_id).order_by(_T.seq))
    return [record(row) for row in rows]


def _by_event(session: Session, upto: int) -> Iterator[Any]:
    """Events with id <= upto in (dispute_id, seq) order, fetched in batches."""
    last: tuple[str, int] | None = None
    while True:
        query = select(AUDIT_EVENTS).where(_T.id <= upto)
        if last is not None:
            query = query.where(or_(_T.dispute_id > last[0], and_(_T.dispute_id == last[0], _T.seq > last[1])))
        rows = session.execute(query.order_by(_T.dispute_id, _T.seq).limit(BATCH)).all()
        yield from rows
        if len(rows) < BATCH:
            return
        last = (rows[-1].dispute_id, rows[-1].seq)


def _hashes_by_id(session: Session, upto: int) -> Iterator[tuple[int, str]]:
    last = 0
    while True:
        rows = session.execute(
            select(_T.id, _T.hash).where(_T.id > last, _T.id <= upto).order_by(_T.id).limit(BATCH)
        ).all()
        for row in rows:
            yield row.id, row.hash
        if len(rows) < BATCH:
            return
        last = rows[-1].id


# --- digests ---------------------------------------------------------------------------------------

def _max_id(session: Session) -> int:
    """The highest event id, such that every event with a lower id is committed and visible.

    On PostgreSQL ids come from a sequence, so a transaction may commit id 8 after another
    committed id 9; a SHARE lock waits for the writers in flight (briefly; new writers queue).
    SQLite has one writer at a time, so its ids are already in commit order.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        with bind.engine.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(text("LOCK TABLE audit_events IN SHARE MODE"))
            return int(conn.execute(select(func.coalesce(func.max(_T.id), 0))).scalar_one())
    return int(session.execute(select(func.coalesce(func.max(_T.id), 0))).scalar_one())


def _digest_over(session: Session, upto: int) -> tuple[int, str]:
    sha = hashlib.sha256()
    count = 0
    for _id, hash_ in _hashes_by_id(session, upto):
        sha.update(hash_.encode("utf-8"))
        count += 1
    return count, sha.hexdigest()


def parse_digest(digest: str) -> tuple[int, int, str]:
    """(max_id, count, sha) of a digest; ValueError when it is not one."""
    match = _DIGEST.match(digest.strip())
    if match is None:
        raise ValueError(
            f"malformed digest {digest[:80]!r}: expected 'v1:<max_id>:<count>:<64 hex digits>' "
            "as returned by verify"
        )
    return int(match[1]), int(match[2]), match[3]


def digest(session: Session) -> str:
    """The digest of the trail as it is now (save it to detect truncation later)."""
    upto = _max_id(session)
    count, sha = _digest_over(session, upto)
    return f"{DIGEST_VERSION}:{upto}:{count}:{sha}"


# --- verification ----------------------------------------------------------------------------------

class FirstBad(BaseModel):
    dispute_id: str | None
    seq: int | None
    problem: str


class VerifyResult(BaseModel):
    ok: bool
    events: int
    disputes: int
    digest: str
    first_bad: FirstBad | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _check_chains(session: Session, upto: int) -> tuple[int, int, FirstBad | None]:
    events = disputes = 0
    first_bad: FirstBad | None = None
    dispute: str | None = None
    expected_seq, prev = 1, GENESIS
    for row in _by_event(session, upto):
        events += 1
        if row.dispute_id != dispute:
            dispute, expected_seq, prev = row.dispute_id, 1, GENESIS
            disputes += 1
        if first_bad is None:
            problem, at_seq = _problem(row, expected_seq, prev)
            if problem is not None:
                first_bad = FirstBad(dispute_id=row.dispute_id, seq=at_seq, problem=problem)
        expected_seq, prev = row.seq + 1, row.hash
    return events, disputes, first_bad


def _problem(row: Any, expected_seq: int, prev: str) -> tuple[str | None, int]:
    if row.seq > expected_seq:
        missing = f"event {expected_seq} is" if row.seq == expected_seq + 1 else \
            f"events {expected_seq}..{row.seq - 1} are"
        return f"{missing} missing (deleted?): the chain jumps to event {row.seq}", expected_seq
    if row.seq < expected_seq:
        return f"event {row.seq} appears twice or out of order", row.seq
    try:
        content_ok = chain_hash(row.prev_hash, canonical(_row_fields(row))) == row.hash
    except (ValueError, TypeError):  # the payload is no longer valid JSON
        content_ok = False
    if not content_ok:
        return "hash mismatch: the event was changed after it was recorded", row.seq
    if row.prev_hash != prev:
        return ("broken link: prev_hash does not match the hash of the event before it "
                "(an event was deleted, inserted or replaced)"), row.seq
    return None, row.seq


def verify(session: Session, digest: str | None = None) -> VerifyResult:
    """Check every chain and, with a saved `digest`, that no event it covers went missing or changed.

    Raises ValueError for a malformed digest.
    """
    saved = parse_digest(digest) if digest is not None else None
    upto = _max_id(session)
    events, disputes, first_bad = _check_chains(session, upto)
    count, sha = _digest_over(session, upto)
    if saved is not None:
        saved_upto, saved_count, saved_sha = saved
        then = (count, sha) if saved_upto == upto else _digest_over(session, saved_upto)
        if then != (saved_count, saved_sha) and first_bad is None:
            first_bad = FirstBad(dispute_id=None, seq=None, problem=DIGEST_CHANGED)
    return VerifyResult(ok=first_bad is None, events=events, disputes=disputes,
                        digest=f"{DIGEST_VERSION}:{upto}:{count}:{sha}", first_bad=first_bad)


# --- export ----------------------------------------------------------------------------------------

def export(session: Session, fmt: Literal["jsonl", "csv"] = "jsonl") -> Iterator[str]:
    """Every event, in (dispute_id, seq) order, one line each (CSV: a header first)."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown export format {fmt!r}: use 'jsonl' or 'csv'")
    rows = _by_event(session, _max_id(session))
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(record(row), ensure_ascii=False, separators=(",", ":")) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: list[Any]) -> str:
        writer.writerow(values)
        out = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return out

    yield line(list(RECORD_FIELDS))
    for row in rows:
        yield line([row.id, row.dispute_id, row.seq, iso(row.at), row.actor, row.action, row.tier,
                    row.payload, row.charter_version, row.prev_hash, row.hash])
