"""Taking effect once across every process: the claims behind Slack replay protection, double-press
guards and the `Idempotency-Key` header (table `once_keys`).

`claim` inserts the key or finds it taken: exactly one caller of many, in any number of processes,
gets True. The winner may `settle` the key with its answer; a later caller `recall`s that answer.
A claim that is never settled (the process died) can be `release`d or left to expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from store.db import insert_or_ignore, session
from store.tables import ONCE_KEYS, utcnow


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
        s.execute(delete(ONCE_KEYS).where(ONCE_KEYS.c.key == key, ONCE_KEYS.c.expires_at <= now))
        return insert_or_ignore(s, ONCE_KEYS, {"key": key, "scope": scope, "fingerprint": fingerprint,
                                               "created_at": now, "expires_at": now + ttl}, ["key"])


def recall(engine: Engine, key: str) -> Seen | None:
    with session(engine) as s:
        row = s.execute(select(ONCE_KEYS).where(ONCE_KEYS.c.key == key)).first()
    if row is None:
        return None
    return Seen(fingerprint=row.fingerprint, status=row.status, result=row.result, created_at=row.created_at)


def settle(engine: Engine, key: str, status: int, result: str) -> None:
    """Keep the first answer given under `key`."""
    with session(engine, write=True) as s:
        s.execute(update(ONCE_KEYS).where(ONCE_KEYS.c.key == key).values(status=status, result=result))


def release(engine: Engine, key: str) -> None:
    """Give the key up (the work failed before it could take effect), so that a retry may claim it."""
    with session(engine, write=True) as s:
        s.execute(delete(ONCE_KEYS).where(ONCE_KEYS.c.key == key))


def purge(engine: Engine, now: datetime | None = None) -> int:
    """Forget every expired key; returns how many."""
    with session(engine, write=True) as s:
        result = s.execute(delete(ONCE_KEYS).where(ONCE_KEYS.c.expires_at <= (now or utcnow())))
        return int(getattr(result, "rowcount", 0) or 0)
