"""The fast walk (`store.audit.fast`) vouches for exactly the trails the event-by-event walk finds sound, with
the same counts and heads, and gives up on every other one (which the walk then reports)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, text

from store import audit
from store.audit import checkpoints, fast
from store.audit.stored import event_rows, max_id
from store.audit.walk import Walk, Walked, at_sqlite, at_utc
from store.db import session
from store.tables import AUDIT_EVENTS
from tests.store.samples import event

KEY = Ed25519PrivateKey.generate()
A, B, C = "PRL-A", "PRL-%d \"B\"", "PRL-C"


def record(engine: Engine, dispute_id: str, first: int, last: int, **changes: Any) -> None:
    with session(engine, write=True) as s:
        for seq in range(first, last + 1):
            assert audit.append(s, event(dispute_id, seq, **changes))


def walks(engine: Engine, complete: bool = True) -> tuple[Walked | None, Walked]:
    """(the fast walk, the event-by-event walk) of the whole trail against the signed checkpoints."""
    with session(engine) as s:
        signed = checkpoints.signed(s, KEY.public_key())
        assert signed.problem is None
        upto = max_id(s)
        quick = fast.store(s, upto, signed.points, None, complete=complete)
        at_of = at_utc if engine.dialect.name == "postgresql" else at_sqlite
        slow = Walk(at_of, signed.points, complete=complete).run(event_rows(s, upto, lenient=True))
    return quick, slow


def same(quick: Walked | None, slow: Walked) -> None:
    assert slow.first_bad is None, slow.first_bad
    assert quick is not None
    assert (quick.events, quick.disputes, quick.unsigned, quick.heads) == \
        (slow.events, slow.disputes, slow.unsigned, slow.heads)


@pytest.fixture
def trail(engine: Engine) -> Engine:
    """A (5 events) and B (3, with a quote and a % in its id) signed by checkpoint 1, A's 6 and 7 by checkpoint
    2, then A's 8 and C unsigned; odd times (no microseconds, trailing zeros) and awkward text."""
    record(engine, A, 1, 5)
    record(engine, B, 1, 3, actor='o"brien\\%s@example.com', at=datetime(2025, 3, 3, 9, 0, 0, tzinfo=UTC))
    assert checkpoints.create(engine, KEY).checkpoint is not None
    record(engine, A, 6, 7, at=datetime(2025, 3, 4, 9, 0, 0, 120000, tzinfo=UTC), action="ruled")
    assert checkpoints.create(engine, KEY).checkpoint is not None
    record(engine, A, 8, 8, payload={"text": "tab\there, \"quoted\", \u2028 and 𝄞", "n": 1.0, "big": 10**20})
    record(engine, C, 1, 2, charter_version="other@2:%s")
    return engine


def test_a_sound_trail_is_vouched_for_as_the_walk_does(trail: Engine) -> None:
    quick, slow = walks(trail)
    same(quick, slow)
    assert (slow.events, slow.disputes, slow.unsigned) == (13, 3, 3)
    with session(trail) as s:
        result = audit.verify(s, public_key=KEY.public_key())
    assert result.ok and result.unsigned_events == 3


def test_a_signing_walk_over_changed_chains_is_the_same(trail: Engine) -> None:
    with session(trail) as s:
        signed = checkpoints.signed(s, KEY.public_key())
        upto = max_id(s)
        since = signed.latest.max_event_id if signed.latest else 0
        quick = fast.store(s, upto, signed.points, since, complete=False)
        at_of = at_utc if trail.dialect.name == "postgresql" else at_sqlite
        slow = Walk(at_of, signed.points, every_chain=True, complete=False).run(
            event_rows(s, upto, since, lenient=True))
    same(quick, slow)
    assert set(slow.heads) == {A, C}


def test_events_hashed_under_the_first_rule_are_vouched_for(engine: Engine) -> None:
    fields = audit.event_fields(event("PRL-OLD", 1, payload={"amount": 2.0}))
    payload = audit.canonical_v1(fields["payload"])  # "2.0": rule 1's text
    hash_ = audit.chain_hash(audit.GENESIS, audit.event_text(
        fields["dispute_id"], 1, fields["at"], fields["actor"], fields["action"], fields["tier"], payload,
        fields["charter_version"]))
    with engine.begin() as conn:
        conn.execute(insert(AUDIT_EVENTS).values(**{**fields, "at": event("PRL-OLD", 1).at, "payload": payload},
                                                 prev_hash=audit.GENESIS, hash=hash_))
    same(*walks(engine))
    assert checkpoints.create(engine, KEY).checkpoint is not None
    quick, slow = walks(engine)
    same(quick, slow)
    assert slow.unsigned == 0


BOTH = ["sqlite", "postgresql"]


def a(seq: int) -> str:
    return f"WHERE dispute_id = 'PRL-A' AND seq = {seq}"


TAMPERING: list[tuple[str, list[str], str]] = [
    ("a signed actor", BOTH, f"UPDATE audit_events SET actor = 'mallory@example.com' {a(2)}"),
    ("an unsigned payload", BOTH, f"UPDATE audit_events SET payload = replace(payload, ':', ': ') {a(8)}"),
    ("a signed payload's spacing", BOTH, f"UPDATE audit_events SET payload = replace(payload, ':', ': ') {a(3)}"),
    ("a prev_hash", BOTH, f"UPDATE audit_events SET prev_hash = upper(prev_hash) {a(4)}"),
    ("a hash column", BOTH, "UPDATE audit_events SET hash = upper(hash) WHERE dispute_id = 'PRL-C' AND seq = 2"),
    ("a deleted middle event", BOTH, f"DELETE FROM audit_events {a(3)}"),
    ("the deleted signed head", BOTH, "DELETE FROM audit_events WHERE dispute_id = 'PRL-A' AND seq >= 7"),
    ("a deleted signed chain", BOTH, "DELETE FROM audit_events WHERE dispute_id LIKE 'PRL-%d%'"),
    ("a signed time", BOTH, f"UPDATE audit_events SET at = at + interval '1 microsecond' {a(1)}"),
    ("a time before the common era", ["postgresql"],
     f"UPDATE audit_events SET at = at - interval '4050 years' {a(1)}"),
    ("a time that is not one", ["sqlite"], f"UPDATE audit_events SET at = at || ' ' {a(1)}"),
    ("a payload stored as binary", ["sqlite"], f"UPDATE audit_events SET payload = CAST(payload AS BLOB) {a(2)}"),
    ("a time stored as binary", ["sqlite"], f"UPDATE audit_events SET at = CAST(at AS BLOB) {a(2)}"),
    ("a tier stored as a real", ["sqlite"], f"UPDATE audit_events SET tier = 1.5 {a(2)}"),
    ("a tier stored as text", ["sqlite"], f"UPDATE audit_events SET tier = 'one' {a(2)}"),
    ("an actor stored as binary", ["sqlite"], f"UPDATE audit_events SET actor = CAST(actor AS BLOB) {a(2)}"),
    ("text that is not UTF-8", ["sqlite"], f"UPDATE audit_events SET action = CAST(x'ff' AS TEXT) {a(2)}"),
    ("a dispute id stored as a number", ["sqlite"],
     "UPDATE audit_events SET dispute_id = 7 WHERE dispute_id = 'PRL-C'"),
]


def _sqlite_time(sql: str) -> str:
    return sql.replace("at + interval '1 microsecond'", "replace(at, '.123', '.124')")


@pytest.mark.parametrize(("what", "stores", "sql"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_the_fast_walk_gives_up_on_whatever_the_walk_reports(trail: Engine, what: str, stores: list[str],
                                                               sql: str) -> None:
    if trail.dialect.name not in stores:
        pytest.skip(f"{what}: not something {trail.dialect.name} can hold")
    with trail.begin() as conn:
        conn.execute(text(_sqlite_time(sql) if trail.dialect.name == "sqlite" else sql))
    quick, slow = walks(trail)
    assert slow.first_bad is not None, what
    assert quick is None, what


def test_a_trail_of_many_chains_is_vouched_for_in_one_pass(engine: Engine) -> None:
    rows: list[dict[str, Any]] = []
    for c in range(40):
        prev = audit.GENESIS
        for seq in range(1, 6):
            fields = audit.event_fields(event(f"PRL-{c:03d}", seq, at=event().at + timedelta(minutes=c)))
            payload = audit.canonical(fields["payload"])
            hash_ = audit.chain_hash(prev, audit.event_text(
                fields["dispute_id"], seq, fields["at"], fields["actor"], fields["action"], fields["tier"], payload,
                fields["charter_version"]))
            rows.append({**fields, "at": datetime.fromisoformat(fields["at"].replace("Z", "+00:00")),
                         "payload": payload, "prev_hash": prev, "hash": hash_})
            prev = hash_
    with engine.begin() as conn:
        conn.execute(insert(AUDIT_EVENTS), rows)
    assert checkpoints.create(engine, KEY).checkpoint is not None
    quick, slow = walks(engine)
    same(quick, slow)
    assert (slow.events, slow.disputes, slow.unsigned) == (200, 40, 0)


def test_the_digest_is_the_same_read_in_chunks(trail: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from store.audit.stored import digest_hashes

    monkeypatch.setattr(fast, "BATCH", 4)
    with session(trail) as s:
        upto = max_id(s)
        for last in (upto, upto - 3, 1, 0):
            sha = hashlib.sha256()
            count = 0
            for hash_ in digest_hashes(s, last):
                sha.update(hash_)
                count += 1
            assert fast.digest_over(s, last) == (count, sha.hexdigest())

