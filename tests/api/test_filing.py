"""POST /api/disputes: what a filing returns, every way it is refused, and tier skipping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from tests.api.conftest import ORG_A, PEOPLE, Api, filing, names_field, problems


async def test_filing_returns_the_dispute_at_frontline(api: Api) -> None:
    before = datetime.now().astimezone()
    dispute = await api.file()
    assert dispute["id"].startswith("PRL-")
    assert (dispute["status"], dispute["tier"]) == ("frontline", 1)
    assert dispute["filed_by"] == api.email("dana")
    assert {(p["email"], p["channel"], p["partner_org"]) for p in dispute["parties"]} == {
        (api.email("dana"), "direct", None), (api.email("pat"), "partner", ORG_A)}
    assert dispute["partner_org"] == ORG_A
    # routed by the fast charter
    assert (dispute["mediator"], dispute["executive"], dispute["backup_executive"]) == (
        "mediator@example.com", "exec@example.com", "exec.backup@example.com")
    assert dispute["reached_executive"] is False
    sla = dispute["sla"]
    assert sla["paused"] is False and sla["breached"] is False
    due = datetime.fromisoformat(sla["due_at"])
    assert 0 < (due - before).total_seconds() <= 5  # the fast charter: 4 s at frontline
    assert 0 < sla["remaining_s"] <= 4
    assert dispute["charter_version"].startswith("fast-1+")
    assert dispute["proposals"] == [] and dispute["decision"] is None
    for key, value in filing().items():
        if key != "counterparty_email":
            assert dispute[key] == value, key

    # the projection answers GET with the same dispute, and the trail has its first event
    shown = await api.dispute(dispute["id"], "dana")
    assert (shown["id"], shown["status"], shown["sla"]["due_at"]) == (dispute["id"], "frontline", sla["due_at"])
    assert {"remaining_s", "paused", "breached", "due_at"} <= shown["sla"].keys()
    assert api.events(dispute["id"])[0] == (1, api.email("dana"), "filed")


async def test_a_partner_rep_files_against_a_direct_rep(api: Api) -> None:
    dispute = await api.file("pat", counterparty_email=api.email("dana"), partner_org=ORG_A,
                             conflict_type="registration_overlap", registration_ref="REG-77")
    assert (dispute["status"], dispute["filed_by"], dispute["partner_org"]) == ("frontline", api.email("pat"), ORG_A)
    assert dispute["registration_ref"] == "REG-77"


def without(key: str) -> dict[str, Any]:
    body = filing()
    del body[key]
    return body


REFUSED: list[tuple[str, str, dict[str, Any], int, str | None]] = [
    # (id, who files, body, status, field the answer names)
    ("missing-title", "dana", without("title"), 422, "title"),
    ("missing-deal-value", "dana", without("deal_value"), 422, "deal_value"),
    ("missing-counterparty", "dana", without("counterparty_email"), 422, "counterparty_email"),
    ("title-too-short", "dana", filing(title="x"), 422, "title"),
    ("title-number", "dana", filing(title=12345), 422, "title"),
    ("deal-value-text", "dana", filing(deal_value="a lot"), 422, "deal_value"),
    ("deal-value-bool-list", "dana", filing(deal_value=[1, 2]), 422, "deal_value"),
    ("evidence-text", "dana", filing(evidence="see CRM"), 422, "evidence"),
    ("region-object", "dana", filing(region={"name": "EMEA"}), 422, "region"),
    ("unknown-conflict-type", "dana", filing(conflict_type="turf_war"), 422, "conflict_type"),
    ("negative-value", "dana", filing(deal_value=-5), 422, "deal_value"),
    ("zero-value", "dana", filing(deal_value=0), 422, "deal_value"),
    ("absurd-value", "dana", filing(deal_value=1e13), 422, "deal_value"),
    ("currency-lowercase", "dana", filing(currency="eur"), 422, "currency"),
    ("currency-word", "dana", filing(currency="euros"), 422, "currency"),
    ("counterparty-malformed", "dana", filing(counterparty_email="pat at resellers"), 422, "counterparty_email"),
    ("counterparty-unknown", "dana", filing(counterparty_email="ghost@corp.example"), 422, "counterparty_email"),
    ("counterparty-yourself", "dana", filing(counterparty_email=PEOPLE["dana"].email), 422, "counterparty_email"),
    ("both-direct", "dana", filing(counterparty_email=PEOPLE["drew"].email), 422, "counterparty_email"),
    ("both-partners", "pat", filing(counterparty_email=PEOPLE["quinn"].email), 422, "counterparty_email"),
    ("counterparty-mediator", "dana", filing(counterparty_email=PEOPLE["mediator"].email), 422,
     "counterparty_email"),
    ("registration-ref-missing", "dana", filing(conflict_type="registration_overlap"), 422, "registration_ref"),
    ("opportunity-ref-missing", "dana", filing(conflict_type="credit_attribution", opportunity_ref=None), 422,
     "opportunity_ref"),
    ("wrong-partner-org", "dana", filing(partner_org="Someone Else"), 422, "partner_org"),
    ("unknown-field", "dana", filing(priority="urgent"), 422, "priority"),
    ("mediator-files", "mediator", filing(), 403, None),
    ("auditor-files", "auditor", filing(), 403, None),
    ("executive-files", "exec", filing(), 403, None),
    ("admin-files", "admin", filing(), 403, None),
]


@pytest.mark.parametrize("who, body, status, field", [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED])
async def test_refused_filings_leave_no_trace(api: Api, who: str, body: dict[str, Any], status: int,
                                              field: str | None) -> None:
    before = api.counts()
    response = await api.post("/api/disputes", who, body)
    assert response.status_code == status, response.text
    if field is not None:
        assert names_field(response, field), response.text
    assert api.counts() == before  # no dispute row, no audit event


async def test_a_malformed_or_non_object_body_is_422(api: Api) -> None:
    before = api.counts()
    headers = api.auth("dana") | {"Content-Type": "application/json"}
    for content in (b'{"title": "unterminated', b"[1, 2, 3]", b"", b"null", b'"a string"'):
        response = await api.http.post("/api/disputes", content=content, headers=headers)
        assert response.status_code == 422, (content, response.text)
        assert [p["field"] for p in problems(response)] == ["body"], (content, response.text)
    assert api.counts() == before


async def test_an_oversized_body_is_413(api: Api) -> None:
    before = api.counts()
    big = filing(description="x" * 300_000)
    response = await api.post("/api/disputes", "dana", big)
    assert response.status_code == 413, response.text
    assert "larger than" in response.json()["detail"]

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit still holds
        text = json.dumps(big).encode()
        for start in range(0, len(text), 64 * 1024):
            yield text[start:start + 64 * 1024]

    headers = api.auth("dana") | {"Content-Type": "application/json"}
    response = await api.http.post("/api/disputes", content=chunked(), headers=headers)
    assert response.status_code == 413, response.text
    assert api.counts() == before

    # a chunked body under the limit still gets through
    async def small() -> AsyncIterator[bytes]:
        yield json.dumps(filing(title="Sent in chunks")).encode()

    response = await api.http.post("/api/disputes", content=small(), headers=headers)
    assert response.status_code == 201, response.text
    api.filed.append(response.json()["id"])


@pytest.mark.parametrize("overrides, status, tier", [
    ({"deal_value": 5_000_000}, "frontline", 1),  # "over" the threshold: equal stays at frontline
    ({"deal_value": 5_000_001}, "mediation", 2),
    ({"deal_value": 50_000_000}, "mediation", 2),
    ({"deal_value": 50_000_001}, "executive", 3),
    ({"account": "Priority Corp"}, "mediation", 2),
    ({"account": "priority corp"}, "mediation", 2),
    ({"account": "Priority Corp", "deal_value": 60_000_000}, "executive", 3),
], ids=["at-mediation-threshold", "over-mediation", "at-executive-threshold", "over-executive",
        "priority-account", "priority-account-any-case", "priority-and-over-executive"])
async def test_the_charter_skips_tiers(api: Api, overrides: dict[str, Any], status: str, tier: int) -> None:
    dispute = await api.file(**{"currency": "USD", **overrides})  # the fast charter's thresholds are in USD
    assert (dispute["status"], dispute["tier"]) == (status, tier)
    assert dispute["reached_executive"] is (tier == 3)
    assert dispute["sla"]["tier_sla_s"] == {1: 4, 2: 8, 3: 4}[tier]
    filed = api.events(dispute["id"])
    assert filed == [(1, api.email("dana"), "filed")]
    # the executive sees a dispute only once it is at tier 3
    seen = await api.get(f"/api/disputes/{dispute['id']}", "exec")
    assert seen.status_code == (200 if tier == 3 else 404)


# the fast charter's thresholds are 5,000,000 and 50,000,000 USD; one JPY is 0.0068 USD, one GBP 1.30; no rate for IDR
@pytest.mark.parametrize("overrides, status, tier", [
    ({"deal_value": 6_000_000, "currency": "JPY"}, "frontline", 1),  # 40,800 USD
    ({"deal_value": 4_000_000, "currency": "GBP"}, "mediation", 2),  # 5,200,000 USD
    ({"deal_value": 40_000_000, "currency": "GBP"}, "executive", 3),  # 52,000,000 USD
    ({"deal_value": 4_900_000, "currency": "USD"}, "frontline", 1),  # the charter's own: as it is
], ids=["jpy-stays-at-frontline", "gbp-over-mediation", "gbp-over-executive", "usd-under-mediation"])
async def test_a_deal_value_is_compared_in_the_charters_currency(api: Api, overrides: dict[str, Any], status: str,
                                                                  tier: int) -> None:
    dispute = await api.file(**overrides)
    assert (dispute["status"], dispute["tier"]) == (status, tier)
    assert (dispute["deal_value"], dispute["currency"]) == (overrides["deal_value"], overrides["currency"])
    (filed,) = (await api.get(f"/api/disputes/{dispute['id']}/audit", "dana")).json()
    assert filed["payload"]["start_tier"] == tier and "deal_value_not_compared" not in filed["payload"]


async def test_a_deal_value_the_charter_has_no_rate_for_is_not_compared_and_the_trail_says_so(api: Api) -> None:
    dispute = await api.file(deal_value=60_000_000, currency="IDR")  # about US$3,700: once straight to the executive
    assert (dispute["status"], dispute["tier"]) == ("frontline", 1)
    (filed,) = (await api.get(f"/api/disputes/{dispute['id']}/audit", "dana")).json()
    assert filed["payload"]["start_tier"] == 1
    assert filed["payload"]["deal_value_not_compared"] == (
        "the charter has no exchange rate for IDR (routing.exchange_rates), so the deal value was not compared "
        "with its thresholds for skipping tiers (in USD)")
    priority = await api.file(account="Priority Corp", deal_value=60_000_000, currency="IDR")
    assert (priority["status"], priority["tier"]) == ("mediation", 2)  # a priority account still skips frontline
