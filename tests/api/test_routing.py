"""Fair routing over the API (DESIGN §8), on both stores: `manager_email` on users, filing routed past
conflicted people down the charter's list (its lists form), no eligible mediator -> the executive sponsor
with a routing note (and the appeal to the backup), a `reassign` to a conflicted person refused with 409
naming the conflict, and a charter whose routed people are missing or of the wrong role refused with 422."""

from __future__ import annotations

import uuid
from typing import Any

import pytest_asyncio

from tests.api.conftest import CRITERIA, FAST_CHARTER, OUTCOME, RATIONALE, Api, message_for, problems

# the fast charter with DESIGN §8's lists and hour-long SLAs, so that no timer races a test
ROUTING = (FAST_CHARTER.read_text()
           .replace('version = "fast-1"', 'version = "routing-1"')
           .replace("[routing]", '[routing]\nmediators = { emea = ["mediator@example.com", "mediator2@example.com"] }')
           .replace('frontline = { sla = "4s" }', 'frontline = { sla = "1h" }')
           .replace('mediation = { sla = "8s" }', 'mediation = { sla = "1h" }')
           .replace('appeal_window = "4s"', 'appeal_window = "1h"')
           .replace('executive = { sla = "4s", breach_repeats = 2 }', 'executive = { sla = "1h", breach_repeats = 2 }'))
MIA, MAX = "mediator@example.com", "mediator2@example.com"
EVE, BOB = "exec@example.com", "exec.backup@example.com"


@pytest_asyncio.fixture(loop_scope="session", autouse=True)
async def routing_charter(api: Api) -> None:
    response = await api.post("/api/charter", "admin", {"toml": ROUTING, "reason": "Route EMEA down a list"})
    assert response.status_code in (200, 201), response.text


async def person(api: Api, key: str, **fields: Any) -> str:
    """A new user (a direct rep unless told), with their token under `key`; their e-mail."""
    email = f"{key}-{uuid.uuid4().hex[:8]}@corp.example"
    body = {"email": email, "name": key.title(), "role": "rep", "channel": "direct", **fields}
    response = await api.post("/api/users", "admin", body)
    assert response.status_code == 201, response.text
    api.tokens[key] = response.json()["token"]
    return email


async def test_a_user_s_manager_is_stored_and_shown_and_must_be_an_e_mail(api: Api) -> None:
    email = await person(api, "sue", manager_email=" Boss@Corp.Example ")
    me = (await api.get("/api/users/me", "sue")).json()
    assert (me["email"], me["manager_email"]) == (email, "boss@corp.example")
    assert (await api.get("/api/users/me", "dana")).json()["manager_email"] is None
    for bad in ("not-an-email", "two@@corp.example"):
        response = await api.post("/api/users", "admin", {"email": f"x-{uuid.uuid4().hex[:6]}@corp.example",
                                                          "name": "X", "role": "rep", "channel": "direct",
                                                          "manager_email": bad})
        assert "e-mail" in message_for(response, "manager_email")
    own = f"own-{uuid.uuid4().hex[:6]}@corp.example"
    response = await api.post("/api/users", "admin", {"email": own, "name": "Own", "role": "rep",
                                                      "channel": "direct", "manager_email": own.upper()})
    assert message_for(response, "manager_email") == "nobody manages themselves"


async def test_filing_passes_over_a_party_s_manager_down_the_charter_s_list(api: Api) -> None:
    sue = await person(api, "sue", manager_email=MIA)
    filed = await api.file("sue")
    assert (filed["mediator"], filed["executive"], filed["backup_executive"]) == (MAX, EVE, BOB)
    note = f"{MIA} was passed over: manages a party, {sue}."
    assert filed["routing_note"] == note
    assert (await api.dispute(filed["id"]))["routing_note"] == note
    audit = (await api.get(f"/api/disputes/{filed['id']}/audit", "auditor")).json()
    assert audit[0]["action"] == "filed" and audit[0]["payload"]["routing_note"] == note
    # without a conflict, routing is the charter's first choice and says nothing
    plain = await api.file("dana")
    assert (plain["mediator"], plain["executive"], plain["routing_note"]) == (MIA, EVE, None)
    assert "routing_note" not in (await api.get(f"/api/disputes/{plain['id']}/audit", "auditor")).json()[0]["payload"]


async def test_a_region_outside_the_lists_goes_to_the_default_mediator_unless_conflicted(api: Api) -> None:
    await person(api, "sue", manager_email=MIA)
    filed = await api.file("sue", region="APAC")
    assert filed["mediator"] != MIA
    assert filed["mediator"] == EVE  # the default mediator is the only one listed for APAC: the sponsor adjudicates


async def test_no_eligible_mediator_goes_to_the_sponsor_and_the_appeal_to_the_backup(api: Api) -> None:
    sue = await person(api, "sue", manager_email=MIA)
    pam = await person(api, "pam", channel="partner", partner_org="Pam Partners", manager_email=MAX)
    filed = await api.file("sue", counterparty_email=pam)
    dispute_id = filed["id"]
    assert (filed["mediator"], filed["executive"], filed["backup_executive"]) == (EVE, BOB, None)
    note = filed["routing_note"]
    assert f"{MIA} was passed over: manages a party, {sue}" in note
    assert f"{MAX} was passed over: manages a party, {pam}" in note
    assert f"No eligible mediator for this dispute: the executive {EVE} adjudicates it" in note
    # the sponsor mediates: sees it at once, rules; the appeal goes to the backup, never back to the sponsor
    assert dispute_id in await api.ids("exec")
    await api.ok(dispute_id, "pam", "escalate", reason="We cannot agree")
    await api.ok(dispute_id, "exec", "rule", outcome=OUTCOME, criteria=CRITERIA, rationale=RATIONALE)
    appealed = await api.ok(dispute_id, "sue", "appeal", reason="The ruling ignores our registration")
    assert (appealed["status"], appealed["executive"]) == ("executive", BOB)
    assert (await api.act(dispute_id, "exec", "decide", outcome=OUTCOME, criteria=CRITERIA,
                          rationale=RATIONALE)).status_code == 403
    back = await api.act(dispute_id, "admin", "reassign", to=EVE)
    assert back.status_code == 409, back.text
    assert back.json()["detail"] == (f"{EVE} cannot adjudicate this dispute: {EVE} ruled on the dispute as its "
                                     "mediator, so cannot hear the appeal")
    decided = await api.ok(dispute_id, "backup", "decide", outcome=OUTCOME, criteria=CRITERIA, rationale=RATIONALE)
    assert decided["status"] == "resolved"


async def test_a_reassign_to_a_conflicted_person_is_409_naming_the_conflict(api: Api) -> None:
    sue = await person(api, "sue", manager_email=MIA)
    dispute_id = (await api.file("sue"))["id"]
    for who in ("mediator2", "admin"):
        refused = await api.act(dispute_id, who, "reassign", to=MIA)
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == f"{MIA} cannot adjudicate this dispute: {MIA} manages a party, {sue}"
    # a rep may not reassign at all: 403 first, whoever they name
    assert (await api.act(dispute_id, "sue", "reassign", to=MIA)).status_code == 403
    # someone of the partner organisation involved is conflicted too
    await person(api, "mo", role="mediator", channel=None, partner_org="Resellers Inc")
    mo = (await api.get("/api/users/me", "mo")).json()["email"]
    refused = await api.act(dispute_id, "mediator2", "reassign", to=mo)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (f"{mo} cannot adjudicate this dispute: {mo} belongs to Resellers Inc, the "
                                        "partner organisation involved")
    assert [e[2] for e in api.people_events(dispute_id)] == ["filed"]  # nothing was recorded


async def test_a_charter_routing_to_missing_people_or_the_wrong_role_is_refused_naming_each(api: Api) -> None:
    text = ROUTING.replace('version = "routing-1"', 'version = "routing-2"').replace(
        'emea = ["mediator@example.com", "mediator2@example.com"]',
        'emea = ["mediator@example.com", "nobody@example.com"], "*" = ["exec@example.com"]')
    response = await api.post("/api/charter", "admin", {"toml": text, "reason": "Reorganisation"})
    assert [(p["field"], p["message"]) for p in problems(response)] == [
        ("toml", "routing.mediators.emea.1: nobody@example.com is not a Parley user; add them as a mediator first"),
        ("toml", "routing.mediators.*.0: exec@example.com is an executive, not a mediator"),
    ]
