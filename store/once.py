"""Taking effect once across every process: the claims behind Slack replay protection, double-press
guards and the `Idempotency-Key` header (table `once_keys`).

`claim` inserts the key or finds it taken: exactly one caller of many, in any number of processes,
gets True. The winner may `settle` the key with its answer; a later caller `recall`s that answer.
`claim_or_recall` is both in one statement (the `Idempotency-Key` asks it of every keyed request): the
key's row, claimed now or as an earlier caller left it. A claim that is never settled (the process
died) can be `release`d or left to expire.

On SQLite and PostgreSQL a claim is one `INSERT .. ON CONFLICT (key) DO UPDATE .. WHERE expired
RETURNING ..`: a new key is inserted, an expired one taken over (as if deleted, then inserted), a live
one left alone, and only the winner gets a row back. The statements are built once, with bound
parameters: building them cost about as much as running them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session

from store.db import insert_or_ignore, session
from store.tables import ONCE_KEYS, utcnow

_C = ONCE_KEYS.c
_SEEN = (_C.fingerprint, _C.status, _C.result, _C.created_at)  # what `Seen` reads of a row
_RECALL = select(*_SEEN).where(_C.key == bindparam("k"))
_SETTLE = update(ONCE_KEYS).where(_C.key == bindparam("k")).values(status=bindparam("st"), result=bindparam("res"))
_RELEASE = delete(ONCE_KEYS).where(_C.key == bindparam("k"))
_NEW = ("key", "scope", "fingerprint", "created_at", "expires_at")  # the columns a claim writes


def _claiming(dialect: str) -> Insert:
    """The claim for `dialect`: inserts the key, or takes over its expired row; returns the row it wrote."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ONCE_KEYS).values({name: bindparam(name, type_=_C[name].type) for name in _NEW})
    taken_over = {name: stmt.excluded[name] for name in _NEW[1:]} | {"status": None, "result": None}
    return stmt.on_conflict_do_update(index_elements=[_C.key], set_=taken_over,
                                      where=_C.expires_at <= bindparam("now", type_=_C.expires_at.type)
                                      ).returning(*_SEEN)


_CLAIM: dict[str, Insert] = {name: _claiming(name) for name in ("sqlite", "postgresql")}


@dataclass(frozen=True)
class Seen:
    """A key that was claimed before: what it was first used for and, once settled, the answer."""

    fingerprint: str
    status: int | None
    result: str | None
    created_at: datetime


def claim(engine: Engine, key: str, scope: str, ttl: timedelta, fingerprint: str = "",
          now: datetime | None = None) -> bool:
    """True when this caller is the first to use `key` (within its time to live)."""
    now = now or utcnow()
    with session(engine, write=True) as s:
        return _claim(s, key, scope, ttl, fingerprint, now) is not None


def claim_or_recall(engine: Engine, key: str, scope: str, ttl: timedelta, fingerprint: str = "",
                    now: datetime | None = None) -> Seen | None:
    """The key's row, claimed by this caller (as `claim`) or as an earlier caller left it (as `recall`), in one
    transaction; None in the rare case the row expired and was purged in between (ask again)."""
    now = now or utcnow()
    with session(engine, write=True) as s:
        row = _claim(s, key, scope, ttl, fingerprint, now)
        if row is None:
            row = s.execute(_RECALL, {"k": key}).first()
    return None if row is None else _seen(row)


def recall(engine: Engine, key: str) -> Seen | None:
    with session(engine) as s:
        row = s.execute(_RECALL, {"k": key}).first()
    return None if row is None else _seen(row)


def settle(engine: Engine, key: str, status: int, result: str) -> None:
    """Keep the first answer given under `key`."""
    with session(engine, write=True) as s:
        s.execute(_SETTLE, {"k": key, "st": status, "res": result})


def release(engine: Engine, key: str) -> None:
    """Give the key up (the work failed before it could take effect), so that a retry may claim it."""
    with session(engine, write=True) as s:
        s.execute(_RELEASE, {"k": key})


def purge(engine: Engine, now: datetime | None = None) -> int:
    """Forget every expired key; returns how many."""
    with session(engine, write=True) as s:
        result = s.execute(delete(ONCE_KEYS).where(_C.expires_at <= (now or utcnow())))
        return int(getattr(result, "rowcount", 0) or 0)


def _claim(s: Session, key: str, scope: str, ttl: timedelta, fingerprint: str, now: datetime) -> Row[Any] | None:
    """The row this caller wrote (the key was free or expired), or None (the key is taken)."""
    values = {"key": key, "scope": scope, "fingerprint": fingerprint, "created_at": now, "expires_at": now + ttl}
    stmt = _CLAIM.get(s.get_bind().dialect.name)
    if stmt is not None:
        return s.execute(stmt, {**values, "now": now}).first()
    # another database: the expired row goes, then an insert that a concurrent claimer may beat
    s.execute(delete(ONCE_KEYS).where(_C.key == key, _C.expires_at <= now))
    if not insert_or_ignore(s, ONCE_KEYS, values, ["key"]):
        return None
    return s.execute(_RECALL, {"k": key}).first()


def _seen(row: Row[Any]) -> Seen:
    return Seen(fingerprint=row.fingerprint, status=row.status, result=row.result, created_at=row.created_at)
