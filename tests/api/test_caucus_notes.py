"""Caucus notes through the API (issue 12 item 8): `comment` with `visibility: "mediators"` is kept in the
hash chain and read by mediators, executives, auditors and admins, never by the parties or any rep; a
party's caucus note is refused with 403 and a plain message; an unknown visibility is a 422 naming it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from store.tables import AUDIT_EVENTS, NOTIFICATIONS
from tests.api.conftest import Api, names_field

NOTE = "Caucus: the partner's registration looks back-dated; check the CRM log first."
READERS = ("mediator", "auditor", "admin")
REPS = ("dana", "pat", "pia", "drew")  # the two parties, the partner's colleague, a rep on other disputes


async def trail(api: Api, dispute_id: str, who: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/disputes/{dispute_id}/audit", who)
    assert response.status_code == 200, (who, response.text)
    events: list[dict[str, Any]] = response.json()
    return events


def rows_of(api: Api, dispute_id: str, seq: int) -> list[tuple[str, str, str]]:
    """(recipient, kind, text) of the outbox rows of one event."""
    n = NOTIFICATIONS.c
    with api.engine.connect() as conn:
        rows = conn.execute(select(n.recipient, n.kind, n.text)
                            .where(n.dispute_id == dispute_id, n.seq == seq).order_by(n.id)).all()
    return [(r.recipient, r.kind, r.text) for r in rows]


async def test_a_party_is_refused_and_nothing_is_recorded(api: Api) -> None:
    dispute_id = await api.in_state("frontline")
    before = api.events(dispute_id)
    for who in ("dana", "pat"):
        refused = await api.act(dispute_id, who, "comment", text=NOTE, visibility="mediators")
        assert refused.status_code == 403, refused.text
        detail = refused.json()["detail"]
        assert "caucus note" in detail and "never by a party" in detail, detail
    assert api.events(dispute_id) == before


async def test_visibility_defaults_to_all_and_an_unknown_one_is_named(api: Api) -> None:
    dispute_id = await api.in_state("frontline")
    for wrong in ("everyone", "Mediators", None, 3):
        response = await api.act(dispute_id, "mediator", "comment", text=NOTE, visibility=wrong)
        assert names_field(response, "visibility"), response.text
    await api.ok(dispute_id, "pat", "comment", text="Plain comment")
    events = await trail(api, dispute_id, "dana")
    assert events[-1]["action"] == "commented" and events[-1]["payload"] == {"text": "Plain comment"}
    spec = (await api.get("/openapi.json", None)).json()
    comment = spec["components"]["schemas"]["Comment"]["properties"]["visibility"]
    assert comment["default"] == "all" and set(comment["enum"]) == {"all", "mediators"}


async def test_only_mediators_executives_auditors_and_admins_read_it(api: Api) -> None:
    dispute_id = await api.in_state("mediation")
    await api.ok(dispute_id, "mediator", "comment", text=NOTE, visibility="mediators")
    await api.ok(dispute_id, "dana", "comment", text="Any news?")
    (seq,) = [s for s, actor, action in api.events(dispute_id) if action == "commented" and actor.startswith("med")]
    for who in READERS:
        notes = [e for e in await trail(api, dispute_id, who) if e["seq"] == seq]
        assert notes and notes[0]["payload"] == {"text": NOTE, "visibility": "mediators"}, who
    for who in ("dana", "pat", "pia"):
        events = await trail(api, dispute_id, who)
        assert seq not in [e["seq"] for e in events] and NOTE not in json.dumps(events), who
        assert "Any news?" in json.dumps(events)  # the ordinary comment is there
        view = await api.get(f"/api/disputes/{dispute_id}", who)
        assert view.status_code == 200 and NOTE not in view.text, who
    # never into the conflicts channel (the parties read its threads); nobody else to tell below tier 3
    assert rows_of(api, dispute_id, seq) == []


async def test_at_tier_3_the_other_adjudicator_is_told_and_the_parties_are_not(api: Api) -> None:
    dispute_id = await api.in_state("executive")
    await api.ok(dispute_id, "exec", "comment", text=NOTE, visibility="mediators")
    (seq,) = [s for s, actor, action in api.events(dispute_id) if action == "commented"]
    rows = rows_of(api, dispute_id, seq)
    assert [(r, k) for r, k, _ in rows] == [(api.email("mediator"), "info")]
    assert "caucus note" in rows[0][2] and NOTE not in rows[0][2]
    assert [e["seq"] for e in await trail(api, dispute_id, "exec")][-1] == seq
    for who in ("dana", "pat"):
        assert seq not in [e["seq"] for e in await trail(api, dispute_id, who)], who
        refused = await api.act(dispute_id, who, "comment", text=NOTE, visibility="mediators")
        assert refused.status_code == 403, refused.text


async def test_it_stays_in_the_chain_the_auditor_exports_and_verifies(api: Api) -> None:
    dispute_id = await api.in_state("frontline")
    await api.ok(dispute_id, "mediator", "comment", text=NOTE, visibility="mediators")
    await api.ok(dispute_id, "admin", "comment", text="Admin caucus: charter exception noted.", visibility="mediators")
    exported = await api.get("/api/audit/export", "auditor", params={"format": "jsonl"})
    assert exported.status_code == 200
    mine = [json.loads(line) for line in exported.text.splitlines() if json.loads(line)["dispute_id"] == dispute_id]
    notes = [e for e in mine if e["action"] == "commented"]
    assert [e["payload"]["visibility"] for e in notes] == ["mediators", "mediators"]
    assert notes[0]["payload"]["text"] == NOTE
    # the hash covers it: the chain links through the note to the event after it
    party = await trail(api, dispute_id, "dana")
    assert len(party) == len(mine) - 2 and all(e["action"] != "commented" for e in party)
    csv_export = await api.get("/api/audit/export", "auditor", params={"format": "csv"})
    assert NOTE in csv_export.text
    verified = (await api.get("/api/audit/verify", "auditor")).json()
    assert verified["ok"] is True, verified
    for who in REPS:
        assert (await api.get("/api/audit/export", who)).status_code == 403
    with api.engine.connect() as conn:
        stored = conn.execute(select(AUDIT_EVENTS.c.payload).where(AUDIT_EVENTS.c.dispute_id == dispute_id,
                                                                   AUDIT_EVENTS.c.action == "commented")).scalars()
        assert all('"visibility":"mediators"' in p for p in stored)
