"""Who sees which dispute (GET and the list), and the list's filters.

The store is shared by the module, so each check looks at this test's own disputes: the ones a user
must see are in their list, the others are absent from it and 404 on GET.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ORG_B, Api, names_field


async def file_four(api: Api) -> dict[str, str]:
    """
    own:       dana (direct) against pat (org A), at frontline
    org_b:     quinn (org B) against drew (direct), withdrawn
    executive: drew against pat (org A), straight to tier 3 by deal value
    moved:     dana against pat (org A), reassigned to mediator2
    """
    own = (await api.file("dana"))["id"]
    org_b = (await api.file("quinn", counterparty_email=api.email("drew"), title="Org B against Drew"))["id"]
    await api.ok(org_b, "quinn", "withdraw", reason="Sorted out between us")
    executive = (await api.file("drew", deal_value=75_000_000, title="Huge deal"))["id"]
    moved = (await api.file("dana", title="Moved to another mediator"))["id"]
    await api.ok(moved, "mediator", "reassign", to="mediator2@example.com")
    return {"own": own, "org_b": org_b, "executive": executive, "moved": moved}


SEES: dict[str, set[str]] = {
    "dana": {"own", "moved"},
    "drew": {"org_b", "executive"},
    "pat": {"own", "executive", "moved"},
    "pia": {"own", "executive", "moved"},  # pat's colleague: the organisation's disputes
    "quinn": {"org_b"},
    "mediator": {"own", "org_b", "executive"},
    "mediator2": {"moved"},
    "exec": {"executive"},  # only what reached tier 3
    "backup": {"executive"},
    "auditor": {"own", "org_b", "executive", "moved"},
    "admin": {"own", "org_b", "executive", "moved"},
}


async def test_each_role_sees_exactly_its_disputes(api: Api) -> None:
    disputes = await file_four(api)
    for who, expected in SEES.items():
        listed = await api.ids(who)
        for name, dispute_id in disputes.items():
            response = await api.get(f"/api/disputes/{dispute_id}", who)
            audit = await api.get(f"/api/disputes/{dispute_id}/audit", who)
            if name in expected:
                assert dispute_id in listed, (who, name)
                assert response.status_code == 200, (who, name, response.text)
                assert response.json()["id"] == dispute_id
                assert audit.status_code == 200, (who, name)
            else:
                assert dispute_id not in listed, (who, name)
                assert response.status_code == 404, (who, name, response.text)
                assert audit.status_code == 404, (who, name)
    # a partner never sees another organisation's disputes, whoever the parties are
    for item in (await api.get("/api/disputes", "pia")).json():
        assert item["partner_org"] != ORG_B
    for item in (await api.get("/api/disputes", "quinn")).json():
        assert item["partner_org"] == ORG_B


async def test_mine_narrows_to_my_own_part(api: Api) -> None:
    disputes = await file_four(api)
    ours = set(disputes.values())
    expected = {
        "dana": {"own", "moved"},
        "pat": {"own", "executive", "moved"},
        "pia": set(),  # sees the organisation's disputes, but is party to none of them
        "mediator": {"own", "org_b", "executive"},
        "mediator2": {"moved"},
        "exec": {"executive"},
        "auditor": set(),
    }
    for who, names in expected.items():
        mine = await api.ids(who, mine="true") & ours
        assert mine == {disputes[n] for n in names}, who
        assert await api.ids(who, mine="false") & ours == {disputes[n] for n in SEES[who]}, who


async def test_status_and_tier_filters(api: Api) -> None:
    disputes = await file_four(api)
    cases: list[tuple[dict[str, Any], set[str], set[str]]] = [
        ({"status": "executive"}, {"executive"}, {"own", "org_b", "moved"}),
        ({"status": "withdrawn"}, {"org_b"}, {"own", "executive", "moved"}),
        ({"tier": 3}, {"executive"}, {"org_b"}),
        ({"tier": 3, "status": "withdrawn"}, set(), {"own", "org_b", "executive", "moved"}),
        ({"status": "withdrawn", "mine": "true"}, set(), set(disputes)),  # the auditor is party to none
    ]
    for params, present, absent in cases:
        response = await api.get("/api/disputes", "auditor", params=params)
        assert response.status_code == 200, response.text
        items = response.json()
        ids = {item["id"] for item in items}
        assert {disputes[n] for n in present} <= ids, params
        assert not {disputes[n] for n in absent} & ids, params
        for item in items:
            if "status" in params:
                assert item["status"] == params["status"]
            if "tier" in params:
                assert item["tier"] == params["tier"]
    # filters never widen what a user may see
    assert await api.ids("quinn", status="executive") & set(disputes.values()) == set()
    assert await api.ids("exec", tier=3) & set(disputes.values()) == {disputes["executive"]}


@pytest.mark.parametrize("params, field", [
    ({"status": "open"}, "query.status"),
    ({"status": "FRONTLINE"}, "query.status"),
    ({"tier": 0}, "query.tier"),
    ({"tier": 4}, "query.tier"),
    ({"tier": "two"}, "query.tier"),
    ({"mine": "maybe"}, "query.mine"),
    ({"limit": 0}, "query.limit"),
    ({"offset": -1}, "query.offset"),
])
async def test_invalid_filters_are_422(api: Api, params: dict[str, Any], field: str) -> None:
    response = await api.get("/api/disputes", "dana", params=params)
    assert response.status_code == 422, response.text
    assert names_field(response, field), response.text


async def test_the_list_shows_the_live_sla(api: Api) -> None:
    dispute_id = (await api.file())["id"]
    response = await api.get("/api/disputes", "dana", params={"status": "frontline"})
    item = next(i for i in response.json() if i["id"] == dispute_id)
    assert {"due_at", "remaining_s", "paused", "breached"} <= item["sla"].keys()
    assert 0 < item["sla"]["remaining_s"] <= 4 and item["sla"]["breached"] is False
