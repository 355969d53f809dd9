"""The audit trail through the API: a dispute's events, verification with digests, and exports."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import text, update

from api import streaming
from store import audit
from store.audit import GENESIS, RECORD_FIELDS, canonical, chain_hash
from store.db import session
from store.tables import AUDIT_EVENTS
from tests.api.conftest import OUTCOME, Api, names_field

DIGEST = re.compile(r"^v1:\d+:\d+:[0-9a-f]{64}$")
HASHED = ("dispute_id", "seq", "at", "actor", "action", "tier", "payload", "charter_version")


async def resolved_dispute(api: Api) -> str:
    """A dispute with four events that has finished (no timer adds to its trail any more)."""
    dispute_id = await api.in_state("frontline")
    await api.ok(dispute_id, "pat", "comment", text="Überraschung: we were there first — “really”")
    await api.ok(dispute_id, "dana", "propose", outcome=OUTCOME)
    await api.ok(dispute_id, "pat", "accept")
    return dispute_id


async def verify(api: Api, who: str = "auditor", **params: Any) -> dict[str, Any]:
    response = await api.get("/api/audit/verify", who, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_disputes_events_come_in_order_and_chained(api: Api) -> None:
    dispute_id = await resolved_dispute(api)
    response = await api.get(f"/api/disputes/{dispute_id}/audit", "pat")
    assert response.status_code == 200, response.text
    events = response.json()
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert [(e["actor"], e["action"]) for e in events] == [
        (api.email("dana"), "filed"), (api.email("pat"), "commented"), (api.email("dana"), "proposed"),
        (api.email("pat"), "accepted")]
    charter_version = (await api.dispute(dispute_id))["charter_version"]
    prev = GENESIS
    for event in events:
        assert event["dispute_id"] == dispute_id and event["charter_version"] == charter_version
        assert event["at"].endswith("Z") and event["tier"] == 1
        assert event["prev_hash"] == prev
        # anyone can check the chain with the documented rule: sha256(prev_hash + canonical JSON)
        assert event["hash"] == chain_hash(prev, canonical({k: event[k] for k in HASHED}))
        prev = event["hash"]
    assert events[1]["payload"] == {"text": "Überraschung: we were there first — “really”"}
    assert events[3]["payload"]["auto_approved"] is True


@pytest.mark.parametrize("who", ["auditor", "admin", "bootstrap"])
async def test_auditors_and_admins_verify_the_trail_against_a_saved_digest(api: Api, who: str) -> None:
    await resolved_dispute(api)
    first = await verify(api, who)
    assert first["ok"] is True and first["first_bad"] is None
    assert first["events"] >= 4 and first["disputes"] >= 1
    assert DIGEST.match(first["digest"]), first["digest"]

    await resolved_dispute(api)  # the trail grows; the saved digest still holds
    later = await verify(api, who, digest=first["digest"])
    assert later["ok"] is True and later["events"] == first["events"] + 4
    assert later["digest"] != first["digest"]


async def test_a_digest_that_does_not_match_fails_verification(api: Api) -> None:
    await resolved_dispute(api)
    saved = (await verify(api))["digest"]
    _, upto, count, _ = saved.split(":")
    forged = f"v1:{upto}:{count}:{'0' * 64}"
    result = await verify(api, digest=forged)
    assert result["ok"] is False
    assert result["first_bad"]["problem"].startswith("events missing or changed")


async def test_an_edited_event_is_found(api: Api) -> None:
    dispute_id = await resolved_dispute(api)
    table = AUDIT_EVENTS.c
    where = (table.dispute_id == dispute_id) & (table.seq == 2)
    with session(api.engine, write=True) as s:  # SQLite: take the write lock up front
        original = s.execute(AUDIT_EVENTS.select().where(where)).one().payload
        s.execute(update(AUDIT_EVENTS).where(where).values(payload=json.dumps({"text": "edited"})))
    try:
        result = await verify(api)
        assert result["ok"] is False
        assert (result["first_bad"]["dispute_id"], result["first_bad"]["seq"]) == (dispute_id, 2)
        assert "hash mismatch" in result["first_bad"]["problem"]
    finally:
        with session(api.engine, write=True) as s:
            s.execute(update(AUDIT_EVENTS).where(where).values(payload=original))
    assert (await verify(api))["ok"] is True


@pytest.mark.parametrize("digest", ["", "abc", "v1:1:1:xyz", "v2:1:1:" + "0" * 64, "v1:-1:1:" + "0" * 64])
async def test_a_malformed_digest_is_422(api: Api, digest: str) -> None:
    response = await api.get("/api/audit/verify", "auditor", params={"digest": digest})
    assert response.status_code == 422, response.text
    assert names_field(response, "digest"), response.text


@pytest.mark.parametrize("who", ["dana", "pat", "mediator", "exec"])
async def test_only_auditors_and_admins_verify_and_export(api: Api, who: str) -> None:
    for path, params in [("/api/audit/verify", {}), ("/api/audit/export", {}),
                         ("/api/audit/export", {"format": "csv"})]:
        response = await api.get(path, who, params=params)
        assert response.status_code == 403, (path, response.text)


async def test_export_jsonl_and_csv(api: Api) -> None:
    dispute_id = await resolved_dispute(api)
    total = (await verify(api))["events"]

    jsonl = await api.get("/api/audit/export", "auditor", params={"format": "jsonl"})
    assert jsonl.status_code == 200
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in jsonl.headers["content-disposition"]
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert len(records) == total
    assert all(set(r) == set(RECORD_FIELDS) for r in records)
    mine = [r for r in records if r["dispute_id"] == dispute_id]
    assert [r["seq"] for r in mine] == [1, 2, 3, 4]
    assert mine == (await api.get(f"/api/disputes/{dispute_id}/audit", "auditor")).json()
    assert (await api.get("/api/audit/export", "admin")).text == jsonl.text  # JSONL is the default

    response = await api.get("/api/audit/export", "auditor", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(RECORD_FIELDS)
    assert len(rows) == total + 1  # a header, then one line per event
    ours = [dict(zip(rows[0], row, strict=True)) for row in rows[1:] if row[1] == dispute_id]
    assert [int(r["seq"]) for r in ours] == [1, 2, 3, 4]
    assert json.loads(ours[1]["payload"]) == mine[1]["payload"]
    assert [r["hash"] for r in ours] == [r["hash"] for r in mine]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_an_export_sent_in_many_pieces_is_the_trail_byte_for_byte(api: Api, fmt: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    await resolved_dispute(api)
    monkeypatch.setattr(streaming, "PIECE_CHARS", 300)  # a few events a piece
    with session(api.engine) as s:
        lines = list(audit.export(s, fmt))  # type: ignore[arg-type]
    assert sum(map(len, lines)) > 5 * 300
    response = await api.get("/api/audit/export", "auditor", params={"format": fmt})
    assert response.status_code == 200
    assert response.text == "".join(lines)


async def test_an_unknown_export_format_is_422(api: Api) -> None:
    response = await api.get("/api/audit/export", "auditor", params={"format": "xml"})
    assert response.status_code == 422
    assert names_field(response, "query.format"), response.text


# --- a damaged trail is a verification result, never an error -------------------------------------------

class Damage:
    """Overwrites one column of a stored event with raw SQL (as an insider would); `undo` puts it back."""

    def __init__(self, api: Api, dispute_id: str, seq: int) -> None:
        self.api = api
        table = AUDIT_EVENTS.c
        with session(api.engine) as s:
            self.original = s.execute(AUDIT_EVENTS.select().where(
                (table.dispute_id == dispute_id) & (table.seq == seq))).one()

    def apply(self, column: str, sql_value: str, **params: Any) -> None:
        with session(self.api.engine, write=True) as s:  # SQLite: take the write lock up front
            s.execute(text(f"UPDATE audit_events SET {column} = {sql_value} WHERE id = :id"),
                      {"id": self.original.id, **params})

    def undo(self) -> None:
        values = {name: getattr(self.original, name) for name in self.original._fields if name != "id"}
        with session(self.api.engine, write=True) as s:
            s.execute(update(AUDIT_EVENTS).where(AUDIT_EVENTS.c.id == self.original.id).values(values))


@pytest.mark.parametrize(("column", "sql_value", "words", "stored"), [
    ("at", "'infinity'", "the time (at) is not a time in the form Parley stores (stored: 'infinity')", "infinity"),
    ("hash", "'abc'", "the hash is not a SHA-256 hash of 64 lowercase hexadecimal digits", "abc"),
])
async def test_a_damaged_event_is_reported_and_exported_as_stored(api: Api, column: str, sql_value: str,
                                                                   words: str, stored: str) -> None:
    dispute_id = await resolved_dispute(api)
    saved = await verify(api)
    damage = Damage(api, dispute_id, 2)
    damage.apply(column, sql_value)
    try:
        for params in ({}, {"digest": saved["digest"]}):
            result = await verify(api, **params)  # 200, not a 422 or a 500
            assert result["ok"] is False and result["events"] == saved["events"]
            assert (result["first_bad"]["dispute_id"], result["first_bad"]["seq"]) == (dispute_id, 2)
            assert words in result["first_bad"]["problem"], result
            assert f"event id {damage.original.id}" in result["first_bad"]["problem"], result

        jsonl = await api.get("/api/audit/export", "auditor", params={"format": "jsonl"})
        assert jsonl.status_code == 200
        records = [json.loads(line) for line in jsonl.text.splitlines()]
        assert len(records) == saved["events"]  # every event, the damaged one too
        assert next(r for r in records if r["id"] == damage.original.id)[column] == stored
        response = await api.get("/api/audit/export", "auditor", params={"format": "csv"})
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == saved["events"]
        assert next(r for r in rows if r["id"] == str(damage.original.id))[column] == stored

        events = await api.get(f"/api/disputes/{dispute_id}/audit", "auditor")
        assert events.status_code == 200, events.text
        assert [e[column] for e in events.json() if e["seq"] == 2] == [stored]
    finally:
        damage.undo()
    assert (await verify(api))["ok"] is True


@pytest.mark.parametrize(("variant", "words"), [
    ("spaces", "the payload is not in canonical form"),
    ("a repeated key", "the key 'text' appears more than once"),
])
async def test_a_payload_that_is_not_canonical_fails_verification(api: Api, variant: str, words: str) -> None:
    dispute_id = await resolved_dispute(api)
    damage = Damage(api, dispute_id, 2)
    stored = damage.original.payload
    payload = json.dumps(json.loads(stored), ensure_ascii=False) if variant == "spaces" else \
        '{"text":"we never said that",' + stored[1:]  # the last "text" wins: the same value, the same hash
    assert payload != stored and json.loads(payload) == json.loads(stored)
    damage.apply("payload", ":p", p=payload)
    try:
        result = await verify(api)
        assert result["ok"] is False
        assert (result["first_bad"]["dispute_id"], result["first_bad"]["seq"]) == (dispute_id, 2)
        assert words in result["first_bad"]["problem"] and "hash mismatch" not in result["first_bad"]["problem"]
        exported = await api.get("/api/audit/export", "auditor")
        records = [json.loads(line) for line in exported.text.splitlines()]
        # the stored text, not a re-serialised object
        assert [r["payload"] for r in records if r["id"] == damage.original.id] == [payload]
    finally:
        damage.undo()
    assert (await verify(api))["ok"] is True

