"""The audit hash chain: idempotent appends, and verification that catches every kind of tampering."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlmodel import Session

from store import audit
from store.db import session
from store.tables import AUDIT_EVENTS
from tests.store.samples import T0, event

A = "PRL-A"
B = "PRL-B"


def record(engine: Engine, dispute_id: str, count: int) -> None:
    with session(engine, write=True) as s:
        for seq in range(1, count + 1):
            assert audit.append(s, event(dispute_id, seq))


@pytest.fixture
def trail(engine: Engine) -> Engine:
    """Two disputes: A with 5 events, B with 3."""
    record(engine, A, 5)
    record(engine, B, 3)
    return engine


def verify(engine: Engine, digest: str | None = None) -> audit.VerifyResult:
    with session(engine) as s:
        return audit.verify(s, digest)


def tamper(engine: Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def row(engine: Engine, dispute_id: str, seq: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(AUDIT_EVENTS).where(
            AUDIT_EVENTS.c.dispute_id == dispute_id, AUDIT_EVENTS.c.seq == seq)).one()


def assert_bad(result: audit.VerifyResult, dispute_id: str | None, seq: int | None, words: str) -> None:
    assert not result.ok
    assert result.first_bad is not None
    assert (result.first_bad.dispute_id, result.first_bad.seq) == (dispute_id, seq), result.first_bad
    assert words in result.first_bad.problem


# --- appending -------------------------------------------------------------------------------------

def test_append_is_idempotent(engine: Engine) -> None:
    with session(engine, write=True) as s:
        assert audit.append(s, event(A, 1)) is True
        assert audit.append(s, event(A, 1)) is False
    with session(engine, write=True) as s:
        assert audit.append(s, event(A, 1)) is False  # a retried activity, in a later transaction
        assert audit.append(s, event(A, 2)) is True
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 2
    assert verify(engine).ok


def test_append_links_each_event_to_the_one_before(engine: Engine) -> None:
    record(engine, A, 3)
    first, second = row(engine, A, 1), row(engine, A, 2)
    assert first.prev_hash == audit.GENESIS == "0" * 64
    assert second.prev_hash == first.hash
    expected = audit.chain_hash(first.hash, audit.canonical(audit.event_fields(event(A, 2))))
    assert second.hash == expected
    assert second.at == T0 + timedelta(seconds=2) and second.at.tzinfo is not None


def test_canonical_form() -> None:
    fields = audit.event_fields(event(A, 1, payload={"b": "é", "a": 1.5, "when": T0}))
    text_ = audit.canonical(fields)
    assert text_.startswith('{"action":"filed","actor":')
    assert '"at":"2025-03-03T09:00:01.123456Z"' in text_
    assert '"payload":{"a":1.5,"b":"é","when":"2025-03-03T09:00:00.123456Z"}' in text_
    assert " " not in text_.replace("rep.direct", "")


def test_append_refuses_gaps_and_conflicts(engine: Engine) -> None:
    record(engine, A, 1)
    with session(engine, write=True) as s, pytest.raises(audit.ChainError, match="before event 2"):
        audit.append(s, event(A, 3))
    with session(engine, write=True) as s, pytest.raises(audit.ChainError, match="different content"):
        audit.append(s, event(A, 1, actor="someone.else@example.com"))
    with session(engine, write=True) as s, pytest.raises(audit.ChainError, match="start at 1"):
        audit.append(s, event(A, 0))


# --- verifying an untouched trail ------------------------------------------------------------------

def test_verify_ok(trail: Engine) -> None:
    result = verify(trail)
    assert result.ok and result.first_bad is None
    assert (result.events, result.disputes) == (8, 2)
    version, max_id, count, sha = result.digest.split(":")
    assert version == "v1" and int(count) == 8 and int(max_id) >= 8 and len(sha) == 64
    assert verify(trail, result.digest).ok
    assert result.as_dict()["first_bad"] is None


def test_verify_empty_trail(engine: Engine) -> None:
    result = verify(engine)
    assert result.ok and result.events == 0 and result.disputes == 0
    assert result.digest.startswith("v1:0:0:")
    assert verify(engine, result.digest).ok


def test_a_digest_stays_valid_while_the_trail_grows(trail: Engine) -> None:
    saved = verify(trail).digest
    with session(trail, write=True) as s:
        audit.append(s, event(A, 6))
        audit.append(s, event("PRL-C", 1))
    result = verify(trail, saved)
    assert result.ok and result.events == 10 and result.digest != saved


# --- tampering -------------------------------------------------------------------------------------

def test_edited_payload_is_detected(trail: Engine) -> None:
    tamper(trail, "UPDATE audit_events SET payload = :p WHERE dispute_id = :d AND seq = 3",
           p='{"n":3,"text":"nothing to see"}', d=A)
    assert_bad(verify(trail), A, 3, "hash mismatch")


def test_edited_actor_is_detected(trail: Engine) -> None:
    tamper(trail, "UPDATE audit_events SET actor = 'mallory@example.com' WHERE dispute_id = :d AND seq = 2", d=B)
    assert_bad(verify(trail), B, 2, "hash mismatch")


def test_payload_that_is_no_longer_json_is_detected(trail: Engine) -> None:
    tamper(trail, "UPDATE audit_events SET payload = 'not json' WHERE dispute_id = :d AND seq = 1", d=B)
    assert_bad(verify(trail), B, 1, "hash mismatch")


def test_deleted_middle_event_is_detected(trail: Engine) -> None:
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d AND seq = 3", d=A)
    assert_bad(verify(trail), A, 3, "event 3 is missing")


def test_deleted_first_event_is_detected(trail: Engine) -> None:
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d AND seq = 1", d=B)
    assert_bad(verify(trail), B, 1, "event 1 is missing")


def test_deleted_last_event_needs_the_digest(trail: Engine) -> None:
    saved = verify(trail).digest
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d AND seq = 5", d=A)
    alone = verify(trail)
    assert alone.ok and alone.events == 7  # a shorter chain is still a valid chain
    assert_bad(verify(trail, saved), None, None, audit.DIGEST_CHANGED)


def test_deleted_dispute_needs_the_digest(trail: Engine) -> None:
    saved = verify(trail).digest
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d", d=B)
    assert verify(trail).ok
    assert_bad(verify(trail, saved), None, None, "events missing or changed since the digest was taken")


def test_swapped_events_are_detected(trail: Engine) -> None:
    tamper(trail, "UPDATE audit_events SET seq = -2 WHERE dispute_id = :d AND seq = 2", d=A)
    tamper(trail, "UPDATE audit_events SET seq = 2 WHERE dispute_id = :d AND seq = 3", d=A)
    tamper(trail, "UPDATE audit_events SET seq = 3 WHERE dispute_id = :d AND seq = -2", d=A)
    assert_bad(verify(trail), A, 2, "hash mismatch")


def _forge(engine: Engine, dispute_id: str, seq: int, prev_hash: str, **changes: Any) -> str:
    fields = audit.event_fields(event(dispute_id, seq, actor="mallory@example.com", **changes))
    hash_ = audit.chain_hash(prev_hash, audit.canonical(fields))
    with engine.begin() as conn:
        conn.execute(insert(AUDIT_EVENTS).values(
            **{**fields, "at": T0, "payload": audit.canonical(fields["payload"])}, prev_hash=prev_hash, hash=hash_))
    return hash_


def _make_room(engine: Engine, dispute_id: str, at_seq: int, last_seq: int) -> None:
    for seq in range(last_seq, at_seq - 1, -1):
        tamper(engine, "UPDATE audit_events SET seq = seq + 1 WHERE dispute_id = :d AND seq = :s",
               d=dispute_id, s=seq)


def test_inserted_event_is_detected(trail: Engine) -> None:
    # a well-formed forgery at seq 3, linked to event 2; the real events move up by one
    _make_room(trail, A, 3, 5)
    _forge(trail, A, 3, row(trail, A, 2).hash, payload={"text": "forged"}, at=T0)
    assert_bad(verify(trail), A, 4, "hash mismatch")  # the real event 3 does not hash as event 4


def test_appended_event_with_a_bad_hash_is_detected(trail: Engine) -> None:
    with trail.begin() as conn:
        conn.execute(insert(AUDIT_EVENTS).values(
            dispute_id=B, seq=4, at=T0, actor="mallory@example.com", action="decided", tier=3, payload="{}",
            charter_version="fast@1:abc123", prev_hash=row(trail, B, 3).hash, hash="f" * 64))
    assert_bad(verify(trail), B, 4, "hash mismatch")


def test_rewritten_chain_needs_the_digest(trail: Engine) -> None:
    # the strongest forger recomputes every hash after the insertion: only the digest can tell
    saved = verify(trail).digest
    _make_room(trail, A, 3, 5)
    prev = _forge(trail, A, 3, row(trail, A, 2).hash, payload={"text": "forged"}, at=T0)
    for seq in (4, 5, 6):
        old = row(trail, A, seq)
        fields = {name: getattr(old, name) for name in audit.EVENT_FIELDS}
        fields["payload"] = json.loads(old.payload)
        new_hash = audit.chain_hash(prev, audit.canonical(fields))
        tamper(trail, "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE dispute_id = :d AND seq = :s",
               p=prev, h=new_hash, d=A, s=seq)
        prev = new_hash
    assert verify(trail).ok
    assert_bad(verify(trail, saved), None, None, audit.DIGEST_CHANGED)


def test_edit_with_recomputed_hash_breaks_the_next_link(trail: Engine) -> None:
    old = row(trail, A, 2)
    fields = {name: getattr(old, name) for name in audit.EVENT_FIELDS}
    fields["payload"] = {"text": "rewritten"}
    new_hash = audit.chain_hash(old.prev_hash, audit.canonical(fields))
    tamper(trail, "UPDATE audit_events SET payload = :p, hash = :h WHERE dispute_id = :d AND seq = 2",
           p=audit.canonical(fields["payload"]), h=new_hash, d=A)
    assert_bad(verify(trail), A, 3, "broken link")


def test_chain_problem_is_reported_before_the_digest(trail: Engine) -> None:
    saved = verify(trail).digest
    tamper(trail, "UPDATE audit_events SET action = 'withdrawn' WHERE dispute_id = :d AND seq = 4", d=A)
    assert_bad(verify(trail, saved), A, 4, "hash mismatch")


@pytest.mark.parametrize("digest", [
    "", "v1", "v2:1:1:" + "a" * 64, "v1:x:1:" + "a" * 64, "v1:1:1:" + "a" * 63, "v1:1:1:" + "A" * 64,
    "v1:1:1:" + "g" * 64, "v1:1:" + "a" * 64, "v1:-1:1:" + "a" * 64,
])
def test_malformed_digest_is_refused(digest: str) -> None:
    with pytest.raises(ValueError, match="malformed digest"):
        audit.parse_digest(digest)


def test_verify_refuses_a_malformed_digest(engine: Engine) -> None:
    with session(engine) as s, pytest.raises(ValueError, match=r"expected 'v1:<max_id>:<count>:"):
        audit.verify(s, "not-a-digest")


# --- export ----------------------------------------------------------------------------------------

def _rehash(records: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """Check a chain from exported records with nothing but the published rules."""
    prev: dict[str, str] = {}
    for rec in records:
        fields = {name: rec[name] for name in audit.EVENT_FIELDS}
        expected_prev = prev.get(rec["dispute_id"], "0" * 64)
        assert rec["prev_hash"] == expected_prev
        yield rec["hash"], audit.chain_hash(expected_prev, audit.canonical(fields))
        prev[rec["dispute_id"]] = rec["hash"]


def test_export_jsonl_round_trip(trail: Engine) -> None:
    with session(trail) as s:
        lines = list(audit.export(s, "jsonl"))
        api_view = audit.events_for(s, A)
    assert len(lines) == 8 and all(line.endswith("\n") for line in lines)
    records = [json.loads(line) for line in lines]
    assert [(r["dispute_id"], r["seq"]) for r in records] == [(A, n) for n in range(1, 6)] + [(B, n) for n in (1, 2, 3)]
    assert set(records[0]) == set(audit.RECORD_FIELDS)
    assert records[0]["at"] == "2025-03-03T09:00:01.123456Z"
    assert records[1]["payload"]["text"] == "événement 2 — ünïcødé"
    assert records[:5] == api_view
    for stored, recomputed in _rehash(records):
        assert stored == recomputed


def test_export_csv_round_trip(trail: Engine) -> None:
    with session(trail) as s:
        body = "".join(audit.export(s, "csv"))
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 8 and list(rows[0]) == list(audit.RECORD_FIELDS)
    records = [{**r, "seq": int(r["seq"]), "tier": int(r["tier"]), "payload": json.loads(r["payload"])}
               for r in rows]
    for stored, recomputed in _rehash(records):
        assert stored == recomputed


def test_export_refuses_unknown_formats(engine: Engine) -> None:
    with session(engine) as s, pytest.raises(ValueError, match="unknown export format"):
        list(audit.export(s, "xml"))  # type: ignore[arg-type]


# --- scale -----------------------------------------------------------------------------------------

def _bulk_trail(engine: Engine, disputes: int, per_dispute: int) -> None:
    rows = []
    for d in range(disputes):
        prev = audit.GENESIS
        for seq in range(1, per_dispute + 1):
            fields = audit.event_fields(event(f"PRL-{d:04d}", seq))
            hash_ = audit.chain_hash(prev, audit.canonical(fields))
            rows.append({**fields, "at": T0 + timedelta(seconds=seq), "payload": audit.canonical(fields["payload"]),
                         "prev_hash": prev, "hash": hash_})
            prev = hash_
    with engine.begin() as conn:
        conn.execute(insert(AUDIT_EVENTS), rows)


def test_verify_streams_a_large_trail(engine: Engine) -> None:
    _bulk_trail(engine, disputes=48, per_dispute=250)  # 12,000 events, several batches
    result = verify(engine)
    assert result.ok and (result.events, result.disputes) == (12_000, 48)
    tamper(engine, "UPDATE audit_events SET tier = 3 WHERE dispute_id = 'PRL-0031' AND seq = 200")
    assert_bad(verify(engine, result.digest), "PRL-0031", 200, "hash mismatch")
    with session(engine) as s:
        assert sum(1 for _ in audit.export(s, "jsonl")) == 12_000


def test_small_batches_cross_dispute_boundaries(trail: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = verify(trail)
    monkeypatch.setattr(audit, "BATCH", 3)
    result = verify(trail)
    assert result == expected
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d AND seq = 4", d=A)
    assert_bad(verify(trail), A, 4, "missing")


def test_export_still_works_when_a_payload_is_damaged(trail: Engine) -> None:
    tamper(trail, "UPDATE audit_events SET payload = 'not json' WHERE dispute_id = :d AND seq = 2", d=B)
    with session(trail) as s:
        records = [json.loads(line) for line in audit.export(s, "jsonl")]
    assert records[6]["payload"] == "not json"


def test_digest_waits_for_writers_in_flight(engine: Engine) -> None:
    """PostgreSQL hands out ids before commit: a digest must not cover an id whose row is not visible."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time, so its ids are in commit order")
    record(engine, A, 1)
    slow = Session(engine)
    audit.append(slow, event(B, 1))  # takes the next id, commits later
    record(engine, "PRL-C", 1)  # a higher id, committed first
    result: list[audit.VerifyResult] = []
    reader = threading.Thread(target=lambda: result.append(verify(engine)))
    reader.start()
    reader.join(timeout=0.5)
    assert reader.is_alive()  # the digest waits for the writer in flight...
    slow.commit()
    slow.close()
    reader.join(timeout=10)
    assert result and result[0].ok and result[0].events == 3  # ...and then covers its event
    assert verify(engine, result[0].digest).ok
