"""Precedents on the dispute page (DESIGN §9), through the real workflow (the `stack` fixture): the ruling
form shows how similar disputes were decided and why; a ruling whose owner departs from most of them is
recorded all the same, with a warning after the submission and the flag in the decision record."""

from __future__ import annotations

import html
import re
import uuid

from tests.web.conftest import RATIONALE, Web, criteria_form, outcome_form


def agreed(web: Web, region: str, owner: str, direct: int) -> str:
    dispute_id = web.sign_in("dana").file(region=region)
    web.ok(dispute_id, "propose", **outcome_form(owner, direct))
    web.sign_in("pat").ok(dispute_id, "accept")
    return dispute_id


def panel(page: str) -> str:
    found = re.search(r'<section class="precedents card".*?</section>', page, re.S)
    assert found, "no precedents on the form"
    return html.unescape(found[0])


def test_the_ruling_form_shows_the_precedents_and_a_departing_ruling_is_flagged(web: Web) -> None:
    region = f"W-{uuid.uuid4().hex[:6].upper()}"
    precedents = [agreed(web, region, "direct", 70) for _ in range(3)]
    target = web.sign_in("dana").file(region=region)
    web.ok(target, "escalate", reason="We cannot agree")

    assert "Precedents" not in web.get(f"/disputes/{target}").text  # a party's page: no precedents
    page = web.sign_in("mediator").get(f"/disputes/{target}").text
    shown = panel(page)
    listed = re.findall(r'data-precedent="(PRL-[0-9A-F]+)"', shown)
    assert listed[:3] == precedents[::-1]  # the closest first; equally close: the latest resolution first
    assert target not in listed
    assert f"same region ({region})" in shown and "same conflict type (account ownership)" in shown
    assert "deal value within 20%" in shown and "1.00" in shown
    assert "closest precedents went to direct sales; another owner is recorded as departing" in shown

    response = web.act(target, "rule", **outcome_form("partner", 30), **criteria_form(), rationale=RATIONALE)
    assert response.status_code == 303, response.text  # a warning, not a refusal
    page = html.unescape(web.get(f"/disputes/{target}").text)
    assert "Your ruling is recorded" in page
    warning = re.search(r'class="flash flash-warning"[^>]*>(.*?)</div>', page, re.S)
    assert warning and "departs from most of the closest precedents" in warning[1]
    record = re.search(r'id="precedent-consistency">(.*?)</p>', page, re.S)
    assert record and "departs from precedents" in record[1]
    assert all(p in record[1] for p in precedents)


def test_a_ruling_that_follows_the_precedents_gets_no_warning(web: Web) -> None:
    region = f"W-{uuid.uuid4().hex[:6].upper()}"
    for _ in range(3):
        agreed(web, region, "partner", 30)
    target = web.sign_in("dana").file(region=region)
    web.ok(target, "escalate", reason="We cannot agree")
    web.sign_in("mediator").ok(target, "rule", **outcome_form("partner", 30), **criteria_form(), rationale=RATIONALE)
    page = html.unescape(web.get(f"/disputes/{target}").text)
    assert "flash-warning" not in page
    record = re.search(r'id="precedent-consistency">(.*?)</p>', page, re.S)
    assert record and "consistent with precedents" in record[1]
