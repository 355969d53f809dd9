"""Precedents over real HTTP (DESIGN §9), on SQLite and PostgreSQL: `GET /api/disputes/{id}/precedents`, who
may ask, and the decision record keeping the precedents consulted and `consistent_with_precedents`.

The module's stack is shared by its tests, so each test files its disputes in a region of its own: with the
same conflict type, segment and deal value, they are the closest precedents whatever else the store holds.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import CRITERIA, RATIONALE, Api, message_for

DIRECT = {"owner": "direct", "credit_split": {"direct": 70, "partner": 30}}
PARTNER = {"owner": "partner", "credit_split": {"direct": 30, "partner": 70}}


def region() -> str:
    return f"T-{uuid.uuid4().hex[:8].upper()}"


async def agreed(api: Api, where: str, outcome: dict[str, Any], **filing: Any) -> str:
    """A dispute resolved by the parties' agreement (inside the fast charter's bounds: no approval)."""
    dispute_id = str((await api.file(region=where, **filing))["id"])
    await api.ok(dispute_id, "dana", "propose", outcome=outcome)
    body = await api.ok(dispute_id, "pat", "accept")
    assert body["status"] == "resolved", body
    return dispute_id


async def in_mediation(api: Api, where: str, **filing: Any) -> str:
    dispute_id = str((await api.file(region=where, **filing))["id"])
    await api.ok(dispute_id, "pat", "escalate", reason="We cannot agree")
    return dispute_id


async def precedents(api: Api, dispute_id: str, who: str = "mediator", **params: Any) -> dict[str, Any]:
    response = await api.get(f"/api/disputes/{dispute_id}/precedents", who, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_closest_resolved_disputes_come_first_with_the_reasons(api: Api) -> None:
    where = region()
    close = [await agreed(api, where, DIRECT) for _ in range(2)]
    close.append(await agreed(api, where, PARTNER, deal_value=260_000))
    far_value = await agreed(api, where, DIRECT, deal_value=2_400_000)
    other_type = await agreed(api, where, DIRECT, conflict_type="other")
    open_one = str((await api.file(region=where))["id"])  # not resolved: never a precedent
    target = await in_mediation(api, where)

    body = await precedents(api, target, limit=20)
    ids = [p["id"] for p in body["precedents"]]
    assert body["dispute_id"] == target and body["criteria_used"] is False
    assert target not in ids and open_one not in ids
    mine = [i for i in ids if i in {*close, far_value, other_type}]
    # the same conflict type first (best score first; equal scores: the latest resolution first), the other type last
    assert mine == [close[1], close[0], close[2], far_value, other_type]
    by_id = {p["id"]: p for p in body["precedents"]}
    first = by_id[close[1]]
    assert first["score"] == 1.0
    assert first["reasons"] == ["same conflict type (account ownership)", f"same region ({where})",
                                "same segment (enterprise)", "deal value within 20%"]
    assert first["outcome"]["owner"] == "direct" and first["kind"] == "agreement" and first["tier"] == 1
    assert first["follows_recommendation"] is None and first["rationale"].startswith("Both parties agreed")
    assert by_id[close[2]]["score"] < 1.0 and "deal value within 20%" in by_id[close[2]]["reasons"]
    assert by_id[far_value]["score"] < by_id[close[2]]["score"]
    assert not any(r.startswith("deal value") for r in by_id[far_value]["reasons"])
    assert by_id[other_type]["reasons"][0] == f"same region ({where})"
    assert scores_fall(body["precedents"][:3])
    # the top five by default; where most of them went
    top = await precedents(api, target)
    assert [p["id"] for p in top["precedents"]] == ids[:5]
    majority = top["majority"]
    assert majority["owner"] == "direct" and majority["of"] == 5 and majority["count"] >= 3
    # the same answer every time, and to every role that may ask
    assert await precedents(api, target) == top
    assert await precedents(api, target, "auditor") == top == await precedents(api, target, "admin")


def scores_fall(items: list[dict[str, Any]]) -> bool:
    return all(a["score"] >= b["score"] for a, b in zip(items, items[1:], strict=False))


async def test_only_those_the_caller_may_see(api: Api) -> None:
    where = region()
    agreement = await agreed(api, where, DIRECT)  # never reached the executive: an executive does not see it
    target = str((await api.file(region=where, deal_value=60_000_000))["id"])  # straight to the executive
    assert agreement in [p["id"] for p in (await precedents(api, target, "mediator", limit=20))["precedents"]]
    as_exec = await precedents(api, target, "exec", limit=20)
    assert agreement not in [p["id"] for p in as_exec["precedents"]]
    for p in as_exec["precedents"]:
        assert (await api.dispute(p["id"]))["reached_executive"] is True
    # a mediator who does not see the dispute gets 404, as for the dispute itself
    response = await api.get(f"/api/disputes/{target}/precedents", "mediator2")
    assert response.status_code == 404, response.text


async def test_refusals_name_the_problem(api: Api) -> None:
    target = await in_mediation(api, region())
    for rep in ("dana", "pat", "quinn"):
        response = await api.get(f"/api/disputes/{target}/precedents", rep)
        assert response.status_code == 403, response.text
        detail = response.json()["detail"]
        assert "mediators, executives, auditors and admins" in detail and "is a rep" in detail
    response = await api.get("/api/disputes/PRL-00000000/precedents", "mediator")
    assert response.status_code == 404 and "PRL-00000000" in response.json()["detail"]
    for bad in ("0", "21", "-1", "five", "1.5"):
        response = await api.get(f"/api/disputes/{target}/precedents", "mediator", params={"limit": bad})
        assert message_for(response, "query.limit"), bad
    assert (await api.get(f"/api/disputes/{target}/precedents", None)).status_code == 401


async def test_the_decision_record_keeps_the_precedents_and_the_consistency(api: Api) -> None:
    where = region()
    for _ in range(3):
        await agreed(api, where, DIRECT)
    await agreed(api, where, PARTNER)
    target = await in_mediation(api, where)
    shown = await precedents(api, target)
    assert shown["majority"] is not None and shown["majority"]["owner"] == "direct"

    ruled = await api.ok(target, "mediator", "rule", outcome=PARTNER, criteria=CRITERIA, rationale=RATIONALE)
    decision = ruled["decision"]
    kept = decision["precedents"]
    # the precedents shown are the ones consulted (the criteria typed in only lower every agreement's score alike)
    assert [p["id"] for p in kept] == [p["id"] for p in shown["precedents"]]
    assert [p["owner"] for p in kept] == [p["outcome"]["owner"] for p in shown["precedents"]]
    assert all(0 < p["score"] <= 1 for p in kept) and scores_fall(kept)
    assert decision["consistent_with_precedents"] is False  # partner, where most went to direct
    stored = (await api.dispute(target))["decision"]
    assert stored["precedents"] == kept and stored["consistent_with_precedents"] is False
    events = (await api.get(f"/api/disputes/{target}/audit", "auditor")).json()
    ruled_event = next(e for e in events if e["action"] == "ruled")
    assert ruled_event["payload"]["precedents"] == kept
    assert ruled_event["payload"]["consistent_with_precedents"] is False

    # appealed, the ruling's criteria count; the executive's decision for direct follows the precedents
    await api.ok(target, "dana", "appeal", reason="The ruling ignores our pipeline")
    again = await precedents(api, target, "exec")
    assert again["criteria_used"] is True
    decided = await api.ok(target, "exec", "decide", outcome=DIRECT, criteria=CRITERIA, rationale=RATIONALE)
    final = decided["decision"]
    assert [p["id"] for p in final["precedents"]] == [p["id"] for p in again["precedents"]]
    assert final["consistent_with_precedents"] is (None if not again["precedents"] else
                                                   sum(p["outcome"]["owner"] != "direct" for p in again["precedents"])
                                                   * 2 <= len(again["precedents"]))


async def test_a_ruling_with_no_precedent_in_sight_records_null(api: Api) -> None:
    # the second mediator sees only the disputes assigned to them: none of them is resolved
    target = await in_mediation(api, region())
    await api.ok(target, "mediator", "reassign", to=api.email("mediator2"))
    assert (await precedents(api, target, "mediator2"))["precedents"] == []
    ruled = await api.ok(target, "mediator2", "rule", outcome=DIRECT, criteria=CRITERIA, rationale=RATIONALE)
    assert ruled["decision"]["precedents"] == []
    assert ruled["decision"]["consistent_with_precedents"] is None
