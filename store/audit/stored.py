"""Reading stored events, whatever state they are in.

Verification and export read every column without trusting it: a stored value that is not what
Parley wrote is damage to report, never a reason to fail. SQLite keeps any value in any column, so
there every column is read as stored (and text that is not UTF-8 is read with its bytes escaped);
PostgreSQL keeps its types, but a timestamp can still be one Python cannot hold ('infinity', a year
past 9999), so the time comes as text, once as stored and once in UTC when it is a usable time.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import LargeBinary, Text, case, cast, extract, func, select, text, type_coerce
from sqlalchemy.types import NullType
from sqlmodel import Session

from store.audit.chain import EVENT_FIELDS, canonical_v1, canonical_v2, iso, payload_rule
from store.tables import AUDIT_EVENTS

BATCH = 5000
RECORD_FIELDS = ("id", *EVENT_FIELDS, "prev_hash", "hash")
_T = AUDIT_EVENTS.c

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
def tolerant_text(session: Session) -> Iterator[None]:
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


def stored_columns(session: Session) -> list[Any]:
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


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text_problem(name: str, value: Any) -> str | None:
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


def whole_problem(name: str, value: Any) -> str | None:
    if is_whole(value):
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
    """(value, why it cannot be hashed, why it is not in canonical form) of a stored payload.

    Canonical form is the canonical text of its value under either hash rule (chain.py).
    """
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
        canonical_v1(value)
    except (ValueError, TypeError, RecursionError) as exc:
        return None, f"its payload is not valid JSON: {str(exc)[:200]}", None
    if repeated:
        return value, None, f"the payload is not in canonical form: the key {repeated[0]!r} appears more than once"
    if not isinstance(value, dict):
        return value, None, "the payload is not a JSON object"
    if payload_rule(value, stored) is None:
        return value, None, ("the payload is not in canonical form: its stored text differs from the canonical "
                             "JSON of its value (key order, spacing or escaping was changed)")
    return value, None, None


def payload_texts(value: Any) -> list[str]:
    """The canonical texts of a payload's value under the hash rules (one when they agree)."""
    texts: list[str] = []
    for rule in (canonical_v1, canonical_v2):
        try:
            text_ = rule(value)
        except (ValueError, TypeError, RecursionError):
            continue
        if text_ not in texts:
            texts.append(text_)
    return texts


@dataclass(frozen=True)
class Stored:
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
    payload_texts: tuple[str, ...] = ()  # the payload texts its hash may be over (the stored one when canonical)


def read_stored(row: Any) -> Stored:
    """A stored event (a result row of `stored_columns`, or an AuditEvent), checked value by value."""
    shown = {name: _shown(getattr(row, name)) for name in RECORD_FIELDS}
    problems = [text_problem("dispute_id", row.dispute_id), whole_problem("seq", row.seq)]
    at = _time(row.at, getattr(row, "at_utc", None))
    if at is None:
        problems.append(f"{_LABELS['at']} is missing (NULL)" if row.at is None else
                        f"{_LABELS['at']} is not a time in the form Parley stores (stored: {_quote(row.at)})")
    else:
        shown["at"] = at
    problems += [text_problem("actor", row.actor), text_problem("action", row.action),
                 whole_problem("tier", row.tier), text_problem("payload", row.payload),
                 text_problem("charter_version", row.charter_version)]
    for name in ("prev_hash", "hash"):
        value = getattr(row, name)
        problem = text_problem(name, value)
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
    texts: tuple[str, ...] = ()
    if damage is None and unhashable is None:
        fields = {"dispute_id": row.dispute_id, "seq": row.seq, "at": at, "actor": row.actor,
                  "action": row.action, "tier": row.tier, "payload": payload,
                  "charter_version": row.charter_version}
        texts = (row.payload,) if payload_form is None else tuple(payload_texts(payload))
    return Stored(id=row.id, dispute_id=row.dispute_id, seq=row.seq, prev_hash=row.prev_hash, hash=row.hash,
                   shown=shown, payload_text=_shown(row.payload), damage=damage, fields=fields,
                   unhashable=unhashable, payload_form=payload_form, payload_texts=texts)


def record(row: Any) -> dict[str, Any]:
    """An event as the API and the JSONL export show it.

    The payload is an object when it is well-formed; every damaged value (a payload that is not
    canonical JSON, a time that is not a time, …) is shown as its stored text, so that an export of a
    damaged trail still works and shows what is stored.
    """
    return read_stored(row).shown


def events_for(session: Session, dispute_id: str) -> list[dict[str, Any]]:
    """One dispute's events in order."""
    query = select(*stored_columns(session)).where(_T.dispute_id == dispute_id).order_by(_T.seq, _T.id)
    with tolerant_text(session):
        rows = session.execute(query).all()
    return [record(row) for row in rows]


def by_event(session: Session, upto: int) -> Iterator[Any]:
    """Events with id <= upto in (dispute_id, seq) order, as stored, fetched in batches.

    One query, streamed: paging by (dispute_id, seq) would have to trust those two columns.
    """
    query = select(*stored_columns(session)).where(_T.id <= upto).order_by(_T.dispute_id, _T.seq, _T.id)
    with tolerant_text(session):
        yield from session.execute(query, execution_options={"yield_per": BATCH})


class EventRow(NamedTuple):
    """A stored event as `event_rows` reads it: plain values, `at_utc` only on PostgreSQL."""

    id: Any
    dispute_id: Any
    seq: Any
    at: Any
    actor: Any
    action: Any
    tier: Any
    payload: Any
    charter_version: Any
    prev_hash: Any
    hash: Any
    at_utc: Any = None


class UndecodableText(Exception):
    """SQLite holds text that is not UTF-8: read it again with `lenient=True`."""


def _raw(session: Session, query: Any, batch: int | None = None, lenient: bool = True) -> Iterator[tuple[Any, ...]]:
    """The rows of `query` as the driver's tuples, streamed (PostgreSQL: a server-side cursor) in the
    session's transaction. Verification reads a million rows: SQLAlchemy's rows would cost half its time.

    On SQLite, `lenient=False` reads text at the driver's speed and raises UndecodableText at the first
    value that is not UTF-8; `lenient=True` reads it with its bytes escaped (`tolerant_text`), slower.
    """
    bind = session.get_bind()
    sql = str(query.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True}))
    dbapi: Any = session.connection().connection.dbapi_connection
    postgres = bind.dialect.name == "postgresql"
    with tolerant_text(session) if lenient else nullcontext():
        cursor = dbapi.cursor(name="parley_audit_read") if postgres else dbapi.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch or BATCH):
                yield from rows
        except sqlite3.OperationalError as exc:
            if lenient or "decode" not in str(exc):
                raise
            raise UndecodableText(str(exc)) from exc
        finally:
            cursor.close()


def event_rows(session: Session, upto: int, changed_since: int | None = None,
               lenient: bool = True) -> Iterator[tuple[Any, ...]]:
    """Events with id <= upto as plain tuples in `EventRow` order, by (dispute_id, seq, id); with
    `changed_since`, only the chains with an event of id > changed_since."""
    postgres = session.get_bind().dialect.name == "postgresql"
    raw = {column.name: type_coerce(column, NullType()) for column in AUDIT_EVENTS.c}
    columns: list[Any] = [raw[name] for name in RECORD_FIELDS]
    if postgres:
        utc = func.timezone("UTC", _T.at)
        usable = extract("year", utc).between(1, 9999)
        columns[RECORD_FIELDS.index("at")] = cast(_T.at, Text)
        columns.append(case((usable, func.to_char(utc, _PG_AT)), else_=None))
    query = select(*columns).where(_T.id <= upto)
    if changed_since is not None:
        changed = select(_T.dispute_id).where(_T.id > changed_since, _T.id <= upto).distinct()
        query = query.where(_T.dispute_id.in_(changed))
    return _raw(session, query.order_by(_T.dispute_id, _T.seq, _T.id), lenient=lenient)


def digest_hashes(session: Session, upto: int) -> Iterator[bytes]:
    """The stored hashes of the events with id <= upto, by id, as the digest covers them: their stored bytes
    (a damaged value as its text, NULL as nothing)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    column = cast(_T.hash, LargeBinary) if sqlite else type_coerce(_T.hash, NullType())
    for (value,) in _raw(session, select(column).where(_T.id <= upto).order_by(_T.id), batch=20_000):
        if isinstance(value, bytes):
            yield value
        elif isinstance(value, str):
            yield value.encode("utf-8", "surrogateescape")
        else:
            yield b"" if value is None else str(value).encode("utf-8")


def hashes_by_id(session: Session, upto: int) -> Iterator[tuple[int, Any]]:
    last = 0
    with tolerant_text(session):
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


def max_id(session: Session) -> int:
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

