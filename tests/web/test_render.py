"""The dispute page's status panel and decision badge, rendered straight from the templates with a
dispute run through the pure lifecycle at known times (charters/default.toml: New York, 09:00–17:00
business days). No store and no Temporal: what a reader sees for a given state."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from api.web.render import ENV, money
from domain.lifecycle import Dispute
from domain.model import DisputeView
from tests.domain.test_lifecycle import (
    CHARTER,
    FILER,
    MEDIATOR,
    answered,
    appealed,
    dispute,
    do,
    in_mediation,
    ny,
    ruled,
)
from tests.web.conftest import PEOPLE

CALENDAR = CHARTER.business_calendar()


class _User:
    email = PEOPLE["dana"].email


def status_panel(d: Dispute, now: Any) -> str:
    html = ENV.get_template("_status.html").render(view=d.view(now), names={}, user=_User(), calendar=CALENDAR,
                                                   now=now)
    return re.sub(r"\s+", " ", html)


def test_business_time_reads_in_business_days_and_the_due_time_in_wall_clock() -> None:
    d = dispute(deal_value=750_000)  # straight to mediation on Mon 1 Feb 2027 10:00: 3 business days
    html = status_panel(d, ny(2, 1, 10))
    # 24 business hours used to read "1d 0h of business time left" next to "3d 23h from now"
    assert "Business time left: <strong>3 business days</strong>" in html
    assert "1d 0h" not in html
    assert 'Due <time class="local due" datetime="2027-02-04T15:00:00Z">Thu 4 Feb 2027, 10:00 EST</time>' in html
    assert "3d 0h from now</span> on the wall clock" in html
    assert "a business day is 8 h (09:00–17:00 America/New_York, Mon, Tue, Wed, Thu, Fri; holidays excluded)" in html

    later = status_panel(d, ny(2, 2, 13))  # 11 business hours used
    assert "Business time left: <strong>1 business day 5 h</strong>" in later


def test_a_paused_clock_shows_the_business_time_kept() -> None:
    d = in_mediation()
    do(d, MEDIATOR, "request_info", at=ny(2, 1, 11), question="Who registered first?")
    html = status_panel(d, ny(2, 1, 11))
    assert "Waiting for information; <strong class=\"business-left\">2 business days 7 h</strong> of business " \
           "time left when the mediator resumes." in html
    assert "Answered; waiting for the mediator" not in html


def test_an_answer_is_shown_and_the_mediator_is_waited_on() -> None:
    d = answered()
    html = status_panel(d, d.updated_at)
    assert "Answered; waiting for the mediator to resume" in html
    assert "<strong>Answer</strong> from pat@partner.example: “We registered on 3 May.”" in html
    assert re.search(r"<dt>Waiting on</dt><dd> mediator@example.com </dd>", html)


def decision_badge(d: Dispute) -> str:
    view: DisputeView = d.view(d.updated_at + timedelta(minutes=1))
    assert view.decision is not None
    badge: str = ENV.get_template("macros.html").module.decision_badge(view.decision, view)  # type: ignore[attr-defined]
    return re.sub(r"\s+", " ", badge).strip()


def test_a_ruling_is_appealable_only_until_it_is_appealed() -> None:
    d = ruled()
    assert decision_badge(d) == '<span class="badge appealable">appealable</span>'
    d = appealed()  # the ruling went to the executive: no longer "appealable"
    assert decision_badge(d) == '<span class="badge appealed">appealed — the executive decides</span>'
    do(d, FILER, "withdraw", reason="Settled")
    assert "appealable" not in decision_badge(d) and "withdrawn" in decision_badge(d)
    d = ruled()
    d.on_timer(d.updated_at + timedelta(days=3))  # the window closed
    assert decision_badge(d) == '<span class="badge final">final</span>'


def test_counts_read_as_words() -> None:
    """Once "12 events in 1 disputes"."""
    from store.audit import VerifyResult
    from store.queries import Filters, Page

    class _Request:
        class url:  # noqa: N801 - what templates read of a request
            path = "/audit/verify"

    def verified(events: int, disputes: int) -> str:
        html = ENV.get_template("audit.html").render(
            request=_Request(), user=None, csrf="", flashes=[], nav=[], current=None, sso=False, rows=[],
            page=Page(rows=[], has_more=False, total=0), filters=Filters(), digest="", digest_error=None,
            result=VerifyResult(ok=True, events=events, disputes=disputes, digest="v1:0:0:x"), now=None,
            regions=[], outcomes={}, signing=None)
        found = re.search(r"<strong>The trail verifies.</strong> ([^<]+?)\.", html)
        assert found
        return found[1]

    assert verified(12, 1) == "12 events in 1 dispute"
    assert verified(1, 1) == "1 event in 1 dispute"
    assert verified(1204, 30) == "1,204 events in 30 disputes"


@pytest.mark.parametrize(("value", "currency", "shown"), [
    (5000, "EUR", "EUR 5,000"), (5000.5, "USD", "USD 5,000.50"), (1_234_567.891, "JPY", "JPY 1,234,567.89"),
    (250_000.0, "", "250,000"), (None, "EUR", "–"),
])
def test_money_is_shown_with_its_currency_code(value: float | None, currency: str, shown: str) -> None:
    assert money(value, currency) == shown


def test_the_timeline_says_when_a_deal_value_was_not_compared_with_the_thresholds() -> None:
    def filed(**filing: Any) -> str:
        d = dispute(**filing)
        html = ENV.get_template("_timeline.html").render(events=d.events, names={}, calendar=CALENDAR, auditing=False)
        return re.sub(r"\s+", " ", html)

    html = filed(deal_value=60_000_000, currency="IDR")
    assert "Filed at tier 1; mediator mediator@example.com." in html
    assert ("<p class=\"muted\" data-not-compared>The charter has no exchange rate for IDR (routing.exchange_rates), "
            "so the deal value was not compared with its thresholds for skipping tiers (in USD).</p>") in html
    assert "data-not-compared" not in filed(deal_value=6_000_000, currency="JPY")  # converted: nothing to say
