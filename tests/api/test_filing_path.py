"""What a filing asks of the store, besides the dispute itself: a keyed filing claims its `Idempotency-Key` in
one statement (`store.once.claim_or_recall`) and keeps its answer in one more; routing reads the absences
once per filing (`store.absences`), however many times it asks at that moment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session

from store import absences, once
from store.db import session
from tests.api.conftest import Api, filing

T0 = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@contextmanager
def statements(about: str) -> Iterator[list[str]]:
    """The first word of every SQL statement, in this process, whose text or parameters mention `about`."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if about in statement or about in repr(parameters):
            seen.append(statement.split()[0].upper())

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


async def test_a_keyed_filing_claims_its_key_in_one_statement_and_a_retry_recalls_it(api: Api) -> None:
    key = uuid.uuid4().hex
    headers = {**api.auth("dana"), "Idempotency-Key": key}
    body = filing(title=f"Filing path {key[:6]}")
    with statements(key) as seen:
        first = await api.http.post("/api/disputes", headers=headers, json=body)
        assert first.status_code == 201, first.text
        assert seen == ["INSERT", "UPDATE"]  # claimed (the row comes back), then the answer kept
        seen.clear()
        again = await api.http.post("/api/disputes", headers=headers, json=body)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert seen == ["INSERT", "SELECT"]  # taken already: its answer read back


def test_claim_or_recall_answers_as_claim_then_recall(engine: Engine) -> None:
    mine = once.claim_or_recall(engine, "idem:1:k", "idempotency", HOUR, "f1", now=T0)
    assert mine is not None and (mine.fingerprint, mine.status, mine.result, mine.created_at) == ("f1", None, None, T0)
    assert once.recall(engine, "idem:1:k") == mine
    assert not once.claim(engine, "idem:1:k", "idempotency", HOUR, "f2", now=T0 + HOUR / 2)
    assert once.claim_or_recall(engine, "idem:1:k", "idempotency", HOUR, "f2", now=T0 + HOUR / 2) == mine
    once.settle(engine, "idem:1:k", 201, '{"id": "PRL-1"}')
    kept = once.claim_or_recall(engine, "idem:1:k", "idempotency", HOUR, "f2", now=T0 + HOUR / 2)
    assert kept is not None and (kept.fingerprint, kept.status, kept.result) == ("f1", 201, '{"id": "PRL-1"}')
    fresh = once.claim_or_recall(engine, "idem:1:k", "idempotency", HOUR, "f3", now=T0 + HOUR)  # expired: anew
    assert fresh is not None and (fresh.fingerprint, fresh.status, fresh.result, fresh.created_at) == (
        "f3", None, None, T0 + HOUR)


def test_one_of_many_claims_wins_and_all_see_its_row(engine: Engine) -> None:
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(lambda n: once.claim_or_recall(engine, "idem:1:race", "idempotency", HOUR, f"f{n}",
                                                              now=T0), range(16)))
    assert all(r is not None for r in rows) and len(set(rows)) == 1
    with ThreadPoolExecutor(8) as pool:  # expired: exactly one takes it over
        wins = list(pool.map(lambda _: once.claim(engine, "idem:1:race", "idempotency", HOUR, now=T0 + HOUR),
                             range(16)))
    assert wins.count(True) == 1


def test_the_absences_are_read_once_per_session_and_moment(engine: Engine) -> None:
    with session(engine) as s:  # ann is away now, bob (her delegate) next week
        absences.save(s, email="ann@example.com", starts_on=date(2026, 3, 10), ends_on=date(2026, 3, 12),
                      time_zone="UTC", delegate="bob@example.com", set_by="admin")
        absences.save(s, email="bob@example.com", starts_on=date(2026, 3, 16), ends_on=date(2026, 3, 20),
                      time_zone="UTC", delegate="cy@example.com", set_by="admin")
    with statements("absences") as seen, Session(engine) as s:
        assert absences.stand_ins(s, T0) == {"ann@example.com": "bob@example.com"}
        told = absences.absences_of(s, ["ann@example.com"], T0)
        assert [(a.email, a.stand_in) for a in told] == [("ann@example.com", "bob@example.com"),
                                                          ("bob@example.com", "cy@example.com")]
        assert seen == ["SELECT"]
        assert absences.stand_ins(s, T0 + timedelta(days=6)) == {"bob@example.com": "cy@example.com"}
        assert seen == ["SELECT"] * 2  # another moment: read again
        absences.clear(s, "bob@example.com")
        assert [a.email for a in absences.absences_of(s, ["ann@example.com"], T0 + timedelta(days=6))] == []
        assert absences.stand_ins(s, T0) == {"ann@example.com": "bob@example.com"}
        assert seen == ["SELECT", "SELECT", "DELETE", "SELECT", "SELECT"]  # after a change, each moment anew
