"""The audit trail through the API: a dispute's events, verification with digests, and exports."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import update

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


async def test_an_unknown_export_format_is_422(api: Api) -> None:
    response = await api.get("/api/audit/export", "auditor", params={"format": "xml"})
    assert response.status_code == 422
    assert names_field(response, "query.format"), response.text
