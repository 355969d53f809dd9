"""Signed audit checkpoints: a forger with write access to the database cannot extend, edit or shorten
what a checkpoint signed, nor sign a checkpoint without the key; an export verifies with the public key
alone; chains hashed under the first hash rule keep verifying."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select, text

from store import audit
from store.audit import checkpoints, signing
from store.audit.checkpoints import CHECKPOINTS, CheckpointRefused
from store.audit.offline import NotAnExport, verify_export
from store.db import session
from store.tables import AUDIT_EVENTS
from tests.store.samples import T0, event

A, B = "PRL-A", "PRL-B"
KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


def record(engine: Engine, dispute_id: str, first: int, last: int, **changes: Any) -> None:
    with session(engine, write=True) as s:
        for seq in range(first, last + 1):
            assert audit.append(s, event(dispute_id, seq, **changes))


@pytest.fixture
def trail(engine: Engine) -> Engine:
    """A with 5 events and B with 3, all signed by checkpoint 1."""
    record(engine, A, 1, 5)
    record(engine, B, 1, 3)
    made = checkpoints.create(engine, KEY)
    assert made.checkpoint is not None and made.checkpoint.checkpoint == 1 and not made.left_out
    return engine


def verify(engine: Engine, key: Ed25519PrivateKey | None = KEY, digest: str | None = None) -> audit.VerifyResult:
    with session(engine) as s:
        return audit.verify(s, digest, public_key=key.public_key() if key else None)


def tamper(engine: Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def row(engine: Engine, dispute_id: str, seq: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(AUDIT_EVENTS).where(
            AUDIT_EVENTS.c.dispute_id == dispute_id, AUDIT_EVENTS.c.seq == seq)).one()


def forge(engine: Engine, dispute_id: str, seq: int, prev_hash: str, **changes: Any) -> str:
    """What an insider can do: a well-formed event with a correct hash, linked to `prev_hash`."""
    fields = audit.event_fields(event(dispute_id, seq, actor="mallory@example.com", **changes))
    hash_ = audit.chain_hash(prev_hash, audit.canonical(fields))
    with engine.begin() as conn:
        conn.execute(insert(AUDIT_EVENTS).values(
            **{**fields, "at": T0 + timedelta(seconds=seq), "payload": audit.canonical(fields["payload"])},
            prev_hash=prev_hash, hash=hash_))
    return hash_


def rehash_from(engine: Engine, dispute_id: str, seq: int, prev: str) -> None:
    """The strongest forger: every hash after `seq` recomputed, so the chain links up again."""
    while True:
        with engine.connect() as conn:
            old = conn.execute(select(AUDIT_EVENTS).where(AUDIT_EVENTS.c.dispute_id == dispute_id,
                                                          AUDIT_EVENTS.c.seq == seq)).first()
        if old is None:
            return
        fields = {name: getattr(old, name) for name in audit.EVENT_FIELDS}
        fields["payload"] = json.loads(old.payload)
        new = audit.chain_hash(prev, audit.canonical(fields))
        tamper(engine, "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE dispute_id = :d AND seq = :s",
               p=prev, h=new, d=dispute_id, s=seq)
        prev, seq = new, seq + 1


def assert_bad(result: audit.VerifyResult, dispute_id: str | None, seq: int | None, *words: str) -> None:
    assert not result.ok and result.first_bad is not None, result
    assert (result.first_bad.dispute_id, result.first_bad.seq) == (dispute_id, seq), result.first_bad
    for word in words:
        assert word in result.first_bad.problem, result.first_bad.problem


# --- signing and verifying ---------------------------------------------------------------------------

def test_a_signed_trail_verifies_and_says_how_far_it_is_signed(trail: Engine) -> None:
    result = verify(trail)
    assert result.ok and result.first_bad is None and (result.events, result.disputes) == (8, 2)
    assert result.unsigned_events == 0 and result.signed_through is not None
    assert result.signed_through.checkpoint == 1 and result.signed_through.events == 8
    assert result.signed_through.chains == 2 and result.signed_through.key == signing.public_b64(KEY.public_key())
    assert result.as_dict()["signed_through"]["checkpoint"] == 1
    unsigned = verify(trail, key=None)  # no key to check with: nothing is vouched for
    assert unsigned.ok and unsigned.signed_through is None and unsigned.unsigned_events == 8


def test_events_after_the_checkpoint_are_reported_unsigned_until_the_next(trail: Engine) -> None:
    record(trail, A, 6, 7)
    record(trail, "PRL-C", 1, 1)
    result = verify(trail)
    assert result.ok and result.unsigned_events == 3 and result.signed_through is not None
    assert result.signed_through.checkpoint == 1
    made = checkpoints.create(trail, KEY)
    assert made.checkpoint is not None and made.checkpoint.checkpoint == 2 and made.heads == 2  # A and C moved
    assert (made.checkpoint.events, made.checkpoint.chains) == (11, 3)
    after = verify(trail)
    assert after.ok and after.unsigned_events == 0 and after.signed_through == made.checkpoint


def test_a_checkpoint_is_made_only_when_something_changed(trail: Engine) -> None:
    again = checkpoints.create(trail, KEY)
    assert again.checkpoint is None and "nothing changed since checkpoint 1" in again.reason
    with session(trail) as s:
        assert len(checkpoints.stored_checkpoints(s)) == 1


def test_an_empty_trail_has_nothing_to_sign(engine: Engine) -> None:
    made = checkpoints.create(engine, KEY)
    assert made.checkpoint is None and made.reason == "there is no event to sign"
    result = verify(engine)
    assert result.ok and result.signed_through is None and result.unsigned_events == 0


# --- the forger ----------------------------------------------------------------------------------------

def test_a_forged_event_appended_after_the_checkpoint_is_unsigned(trail: Engine) -> None:
    saved = verify(trail).digest
    forge(trail, B, 4, row(trail, B, 3).hash, payload={"text": "ruled for mallory"})
    result = verify(trail, digest=saved)
    assert result.ok and result.unsigned_events == 1  # a correct hash passes the chain and the digest …
    assert result.signed_through is not None and result.signed_through.events == 8  # … but nobody signed it


def test_a_forged_event_inserted_before_the_checkpoint_fails_naming_chain_and_event(trail: Engine) -> None:
    # the forger makes room at seq 3, inserts a well-formed event and recomputes every later hash
    for seq in (5, 4, 3):
        tamper(trail, "UPDATE audit_events SET seq = seq + 1 WHERE dispute_id = :d AND seq = :s", d=A, s=seq)
    prev = forge(trail, A, 3, row(trail, A, 2).hash, payload={"text": "forged"})
    rehash_from(trail, A, 4, prev)
    assert verify(trail, key=None).ok  # the unsigned chain cannot tell
    result = verify(trail)
    assert_bad(result, A, 5, "event 5 of PRL-A", "is not the event checkpoint 1 signed", "changed, inserted or deleted")
    assert result.first_bad is not None and result.first_bad.event_id == row(trail, A, 5).id


def test_an_edit_inside_the_signed_part_is_found_where_it_is(trail: Engine) -> None:
    tamper(trail, "UPDATE audit_events SET actor = 'mallory@example.com' WHERE dispute_id = :d AND seq = 2", d=B)
    assert_bad(verify(trail), B, 2, "hash mismatch")


def test_an_edit_with_every_hash_recomputed_is_caught_by_the_signed_head(trail: Engine) -> None:
    old = row(trail, A, 2)
    fields = {name: getattr(old, name) for name in audit.EVENT_FIELDS}
    fields["payload"] = {"text": "rewritten"}
    new = audit.chain_hash(old.prev_hash, audit.canonical(fields))
    tamper(trail, "UPDATE audit_events SET payload = :p, hash = :h WHERE dispute_id = :d AND seq = 2",
           p=audit.canonical(fields["payload"]), h=new, d=A)
    rehash_from(trail, A, 3, new)
    assert verify(trail, key=None).ok
    assert_bad(verify(trail), A, 5, "is not the event checkpoint 1 signed")


def test_later_checkpoints_narrow_down_where_the_change_lies(trail: Engine) -> None:
    record(trail, A, 6, 8)
    assert checkpoints.create(trail, KEY).checkpoint is not None  # A signed at 5 and at 8
    old = row(trail, A, 7)
    fields = {name: getattr(old, name) for name in audit.EVENT_FIELDS}
    fields["payload"] = {"text": "rewritten"}
    new = audit.chain_hash(old.prev_hash, audit.canonical(fields))
    tamper(trail, "UPDATE audit_events SET payload = :p, hash = :h WHERE dispute_id = :d AND seq = 7",
           p=audit.canonical(fields["payload"]), h=new, d=A)
    rehash_from(trail, A, 8, new)
    assert_bad(verify(trail), A, 8, "checkpoint 2 signed", "event 5 still matches checkpoint 1")


def test_deleting_signed_events_is_found_without_a_digest(trail: Engine) -> None:
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d AND seq >= 4", d=A)
    assert verify(trail, key=None).ok  # a shorter chain is a valid chain …
    assert_bad(verify(trail), A, 4, "events 4..5 are missing", "checkpoint 1 signed PRL-A through event 5")
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d", d=B)
    tamper(trail, "DELETE FROM audit_events WHERE dispute_id = :d", d=A)
    assert_bad(verify(trail), A, 1, "every event of PRL-A is missing")


def test_a_checkpoint_forged_without_the_key_fails_naming_what_it_vouches_for(trail: Engine) -> None:
    # the forger appends an event and a checkpoint over it, signed with a key of their own
    forge(trail, B, 4, row(trail, B, 3).hash, payload={"text": "ruled for mallory"})
    with session(trail) as s:
        before = checkpoints.signed(s, KEY.public_key())
    body = checkpoints.body_bytes(2, before.last_sha, "2026-01-01T00:00:00.000000Z", 99, 9, 2,
                                  {B: (4, row(trail, B, 4).hash)}, OTHER.public_key())
    with trail.begin() as conn:
        conn.execute(CHECKPOINTS.insert().values(number=2, at=T0, max_event_id=99, events=9, chains=2,
                                                 body=body.decode(), signature=signing.sign(OTHER, body)))
    result = verify(trail)
    assert_bad(result, B, 4, "checkpoint 2", "is not signed by the audit key", "forged")
    assert result.signed_through is not None and result.signed_through.checkpoint == 1  # the last genuine one
    with pytest.raises(CheckpointRefused, match="checkpoint 2"):  # and no genuine checkpoint builds on it
        checkpoints.create(trail, KEY)


def test_an_altered_checkpoint_fails(trail: Engine) -> None:
    with trail.connect() as conn:
        body = conn.execute(select(CHECKPOINTS.c.body)).scalar_one()
    forged = body.replace('"seq":5', '"seq":6')
    tamper(trail, "UPDATE audit_checkpoints SET body = :b", b=forged)
    assert_bad(verify(trail), A, 6, "checkpoint 1", "does not carry a valid signature of the audit key")


def test_a_deleted_checkpoint_breaks_the_link_of_the_next(trail: Engine) -> None:
    record(trail, A, 6, 6)
    checkpoints.create(trail, KEY)
    tamper(trail, "DELETE FROM audit_checkpoints WHERE number = 1")
    assert_bad(verify(trail), A, 6, "checkpoint 2 is out of place")


def test_the_wrong_key_verifies_nothing(trail: Engine) -> None:
    result = verify(trail, key=OTHER)
    assert_bad(result, A, 5, "checkpoint 1", f"not signed by the audit key ({signing.public_b64(OTHER.public_key())})")
    assert result.signed_through is None
    with pytest.raises(CheckpointRefused):
        checkpoints.create(trail, OTHER)


def test_a_chain_that_does_not_verify_is_left_out_of_the_next_checkpoint(trail: Engine) -> None:
    record(trail, A, 6, 6)
    record(trail, B, 4, 4)
    tamper(trail, "UPDATE audit_events SET tier = 3 WHERE dispute_id = :d AND seq = 4", d=B)
    made = checkpoints.create(trail, KEY)
    assert made.checkpoint is not None and made.heads == 1  # A is signed through 6, B stays at 3
    assert [(bad.dispute_id, bad.seq) for bad in made.left_out] == [(B, 4)]
    result = verify(trail)
    assert_bad(result, B, 4, "hash mismatch")
    assert result.unsigned_events == 1


# --- hash rules ------------------------------------------------------------------------------------

def _v1_event(engine: Engine, dispute_id: str, seq: int, prev: str, payload: dict[str, Any]) -> str:
    """An event as Parley wrote it before hash rule 2 (Python's json.dumps)."""
    fields = {**audit.event_fields(event(dispute_id, seq)), "payload": payload}
    hash_ = audit.chain_hash(prev, audit.canonical_v1(fields))
    with engine.begin() as conn:
        conn.execute(insert(AUDIT_EVENTS).values(**{**fields, "at": T0 + timedelta(seconds=seq),
                                                    "payload": audit.canonical_v1(payload)},
                                                 prev_hash=prev, hash=hash_))
    return hash_


def test_chains_hashed_under_rule_1_keep_verifying_and_are_signed(engine: Engine) -> None:
    payload = {"amount": 1.0, "tiny": 1e-7, "n": 1}  # written differently by the two rules
    assert audit.canonical_v1(payload) != audit.canonical_v2(payload)
    prev = _v1_event(engine, A, 1, audit.GENESIS, payload)
    _v1_event(engine, A, 2, prev, payload)
    record(engine, A, 3, 3, payload=payload)  # a new event after the upgrade: rule 2
    assert row(engine, A, 3).payload == audit.canonical_v2(payload) == '{"amount":1,"n":1,"tiny":1e-7}'
    assert row(engine, A, 1).payload == '{"amount":1.0,"n":1,"tiny":1e-07}'
    with session(engine, write=True) as s:  # a retried write of an event recorded under rule 1 is in place
        assert audit.append(s, event(A, 2, payload=payload)) is False
    assert verify(engine, key=None).ok
    assert checkpoints.create(engine, KEY).checkpoint is not None
    assert verify(engine).ok
    with session(engine) as s:
        exported = "".join(audit.export(s, "jsonl"))
    assert verify_export(exported, KEY.public_key()).ok
    tamper(engine, "UPDATE audit_events SET payload = :p WHERE dispute_id = :d AND seq = 1",
           p='{"amount":1,"n":1,"tiny":1e-7}', d=A)  # the same value, rewritten under the other rule
    assert_bad(verify(engine), A, 1, "hash mismatch")


def test_rule_2_is_rfc_8785() -> None:
    fields = audit.event_fields(event(A, 1, payload={"b": [1.0, 0.5], "a": "é\u2028", "c": 1e21}))
    text_ = audit.canonical(fields)
    assert '"payload":{"a":"é\u2028","b":[1,0.5],"c":1e+21}' in text_
    assert audit.event_text(A, 1, fields["at"], fields["actor"], fields["action"], fields["tier"],
                            audit.canonical(fields["payload"]), fields["charter_version"]) == text_


# --- exports, verified offline -------------------------------------------------------------------------

def export(engine: Engine, fmt: str = "jsonl") -> str:
    with session(engine) as s:
        return "".join(audit.export(s, fmt))  # type: ignore[arg-type]


def test_the_jsonl_export_carries_the_checkpoints_after_the_events(trail: Engine) -> None:
    lines = [json.loads(line) for line in export(trail).splitlines()]
    assert len(lines) == 9 and all("kind" not in line for line in lines[:8])
    assert lines[8]["kind"] == "checkpoint" and lines[8]["number"] == 1
    body = json.loads(lines[8]["body"])
    assert body["format"] == "parley-audit-checkpoint/1" and body["heads"][A]["seq"] == 5
    assert lines[8]["body"].encode() == __import__("rfc8785").dumps(body)  # the signed bytes are RFC 8785
    assert export(trail, "csv").count("\n") == 9  # CSV: header and events only


def test_an_export_verifies_with_the_public_key_alone(trail: Engine) -> None:
    record(trail, A, 6, 6)
    text_ = export(trail)
    pem = signing.public_pem(KEY.public_key())
    result = verify_export(text_, signing.load_public_key(pem))
    assert result.model_dump() == verify(trail).model_dump()  # the same answer as the store's
    assert result.ok and result.unsigned_events == 1 and result.signed_through is not None
    assert verify_export(text_, None, digest=verify(trail).digest).ok
    csv_result = verify_export(export(trail, "csv"), KEY.public_key())
    assert csv_result.ok and csv_result.unsigned_events == 9 and csv_result.signed_through is None


def test_a_forged_export_fails_offline(trail: Engine) -> None:
    lines = export(trail).splitlines()
    records = [json.loads(line) for line in lines]
    records[1]["payload"] = {**records[1]["payload"], "text": "edited"}
    edited = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    assert_bad(verify_export(edited, KEY.public_key()), A, 2, "hash mismatch")
    without = "\n".join(line for line, r in zip(lines, records, strict=True)
                         if (r.get("dispute_id"), r.get("seq")) != (A, 5)) + "\n"
    assert_bad(verify_export(without, KEY.public_key()), A, 5, "event 5 is missing")
    assert_bad(verify_export(export(trail), OTHER.public_key()), A, 5, "not signed by the audit key")
    with pytest.raises(NotAnExport, match="line 1"):
        verify_export("hello\n", KEY.public_key())


def test_openssl_verifies_a_checkpoint_from_the_export(trail: Engine, tmp_path: Path) -> None:
    """The README's recipe: an auditor checks the signature with any Ed25519 tool."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl on this machine")
    line = json.loads(export(trail).splitlines()[-1])
    (tmp_path / "body.json").write_bytes(line["body"].encode("utf-8"))
    (tmp_path / "body.sig").write_bytes(__import__("base64").b64decode(line["signature"]))
    (tmp_path / "parley-audit.pub").write_text(signing.public_pem(KEY.public_key()))
    done = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "parley-audit.pub", "-rawin",
                           "-in", "body.json", "-sigfile", "body.sig"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stdout + done.stderr
    # and the heads it signs are the hashes of the events, chained as the README says
    body = json.loads(line["body"])
    events = [json.loads(x) for x in export(trail).splitlines()[:8]]
    prev = audit.GENESIS
    for rec in (e for e in events if e["dispute_id"] == A):
        fields = {name: rec[name] for name in audit.EVENT_FIELDS}
        prev = hashlib.sha256((prev + audit.canonical_v2(fields)).encode()).hexdigest()
    assert body["heads"][A] == {"seq": 5, "hash": prev}


# --- keys ----------------------------------------------------------------------------------------------

def test_keys_are_read_from_pem_text_or_a_file_and_bad_ones_are_named(tmp_path: Path) -> None:
    pem = signing.generate_pem()
    path = tmp_path / "audit.pem"
    path.write_text(pem)
    assert signing.public_raw(signing.load_private_key(pem).public_key()) == \
        signing.public_raw(signing.load_private_key(str(path)).public_key())
    public = signing.load_private_key(pem).public_key()
    for form in (signing.public_pem(public), signing.public_b64(public), signing.public_raw(public).hex()):
        assert signing.public_raw(signing.load_public_key(form)) == signing.public_raw(public)
    for bad, words in [("", "empty"), (str(tmp_path / "missing.pem"), "names no file"),
                       (signing.public_pem(public), "found a public key"),
                       ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a usable PEM")]:
        with pytest.raises(signing.UnusableKey, match=words):
            signing.load_private_key(bad)
    with pytest.raises(signing.UnusableKey, match="names no file"):
        signing.load_public_key("not a key")
    with pytest.raises(signing.UnusableKey, match="expected an Ed25519 public key"):
        signing.load_public_key(str(path.with_suffix(".txt")) if path.with_suffix(".txt").write_text("x") else "")
