"""Slack input at the edges: an absurd request timestamp is a 401 (never a 500, signature or not),
numbers that are not finite are field errors in every modal, and an outcome's money shows with the
dispute's currency."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from api.slack.forms import check_filing, parse_action
from domain.model import Decision, Outcome, Proposal, Status
from render import slack_blocks as kit
from render.slack_modals import criteria_from, ruling_of
from tests.slack.harness import PEOPLE, SlackDriver, counts, events, signature
from tests.store.samples import T0, view

COMMAND = urlencode({"command": "/conflict", "text": "", "user_id": PEOPLE["dana"].slack_id, "trigger_id": "t1",
                     "channel_id": "C0GENERAL", "response_url": "http://127.0.0.1:9/hooks/x"}).encode()
BUTTON = urlencode({"payload": json.dumps({
    "type": "block_actions", "user": {"id": PEOPLE["pat"].slack_id}, "trigger_id": "t2",
    "actions": [{"action_id": "act:accept", "value": "PRL-0000ABCD", "block_id": "acts:PRL-0000ABCD"}],
})}).encode()
EVENT = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {
    "type": "app_home_opened", "user": PEOPLE["dana"].slack_id, "tab": "home"}}).encode()
ENDPOINTS = [("/slack/commands", COMMAND), ("/slack/interactions", BUTTON), ("/slack/events", EVENT)]
ABSURD = ["1e30", "-5", "abc", "99999999999999999999", "9" * 400, "9" * 5000, "0x10", "+12",
          "1.5", "inf", "nan"]
FILING = {"title": "Globex overlap", "conflict_type": "account_ownership", "account": "Globex",
          "deal_value": "120000", "currency": "USD", "region": "AMER", "description": "Both teams quote."}


@pytest.mark.parametrize(("path", "body"), ENDPOINTS, ids=["commands", "interactions", "events"])
async def test_an_absurd_timestamp_is_401_signed_or_not(slack: SlackDriver, path: str, body: bytes) -> None:
    before, calls = counts(slack.stack.engine), len(slack.fake.calls)
    failures = []
    for timestamp in ABSURD:
        for headers in ({"X-Slack-Request-Timestamp": timestamp},
                        {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=00"},
                        {"X-Slack-Request-Timestamp": timestamp,
                         "X-Slack-Signature": signature("not-the-secret", timestamp, body)}):
            response = await slack.post(path, body, {**headers, "Content-Type": "application/x-www-form-urlencoded"})
            if response.status_code != 401 or not isinstance(response.json().get("detail"), str):
                failures.append(f"{timestamp[:20]!r} {sorted(headers)}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
    assert counts(slack.stack.engine) == before and len(slack.fake.calls) == calls


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "1e400", "Infinity"])
async def test_a_filing_form_refuses_a_deal_value_that_is_not_finite(slack: SlackDriver, raw: str) -> None:
    sent = await slack.command("dana")
    modal = await slack.modal(sent)
    before = counts(slack.stack.engine)
    answer = await slack.submit("dana", modal, {**FILING, "counterparty": PEOPLE["pat"].slack_id, "deal_value": raw})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["response_action"] == "errors" and "deal_value" in body["errors"], body
    assert counts(slack.stack.engine) == before


async def test_an_action_form_refuses_numbers_that_are_not_finite(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")
    before = events(slack.stack.engine, dispute_id)
    for values, block in [({"owner": "co_sell", "credit_direct": "inf"}, "credit_direct"),
                          ({"owner": "co_sell", "credit_direct": "nan"}, "credit_direct"),
                          ({"owner": "co_sell", "credit_direct": "1e400"}, "credit_direct"),
                          ({"owner": "co_sell", "credit_direct": "50", "co_sell_stipend": "nan"}, "co_sell_stipend"),
                          ({"owner": "co_sell", "credit_direct": "50", "renewal_bonus_pct": "inf"},
                           "renewal_bonus_pct")]:
        body = await slack.act_via_modal("pat", dispute_id, "propose", values)
        assert body["response_action"] == "errors" and block in body["errors"], (values, body)
    assert events(slack.stack.engine, dispute_id) == before


# --- the same, without the stack ----------------------------------------------------------------------

CRITERIA = {"win_direct": "0.4", "win_partner": "0.7", "ltv_direct": "120000", "ltv_partner": "90000",
            "fit_direct": "3", "fit_partner": "4"}


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400", "Infinity"])
def test_every_number_of_a_ruling_form_must_be_finite(raw: str) -> None:
    base = {"owner": "partner", "credit_direct": "30", "rationale": "Registered first, stronger relationship.",
            **CRITERIA}
    for block in ("credit_direct", "co_sell_stipend", "renewal_bonus_pct", "discount_cap_pct", *CRITERIA):
        parsed, errors = parse_action("rule", {**base, block: raw})
        assert parsed is None and block in errors, (block, errors)
        if block in CRITERIA:
            assert criteria_from({**CRITERIA, block: raw}) is None
    assert "deal_value" in check_filing({**FILING, "counterparty": "U1", "deal_value": raw})


def test_form_errors_read_in_plain_words() -> None:
    _, errors = parse_action("propose", {"owner": "co_sell", "credit_direct": "50", "discount_cap_pct": "120"})
    assert errors == {"discount_cap_pct": "Must be at most 100."}
    errors = check_filing({**FILING, "counterparty": "U1", "title": "ab", "currency": "ZZZ"})
    assert errors["title"] == "Must be at least 3 characters long."
    assert errors["currency"] == "ZZZ is not an ISO 4217 currency code."


def test_an_outcome_s_stipend_shows_with_the_dispute_s_currency() -> None:
    outcome = Outcome.model_validate({"owner": "co_sell", "credit_split": {"direct": 50, "partner": 50},
                                      "co_sell_stipend": 5000})
    assert "co-sell stipend EUR\xa05,000.00" in kit.outcome_text(outcome, "EUR")
    assert "co-sell stipend JPY\xa05,000" in kit.outcome_text(outcome, "JPY")  # no decimals in yen
    decided = view(currency="CHF", status=Status.appeal_window, decision=Decision(
        kind="ruling", outcome=outcome, rationale="Both teams worked it.", actor="m@example.com", at=T0, tier=2,
        charter_version="v"))
    ruling = ruling_of(decided)
    assert ruling is not None and "CHF\xa05,000.00" in ruling
    rendered = json.dumps([b.to_dict() for b in kit.context_of(decided)], ensure_ascii=False)
    assert "CHF\xa05,000.00" in rendered


def test_the_case_blocks_show_an_open_proposal_s_stipend_with_its_currency() -> None:
    outcome = Outcome.model_validate({"owner": "co_sell", "credit_split": {"direct": 50, "partner": 50},
                                      "co_sell_stipend": 1234.5})
    proposed = view(currency="GBP", proposals=[Proposal(id=1, by="pat@example.com", outcome=outcome, note="",
                                                        at=T0)])
    rendered = json.dumps([b.to_dict() for b in kit.context_of(proposed)], ensure_ascii=False)
    assert "GBP\xa01,234.50" in rendered
