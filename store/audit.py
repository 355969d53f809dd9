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

Damage is tampering too, and neither verification nor export ever fails on it. Every column is read
as it is stored (see "reading stored events"): a time that is not a time, a seq or tier that is not a
whole number, NULLs, text that is not UTF-8, a hash that is not 64 hex digits or a payload that is not
JSON makes `verify` report that event as `first_bad`, in plain words, and the export still writes
every event, the damaged values as their stored text. A stored payload must also be exactly the
canonical text of its value (no repeated keys, no other key order, spacing or escaping): one that
parses to the same value but is written differently hashes the same, so it is checked on its own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Text, case, cast, extract, func, select, text, type_coerce
from sqlalchemy.types import NullType
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


# --- reading stored events, whatever state they are in ---------------------------------------------
# Verification and export read every column without trusting it: a stored value that is not what
# Parley wrote is damage to report, never a reason to fail. SQLite keeps any value in any column, so
# there every column is read as stored (and text that is not UTF-8 is read with its bytes escaped);
# PostgreSQL keeps its types, but a timestamp can still be one Python cannot hold ('infinity', a year
# past 9999), so the time comes as text, once as stored and once in UTC when it is a usable time.

_SQLITE_AT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")  # how SQLAlchemy stores a DATETIME
_PG_AT = 'YYYY-MM-DD"T"HH24:MI:SS.US'
_HEX64 = re.compile(r"[0-9a-f]{64}")
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, as "surrogateescape" keeps them
_LABELS = {
    "dispute_id": "the dispute id", "seq": "the sequence number (seq)", "at": "the time (at)",
    "actor": "the actor", "action": "the action", "tier": "the tier", "payload": "the payload",
    "charter_version": "the charter version", "prev_hash": "the previous hash (prev_hash)", "hash": "the hash",
}


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


@contextmanager
def _tolerant_text(session: Session) -> Iterator[None]:
    """On SQLite, let text that is not UTF-8 be read (and reported) instead of failing the fetch."""
    dbapi = session.connection().connection.dbapi_connection \
        if session.get_bind().dialect.name == "sqlite" else None
    if not isinstance(dbapi, sqlite3.Connection):
        yield
        return
    before = dbapi.text_factory
    dbapi.text_factory = _lenient_text
    try:
        yield
    finally:
        dbapi.text_factory = before


def _columns(session: Session) -> list[Any]:
    """The columns of audit_events as stored, plus `at_utc` (PostgreSQL: the time in UTC, or NULL)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    columns: list[Any] = [type_coerce(column, NullType()).label(column.name) for column in AUDIT_EVENTS.c
                          if not (postgres and column.name == "at")]
    if postgres:
        utc = func.timezone("UTC", _T.at)
        usable = extract("year", utc).between(1, 9999)  # not 'infinity', BC or past year 9999
        columns += [cast(_T.at, Text).label("at"),
                    case((usable, func.to_char(utc, _PG_AT)), else_=None).label("at_utc")]
    return columns


def _shown(value: Any) -> Any:
    """A stored value as it is shown and exported: its stored text (bytes that are not UTF-8 escaped)."""
    if isinstance(value, str):
        if _UNDECODABLE.search(value):
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, int | float):
        return value
    return str(value)


def _quote(value: Any) -> str:
    shown = _shown(value)
    if not isinstance(shown, str):
        return str(shown)
    return repr(shown if len(shown) <= 60 else shown[:60] + "…")


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_problem(name: str, value: Any) -> str | None:
    label = _LABELS[name]
    if value is None:
        return f"{label} is missing (NULL)"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{label} is stored as binary data, not text (stored: {_quote(value)})"
    if not isinstance(value, str):
        return f"{label} is not text (stored: {_quote(value)})"
    if _UNDECODABLE.search(value):
        return f"{label} is not valid UTF-8 text (stored: {_quote(value)})"
    return None


def _whole_problem(name: str, value: Any) -> str | None:
    if _is_whole(value):
        return None
    if value is None:
        return f"{_LABELS[name]} is missing (NULL)"
    return f"{_LABELS[name]} is not a whole number (stored: {_quote(value)})"


def _time(stored: Any, utc: Any) -> str | None:
    """The time of a stored event in `iso` form; None when the stored value is not a usable time."""
    try:
        if isinstance(stored, datetime):
            return iso(stored)
        if isinstance(utc, str):  # PostgreSQL
            return iso(datetime.strptime(utc, "%Y-%m-%dT%H:%M:%S.%f"))
        if isinstance(stored, str) and _SQLITE_AT.fullmatch(stored):  # SQLite: exactly as SQLAlchemy writes it
            return iso(datetime.strptime(stored, "%Y-%m-%d %H:%M:%S.%f"))
    except ValueError:
        pass
    return None


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_payload(stored: str) -> tuple[Any, str | None, str | None]:
    """(value, why it cannot be hashed, why it is not in canonical form) of a stored payload."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj:
                repeated.append(key)
            obj[key] = value
        return obj

    try:
        value = json.loads(stored, object_pairs_hook=pairs, parse_constant=_not_a_number)
        again = canonical(value)
    except (ValueError, TypeError, RecursionError) as exc:
        return None, f"its payload is not valid JSON: {str(exc)[:200]}", None
    if repeated:
        return value, None, f"the payload is not in canonical form: the key {repeated[0]!r} appears more than once"
    if not isinstance(value, dict):
        return value, None, "the payload is not a JSON object"
    if again != stored:
        return value, None, ("the payload is not in canonical form: its stored text differs from the canonical "
                             "JSON of its value (key order, spacing or escaping was changed)")
    return value, None, None


@dataclass(frozen=True)
class _Stored:
    """One stored event: what to show for it, what is wrong with it, and its hashed fields."""

    id: Any
    dispute_id: Any
    seq: Any
    prev_hash: Any
    hash: Any
    shown: dict[str, Any]  # the event as the API and the JSONL export show it
    payload_text: Any  # the payload as stored (the CSV export's column)
    damage: str | None  # the first value that is not what Parley writes
    fields: dict[str, Any] | None  # the hashed fields, when every value could be read
    unhashable: str | None  # why the payload cannot be hashed
    payload_form: str | None  # why the payload is not in the form Parley writes


def _read(row: Any) -> _Stored:
    """A stored event (a result row of `_columns`, or an AuditEvent), checked value by value."""
    shown = {name: _shown(getattr(row, name)) for name in RECORD_FIELDS}
    problems = [_text_problem("dispute_id", row.dispute_id), _whole_problem("seq", row.seq)]
    at = _time(row.at, getattr(row, "at_utc", None))
    if at is None:
        problems.append(f"{_LABELS['at']} is missing (NULL)" if row.at is None else
                        f"{_LABELS['at']} is not a time in the form Parley stores (stored: {_quote(row.at)})")
    else:
        shown["at"] = at
    problems += [_text_problem("actor", row.actor), _text_problem("action", row.action),
                 _whole_problem("tier", row.tier), _text_problem("payload", row.payload),
                 _text_problem("charter_version", row.charter_version)]
    for name in ("prev_hash", "hash"):
        value = getattr(row, name)
        problem = _text_problem(name, value)
        if problem is None and not _HEX64.fullmatch(value):
            problem = (f"{_LABELS[name]} is not a SHA-256 hash of 64 lowercase hexadecimal digits "
                       f"(stored: {_quote(value)}, {len(value)} characters)")
        problems.append(problem)
    damage = next((problem for problem in problems if problem is not None), None)
    payload: Any = None
    unhashable = payload_form = None
    if isinstance(row.payload, str) and not _UNDECODABLE.search(row.payload):
        payload, unhashable, payload_form = _parse_payload(row.payload)
        if unhashable is None and payload_form is None:
            shown["payload"] = payload  # a well-formed payload shows as its object
    fields = None
    if damage is None and unhashable is None:
        fields = {"dispute_id": row.dispute_id, "seq": row.seq, "at": at, "actor": row.actor,
                  "action": row.action, "tier": row.tier, "payload": payload,
                  "charter_version": row.charter_version}
    return _Stored(id=row.id, dispute_id=row.dispute_id, seq=row.seq, prev_hash=row.prev_hash, hash=row.hash,
                   shown=shown, payload_text=_shown(row.payload), damage=damage, fields=fields,
                   unhashable=unhashable, payload_form=payload_form)


def record(row: Any) -> dict[str, Any]:
    """An event as the API and the JSONL export show it.

    The payload is an object when it is well-formed; every damaged value (a payload that is not
    canonical JSON, a time that is not a time, …) is shown as its stored text, so that an export of a
    damaged trail still works and shows what is stored.
    """
    return _read(row).shown


def events_for(session: Session, dispute_id: str) -> list[dict[str, Any]]:
    """One dispute's events in order."""
    query = select(*_columns(session)).where(_T.dispute_id == dispute_id).order_by(_T.seq, _T.id)
    with _tolerant_text(session):
        rows = session.execute(query).all()
    return [record(row) for row in rows]


def _by_event(session: Session, upto: int) -> Iterator[Any]:
    """Events with id <= upto in (dispute_id, seq) order, as stored, fetched in batches.

    One query, streamed: paging by (dispute_id, seq) would have to trust those two columns.
    """
    query = select(*_columns(session)).where(_T.id <= upto).order_by(_T.dispute_id, _T.seq, _T.id)
    with _tolerant_text(session):
        yield from session.execute(query, execution_options={"yield_per": BATCH})


def _hashes_by_id(session: Session, upto: int) -> Iterator[tuple[int, Any]]:
    last = 0
    with _tolerant_text(session):
        while True:
            rows = session.execute(
                select(_T.id, type_coerce(_T.hash, NullType()).label("hash"))
                .where(_T.id > last, _T.id <= upto).order_by(_T.id).limit(BATCH)
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


def _digest_bytes(stored: Any) -> bytes:
    """A stored hash as the digest covers it (a damaged one too: verification reports that)."""
    if isinstance(stored, str):
        return stored.encode("utf-8", "surrogateescape")
    if isinstance(stored, bytes | bytearray | memoryview):
        return bytes(stored)
    return b"" if stored is None else str(stored).encode("utf-8")


def _digest_over(session: Session, upto: int) -> tuple[int, str]:
    sha = hashlib.sha256()
    count = 0
    for _id, hash_ in _hashes_by_id(session, upto):
        sha.update(_digest_bytes(hash_))
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
    max_id, count = int(match[1]), int(match[2])
    if max(max_id, count) > _MAX_ID:  # event ids are 32-bit integers (PostgreSQL's INTEGER): no digest of ours
        raise ValueError(f"malformed digest {digest[:80]!r}: its numbers are out of range")
    return max_id, count, match[3]


_MAX_ID = 2**31 - 1


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
    event_id: int | None = None  # the stored row, when there is one (not for a missing event)


class VerifyResult(BaseModel):
    ok: bool
    events: int
    disputes: int
    digest: str
    first_bad: FirstBad | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


_NO_DISPUTE_YET = object()


def _check_chains(session: Session, upto: int) -> tuple[int, int, FirstBad | None]:
    """(events, disputes, the first bad event) over the events with id <= upto.

    An event whose dispute id cannot be read belongs to no chain (and leaves a gap in one): it is
    reported before anything else. Within a dispute, an event whose seq cannot be read is reported
    before the chain's own first problem, which is often just the gap that event left.
    """
    events = disputes = 0
    first_bad: FirstBad | None = None
    orphan: FirstBad | None = None
    dispute: Any = _NO_DISPUTE_YET
    key_bad: FirstBad | None = None
    chain_bad: FirstBad | None = None
    expected_seq, prev = 1, GENESIS
    for row in _by_event(session, upto):
        events += 1
        if dispute is _NO_DISPUTE_YET or row.dispute_id != dispute:
            first_bad = first_bad or key_bad or chain_bad
            dispute, key_bad, chain_bad = row.dispute_id, None, None
            expected_seq, prev = 1, GENESIS
            disputes += 1
        if orphan is not None:
            continue
        no_dispute = _text_problem("dispute_id", row.dispute_id)
        if no_dispute is not None:
            orphan = FirstBad(dispute_id=None, seq=None, event_id=_event_id(row.id),
                              problem=f"event id {row.id} cannot be placed in a chain: {no_dispute}")
            continue
        if first_bad is not None or key_bad is not None:
            continue
        no_seq = _whole_problem("seq", row.seq)
        if no_seq is not None:
            key_bad = FirstBad(dispute_id=row.dispute_id, seq=None, event_id=_event_id(row.id),
                               problem=f"event id {row.id} of {row.dispute_id} cannot be placed in its chain: "
                                       f"{no_seq}")
            continue
        if chain_bad is None:
            problem, at_seq = _problem(_read(row), expected_seq, prev)
            if problem is not None:
                chain_bad = FirstBad(dispute_id=row.dispute_id, seq=at_seq, problem=problem,
                                     event_id=_event_id(row.id) if at_seq == row.seq else None)
        expected_seq, prev = row.seq + 1, row.hash
    return events, disputes, orphan or first_bad or key_bad or chain_bad


def _event_id(value: Any) -> int | None:
    return value if _is_whole(value) else None


def _problem(event: _Stored, expected_seq: int, prev: Any) -> tuple[str | None, int]:
    seq: int = event.seq
    if seq > expected_seq:
        missing = f"event {expected_seq} is" if seq == expected_seq + 1 else \
            f"events {expected_seq}..{seq - 1} are"
        return f"{missing} missing (deleted?): the chain jumps to event {seq}", expected_seq
    if seq < expected_seq:
        return f"event {seq} appears twice or out of order (event id {event.id})", seq
    if event.damage is not None:
        return f"event id {event.id} is damaged: {event.damage}", seq
    if event.fields is None or chain_hash(event.prev_hash, canonical(event.fields)) != event.hash:
        detail = f" ({event.unhashable})" if event.unhashable else ""
        return f"hash mismatch: event id {event.id} was changed after it was recorded{detail}", seq
    if event.payload_form is not None:
        return f"event id {event.id} was changed after it was recorded: {event.payload_form}", seq
    if event.prev_hash != prev:
        return (f"broken link: the prev_hash of event id {event.id} does not match the hash of the event "
                "before it (an event was deleted, inserted or replaced)"), seq
    return None, seq


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
        stored = _read(row)
        yield line([stored.payload_text if name == "payload" else stored.shown[name] for name in RECORD_FIELDS])
