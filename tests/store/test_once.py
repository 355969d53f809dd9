"""Claims that hold across processes (`store.once`), on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from store import once

T0 = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_one_claim_wins_among_many(engine: Engine) -> None:
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: once.claim(engine, "slack:abc", "slack", HOUR, now=T0), range(16)))
    assert wins.count(True) == 1


def test_a_settled_answer_is_recalled(engine: Engine) -> None:
    assert once.claim(engine, "idem:1:k", "idempotency", HOUR, fingerprint="f1", now=T0)
    seen = once.recall(engine, "idem:1:k")
    assert seen is not None and seen.status is None and seen.fingerprint == "f1"
    once.settle(engine, "idem:1:k", 201, '{"id": "PRL-1"}')
    seen = once.recall(engine, "idem:1:k")
    assert seen is not None and (seen.status, seen.result) == (201, '{"id": "PRL-1"}')
    assert once.recall(engine, "idem:1:other") is None


def test_an_expired_claim_can_be_claimed_again(engine: Engine) -> None:
    assert once.claim(engine, "press:x", "press", HOUR, now=T0)
    assert not once.claim(engine, "press:x", "press", HOUR, now=T0 + HOUR - timedelta(seconds=1))
    assert once.claim(engine, "press:x", "press", HOUR, now=T0 + HOUR)


def test_release_and_purge(engine: Engine) -> None:
    assert once.claim(engine, "a", "press", HOUR, now=T0)
    once.release(engine, "a")
    assert once.claim(engine, "a", "press", HOUR, now=T0)
    assert once.claim(engine, "b", "press", 2 * HOUR, now=T0)
    assert once.purge(engine, now=T0 + HOUR) == 1
    assert once.recall(engine, "a") is None and once.recall(engine, "b") is not None
