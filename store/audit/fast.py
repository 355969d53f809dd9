"""The fast walk: one tight pass that proves a whole trail sound, or gives up and leaves it to `walk.Walk`.

Verification reads a million events; what it does for each of them is all that counts. This pass does
exactly the checks `walk.Walk` does for an event that is whole and in place, and nothing else:

- a **signed** event (its chain's head is signed at or after it): its canonical text is rebuilt from the
  stored values with the stored payload bytes in place, hashed with the hash of the event before it, and
  must give the stored hash; its stored prev_hash must be that hash, its seq the next one, and where a
  checkpoint signed the chain at it, its hash the signed one;
- an **unsigned** event: the same, and its payload must be a JSON object in the canonical form of a hash
  rule, its time a real time (what the signature stands for in the signed case).

Everything else (any damage, a gap, a broken link, a chain short of its signed head, a signed chain that is
not there, text that is not UTF-8, a value of an unexpected type) makes it return None, and the caller walks
the trail again with `walk.Walk`, which says what is wrong in plain words. On a sound trail both give the
same answer; the fast one never says a trail is sound that `walk.Walk` would not.

What makes it fast: only the hashed columns are read; the payload and the time come as their stored UTF-8
bytes (no decoding, no encoding back), the JSON strings of the few distinct actors, actions and charter
versions are made once, each chain's own part of the text once; per event, one `%` and one SHA-256.
Rebuilding the text from the stored bytes is sound because the text is the event: a JSON object whose every
value is written so that it reads back as exactly the stored value (JSON strings, whole numbers, the payload
that must itself be the canonical JSON the signed text held), so no other stored event gives the same text,
and the hashes link it to the signed head.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Generator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import chain as _chain
from typing import Any

from sqlalchemy import LargeBinary, Text, case, cast, func, literal_column, select, type_coerce
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.types import NullType
from sqlmodel import Session

from store.audit.chain import GENESIS, payload_rule
from store.audit.walk import Point, Walked
from store.tables import AUDIT_EVENTS

BATCH = 20_000
_T = AUDIT_EVENTS.c
_AT = re.compile(rb"[1-9]\d{3}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")  # what `walk.at_sqlite` accepts unsigned
_quote = json.encoder.encode_basestring
_V1 = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_CACHE_MAX = 50_000
_NONE_YET = object()
Batches = Generator[list[tuple[Any, ...]], None, None]
Chains = tuple[str | None, str | None]  # a range of chain ids, [low, high); None: no bound


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODE = json.JSONDecoder(parse_constant=_not_a_number).decode


def rows(session: Session, upto: int, changed_since: int | None = None, chains: Chains | None = None) -> Batches:
    """Batches of the hashed columns of the events with id <= upto (only the chains with an event of id > changed_since,
    if given; only the chains whose id lies in `chains`, [low, high) in the store's own order, None for no bound, if
    given), chain by chain in seq order: the time and the payload as their UTF-8 bytes (None when they are not text),
    everything else as stored. On SQLite, text that is not UTF-8 raises sqlite3.OperationalError."""
    bind = session.get_bind()
    postgres = bind.dialect.name == "postgresql"
    raw = {column.name: type_coerce(column, NullType()) for column in AUDIT_EVENTS.c}
    if postgres:  # the time in UTC as PostgreSQL writes it (ISO DateStyle), its microseconds written out in full:
        # "2026-01-05 09:00:01.1234" → "…01.123400", "…01" → "…01.000000"; anything else ('infinity', BC, a year
        # past 9999, another DateStyle) is not in this form and leaves it to `walk.Walk` (cheaper than to_char)
        utc = cast(func.timezone("UTC", _T.at), Text)
        at: Any = func.convert_to(case((func.length(utc) == 19, utc + ".000000"),
                                       (func.length(utc) < 26, func.rpad(utc, 26, "0")), else_=utc), "UTF8")
        payload: Any = func.convert_to(_T.payload, "UTF8")
    else:  # bytes as stored, but only for text: a BLOB must not pass for the text it holds
        at = case((func.typeof(_T.at) == "text", cast(_T.at, LargeBinary)), else_=None)
        payload = case((func.typeof(_T.payload) == "text", cast(_T.payload, LargeBinary)), else_=None)
    # `walk` unpacks the columns in this order
    query = select(raw["dispute_id"], raw["seq"], at, raw["actor"], raw["action"], raw["tier"], payload,
                   raw["charter_version"], raw["prev_hash"], raw["hash"]).where(_T.id <= upto)
    if changed_since is not None:
        changed = select(_T.dispute_id).where(_T.id > changed_since, _T.id <= upto).distinct()
        query = query.where(_T.dispute_id.in_(changed))
    if chains is not None:  # a range of chain ids, as the unique index on (dispute_id, seq) serves it (`parallel`)
        low, high = chains
        if low is not None:
            query = query.where(_T.dispute_id >= low)
        if high is not None:
            query = query.where(_T.dispute_id < high)
    # by (dispute_id, seq), as PostgreSQL's indexes on dispute_id give it, without the id that `walk.Walk` orders
    # ties by: two events with the same seq (the unique index dropped) are out of order here, and `walk` gives up
    query = query.order_by(_T.dispute_id, _T.seq) if postgres else query.order_by(_T.dispute_id, _T.seq, _T.id)
    sql = str(query.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True}))
    dbapi: Any = session.connection().connection.dbapi_connection
    # PostgreSQL: a server-side cursor in the binary protocol (the bytes come as they are, not as hex text)
    cursor = dbapi.cursor(name="parley_audit_fast", binary=True) if postgres else dbapi.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(BATCH):
            yield batch
    finally:
        cursor.close()


def _unsigned_sound(at: bytes, payload: bytes) -> bool:
    """What an unsigned event must be besides hashing right: a real time, a payload that is a JSON object in
    the canonical form of a hash rule (as `walk.sound` checks it)."""
    if not _AT.fullmatch(at):
        return False
    try:
        datetime.fromisoformat(at.decode("ascii"))  # a real date and time, not 2025-02-30
        text_ = payload.decode("utf-8")
        value = _DECODE(text_)
    except (ValueError, RecursionError):
        return False
    if type(value) is not dict:
        return False
    try:
        if _V1(value) == text_:
            return True
    except (ValueError, RecursionError):
        pass
    return payload_rule(value, text_) is not None


def walk(batches: Iterable[list[tuple[Any, ...]]], points: Mapping[str, list[Point]], *,
         complete: bool = True) -> Walked | None:
    """The walk of the events in `batches` (as `rows` reads them) against the signed `points`, when everything is
    sound; None as soon as anything is not (then `walk.Walk` must say what)."""
    sha256 = hashlib.sha256
    quoted: dict[Any, bytes] = {}
    no_points: list[Point] = []
    count = unsigned = disputes = pointed = 0
    heads: dict[str, tuple[int, str]] = {}
    dispute: Any = _NONE_YET
    expected, prev, prev_b, signed_upto, next_point, index = 1, GENESIS, GENESIS.encode(), 0, 0, 0
    chain_points = no_points
    template = b""
    for (row_dispute, seq, at, actor, action, tier, payload, version, prev_hash, hash_) in \
            _chain.from_iterable(batches):  # the order of `rows`
        if row_dispute != dispute:
            if dispute is not _NONE_YET:
                if signed_upto >= expected:  # the chain ends before its signed head: events were deleted
                    return None
                heads[dispute] = (expected - 1, prev)
                count += expected - 1
            dispute = row_dispute
            if type(dispute) is not str or dispute in heads:
                return None
            disputes += 1
            chain_points = points.get(dispute, no_points)
            if chain_points:
                pointed += 1
            # a point is (seq, hash, checkpoint): a `Point`, or the plain tuple `parallel` hands its processes
            signed_upto = chain_points[-1][0] if chain_points else 0
            next_point, index = (chain_points[0][0] if chain_points else 0), 0
            expected, prev, prev_b = 1, GENESIS, GENESIS.encode()
            template = (b'%s{"action":%s,"actor":%s,"at":"%sT%sZ","charter_version":%s,"dispute_id":'
                        + _quote(dispute).encode("utf-8").replace(b"%", b"%%")
                        + b',"payload":%s,"seq":%d,"tier":%d}')
        if (seq != expected or type(seq) is not int or prev_hash != prev or type(tier) is not int
                or type(payload) is not bytes or type(at) is not bytes or len(at) != 26 or at[10] != 32
                or at[0] == 48):  # 32: " ", 48: "0" (a year before 1000 is left to `walk`, where `iso` decides)
            return None
        try:  # only text is ever put here, and no other value equals a text
            q_action, q_actor, q_version = quoted[action], quoted[actor], quoted[version]
        except KeyError:
            if not (type(action) is str and type(actor) is str and type(version) is str):
                return None
            if len(quoted) > _CACHE_MAX:
                quoted.clear()
            q_action = quoted[action] = _quote(action).encode("utf-8")
            q_actor = quoted[actor] = _quote(actor).encode("utf-8")
            q_version = quoted[version] = _quote(version).encode("utf-8")
        made = sha256(template % (prev_b, q_action, q_actor, at[:10], at[11:], q_version, payload, seq, tier)
                      ).hexdigest()
        if made != hash_:
            return None
        if seq > signed_upto:
            if not _unsigned_sound(at, payload):
                return None
            unsigned += 1
        elif seq == next_point:
            if made != chain_points[index][1]:
                return None
            index += 1
            next_point = chain_points[index][0] if index < len(chain_points) else 0
        expected, prev, prev_b = seq + 1, made, made.encode("ascii")
    if dispute is not _NONE_YET:
        if signed_upto >= expected:
            return None
        heads[dispute] = (expected - 1, prev)
        count += expected - 1
    if complete and pointed != len(points):  # a signed chain is not there at all
        return None
    return Walked(events=count, disputes=disputes, unsigned=unsigned, heads=heads)


def _ahead(batches: Batches) -> Batches:
    """The batches, each fetched while the one before is checked: PostgreSQL reads and sends the next rows (the
    driver waits for them without the GIL) while this process hashes."""
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="parley-audit-read") as reader:
            coming = reader.submit(next, batches, None)
            while (batch := coming.result()) is not None:
                coming = reader.submit(next, batches, None)
                yield batch
    finally:  # the read in flight is done (the pool waited for it): the cursor can close
        batches.close()


def store(session: Session, upto: int, points: Mapping[str, list[Point]] | None, changed_since: int | None,
          complete: bool, chains: Chains | None = None) -> Walked | None:
    """The fast walk over the stored events (see `rows`); None when it cannot vouch for them."""
    events = rows(session, upto, changed_since, chains)
    if session.get_bind().dialect.name == "postgresql":
        events = _ahead(events)
    try:
        return walk(events, points or {}, complete=complete)
    except sqlite3.OperationalError as exc:  # text that is not UTF-8: `walk.Walk` reads it leniently
        if "decode" not in str(exc):
            raise
        return None
    finally:
        events.close()  # the cursor, now: `walk.Walk` may read next



def digest_over(session: Session, upto: int) -> tuple[int, str]:
    """(count, SHA-256 hex) over the stored hashes of the events with id <= upto, by id, as the digest covers
    them (`stored.digest_hashes`): their stored bytes, a damaged value as its text, NULL as nothing. Read in
    chunks rather than row by row: on PostgreSQL each chunk is one text the server puts together."""
    sha = hashlib.sha256()
    count = 0
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        last = 0
        while True:
            chunk = select(_T.id, type_coerce(_T.hash, NullType()).label("hash")).where(
                _T.id > last, _T.id <= upto).order_by(_T.id).limit(BATCH).subquery()
            joined_ = func.string_agg(chunk.c.hash, aggregate_order_by(literal_column("''"), chunk.c.id))
            joined, rows_, top = session.execute(select(joined_, func.count(), func.max(chunk.c.id))).one()
            if not rows_:
                return count, sha.hexdigest()
            sha.update((joined or "").encode("utf-8"))
            count += rows_
            last = top
    dbapi: Any = session.connection().connection.dbapi_connection
    cursor = dbapi.cursor()
    try:
        cursor.execute(str(select(cast(_T.hash, LargeBinary)).where(_T.id <= upto).order_by(_T.id).compile(
            dialect=bind.dialect, compile_kwargs={"literal_binds": True})))
        while batch := cursor.fetchmany(BATCH):
            sha.update(b"".join([value for (value,) in batch if value is not None]))
            count += len(batch)
    finally:
        cursor.close()
    return count, sha.hexdigest()
