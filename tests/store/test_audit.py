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
    monkeypatch.setattr(audit.stored, "BATCH", 3)
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


# --- damage: stored values that are not what Parley writes ---------------------------------------------
# Damage is tampering: verification reports it as the first bad event (never raises), and the export
# still writes every event, a damaged value as its stored text. PostgreSQL's types limit what can be
# stored (times such as 'infinity', bad hashes, NULLs once the constraints are dropped); SQLite keeps
# any value in any column, so it also gets text in its time and number columns.

UNCHECKED = object()  # an exported value the test does not pin down (PostgreSQL renders it per session)


def allow_nulls(engine: Engine) -> None:
    """What an insider with the owner's rights can do first: drop the NOT NULL constraints."""
    columns = [c.name for c in AUDIT_EVENTS.c if c.name != "id"]
    if engine.dialect.name == "postgresql":
        for name in columns:
            tamper(engine, f"ALTER TABLE audit_events ALTER COLUMN {name} DROP NOT NULL")
        return
    listed = ", ".join(["id", *columns])
    tamper(engine, "CREATE TABLE loose (id INTEGER PRIMARY KEY AUTOINCREMENT, dispute_id VARCHAR, seq INTEGER, "
                   "at DATETIME, actor VARCHAR, action VARCHAR, tier INTEGER, payload TEXT, charter_version VARCHAR, "
                   "prev_hash VARCHAR, hash VARCHAR)")
    tamper(engine, f"INSERT INTO loose ({listed}) SELECT {listed} FROM audit_events")
    tamper(engine, "DROP TABLE audit_events")
    tamper(engine, "ALTER TABLE loose RENAME TO audit_events")


def damaged(engine: Engine, event_id: int, column: str, stored: Any) -> list[dict[str, Any]]:
    """Every read of the trail still works, and the export holds every event with the stored value."""
    with session(engine) as s:
        records = [json.loads(line) for line in audit.export(s, "jsonl")]
        table = list(csv.DictReader(io.StringIO("".join(audit.export(s, "csv")))))
        shown = audit.events_for(s, A) + audit.events_for(s, B)
        audit.digest(s)
    assert len(records) == len(table) == 8
    assert [r["id"] for r in records] == [int(r["id"]) for r in table]
    assert len(shown) >= 7
    if stored is not UNCHECKED:
        record_ = next(r for r in records if r["id"] == event_id)
        assert record_[column] == stored, record_
        line = next(r for r in table if r["id"] == str(event_id))
        assert line[column] == ("" if stored is None else str(stored)), line
    return records


def assert_damage(engine: Engine, where: tuple[str | None, int | None], words: str, event_id: int,
                  column: str, stored: Any) -> None:
    result = verify(engine)
    assert_bad(result, *where, words)
    assert result.first_bad is not None and result.first_bad.event_id == event_id
    assert f"event id {event_id}" in result.first_bad.problem
    damaged(engine, event_id, column, stored)


@pytest.mark.parametrize(("value", "stored"), [
    ("infinity", "infinity"),
    ("-infinity", "-infinity"),
    ("12000-01-01 00:00:00+00", UNCHECKED),  # PostgreSQL can hold it; Python's datetime cannot
])
def test_a_time_that_is_no_usable_time_is_reported(trail: Engine, value: str, stored: Any) -> None:
    event_id = row(trail, A, 3).id
    tamper(trail, "UPDATE audit_events SET at = :v WHERE dispute_id = :d AND seq = 3", v=value, d=A)
    assert_damage(trail, (A, 3), "the time (at) is not a time", event_id, "at", stored)


@pytest.mark.parametrize(("column", "value", "words"), [
    ("hash", "'abc'", "the hash is not a SHA-256 hash of 64 lowercase hexadecimal digits (stored: 'abc', 3 char"),
    ("hash", "upper(hash)", "the hash is not a SHA-256 hash"),
    ("hash", "hash || '0'", "65 characters"),
    ("prev_hash", "''", "the previous hash (prev_hash) is not a SHA-256 hash"),
])
def test_a_hash_of_the_wrong_form_is_reported(trail: Engine, column: str, value: str, words: str) -> None:
    event_id = row(trail, A, 3).id
    tamper(trail, f"UPDATE audit_events SET {column} = {value} WHERE dispute_id = :d AND seq = 3", d=A)
    assert_damage(trail, (A, 3), words, event_id, column, UNCHECKED)


@pytest.mark.parametrize("column", [c.name for c in AUDIT_EVENTS.c if c.name != "id"])
def test_a_null_in_any_column_is_reported(trail: Engine, column: str) -> None:
    allow_nulls(trail)
    event_id = row(trail, A, 3).id
    tamper(trail, f"UPDATE audit_events SET {column} = NULL WHERE dispute_id = :d AND seq = 3", d=A)
    where: tuple[str | None, int | None] = (None, None) if column == "dispute_id" else \
        (A, None) if column == "seq" else (A, 3)
    assert_damage(trail, where, "is missing (NULL)", event_id, column, None)
    assert verify(trail, verify(trail).digest).ok is False  # against a digest too


@pytest.mark.parametrize(("column", "value", "where", "words", "stored"), [
    ("at", "'garbage'", (A, 3), "the time (at) is not a time in the form Parley stores (stored: 'garbage')",
     "garbage"),
    ("at", "12345", (A, 3), "the time (at) is not a time", 12345),
    ("at", "'2025-03-03 09:00:03.123456 and then some'", (A, 3), "the time (at) is not a time", UNCHECKED),
    ("at", "'2025-03-03T09:00:03.123456'", (A, 3), "the time (at) is not a time", "2025-03-03T09:00:03.123456"),
    ("at", "X'00'", (A, 3), "the time (at) is not a time", "\x00"),
    ("seq", "'abc'", (A, None), "cannot be placed in its chain: the sequence number (seq) is not a whole number "
     "(stored: 'abc')", "abc"),
    ("seq", "2.5", (A, None), "the sequence number (seq) is not a whole number (stored: 2.5)", 2.5),
    ("tier", "'high'", (A, 3), "the tier is not a whole number (stored: 'high')", "high"),
    ("tier", "1.5", (A, 3), "the tier is not a whole number", 1.5),
    ("actor", "CAST(X'FF6D616C6C6F7279' AS TEXT)", (A, 3), "the actor is not valid UTF-8 text", "\\xffmallory"),
    ("payload", "X'7B7D'", (A, 3), "the payload is stored as binary data", "{}"),
    ("dispute_id", "X'50524C2D41'", (None, None), "the dispute id is stored as binary data", "PRL-A"),
])
def test_sqlite_values_of_the_wrong_kind_are_reported(trail: Engine, column: str, value: str,
                                                     where: tuple[str | None, int | None], words: str,
                                                     stored: Any) -> None:
    if trail.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's column types refuse these values")
    event_id = row(trail, A, 3).id
    tamper(trail, f"UPDATE audit_events SET {column} = {value} WHERE dispute_id = :d AND seq = 3", d=A)
    assert_damage(trail, where, words, event_id, column, stored)


def _payload_variants(stored: str) -> dict[str, str]:
    value = json.loads(stored)
    return {
        "keys in another order": json.dumps(dict(reversed(list(value.items()))), separators=(",", ":"),
                                            ensure_ascii=False),
        "spaces": json.dumps(value, sort_keys=True, ensure_ascii=False),
        "ASCII escapes": json.dumps(value, sort_keys=True, separators=(",", ":")),
        "trailing newline": stored + "\n",
        "a repeated key": '{"n":999,' + stored[1:],  # the last "n" wins: the same value as before
    }


@pytest.mark.parametrize("variant", ["keys in another order", "spaces", "ASCII escapes", "trailing newline",
                                     "a repeated key"])
def test_a_payload_that_is_not_canonical_is_reported(trail: Engine, variant: str) -> None:
    original = row(trail, A, 3)
    text_ = _payload_variants(original.payload)[variant]
    assert text_ != original.payload and json.loads(text_) == json.loads(original.payload)
    tamper(trail, "UPDATE audit_events SET payload = :p WHERE dispute_id = :d AND seq = 3", p=text_, d=A)
    words = "the key 'n' appears more than once" if variant == "a repeated key" else "not in canonical form"
    result = verify(trail)
    assert_bad(result, A, 3, words)  # the parsed value, and so the hash, is the same as before
    assert "hash mismatch" not in result.first_bad.problem  # type: ignore[union-attr]
    records = damaged(trail, original.id, "payload", text_)  # exported as the stored text, not as an object
    assert records[2]["payload"] == text_


@pytest.mark.parametrize(("payload", "words"), [
    ("NaN", "NaN is not a JSON number"),
    ('{"n":1e999}', "not valid JSON"),
    ("[" * 20_000 + "]" * 20_000, "not valid JSON"),  # too deep to parse
    ('{"n":', "not valid JSON"),
])
def test_a_payload_that_is_not_json_is_a_hash_mismatch(trail: Engine, payload: str, words: str) -> None:
    event_id = row(trail, A, 3).id
    tamper(trail, "UPDATE audit_events SET payload = :p WHERE dispute_id = :d AND seq = 3", p=payload, d=A)
    result = verify(trail)
    assert_bad(result, A, 3, "hash mismatch")
    assert words in result.first_bad.problem  # type: ignore[union-attr]
    assert damaged(trail, event_id, "payload", payload)[2]["payload"] == payload


def test_a_payload_that_is_no_object_is_reported_even_with_a_matching_hash(trail: Engine) -> None:
    old = row(trail, A, 3)
    fields = {name: getattr(old, name) for name in audit.EVENT_FIELDS}
    fields["payload"] = [1, 2]
    tamper(trail, "UPDATE audit_events SET payload = :p, hash = :h WHERE dispute_id = :d AND seq = 3",
           p="[1,2]", h=audit.chain_hash(old.prev_hash, audit.canonical(fields)), d=A)
    assert_bad(verify(trail), A, 3, "the payload is not a JSON object")


def test_a_key_damaged_event_is_reported_before_the_gap_it_leaves(trail: Engine) -> None:
    allow_nulls(trail)
    tamper(trail, "UPDATE audit_events SET seq = NULL WHERE dispute_id = :d AND seq = 2", d=A)
    result = verify(trail)
    assert_bad(result, A, None, "the sequence number (seq) is missing (NULL)")  # not "event 2 is missing"
    assert result.events == 8


def test_the_first_damaged_dispute_is_reported(trail: Engine) -> None:
    tamper(trail, "UPDATE audit_events SET hash = 'x' WHERE dispute_id = :d AND seq = 2", d=B)
    tamper(trail, "UPDATE audit_events SET at = 'infinity' WHERE dispute_id = :d AND seq = 4", d=A)
    result = verify(trail)
    assert_bad(result, A, 4, "the time (at)")
    assert (result.events, result.disputes) == (8, 2)


def test_damage_in_a_large_trail_streams(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit.stored, "BATCH", 7)
    _bulk_trail(engine, disputes=5, per_dispute=20)
    tamper(engine, "UPDATE audit_events SET at = 'infinity' WHERE dispute_id = 'PRL-0003' AND seq = 11")
    result = verify(engine)
    assert_bad(result, "PRL-0003", 11, "the time (at)")
    assert (result.events, result.disputes) == (100, 5)
    with session(engine) as s:
        assert sum(1 for _ in audit.export(s, "csv")) == 101
