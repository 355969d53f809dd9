"""The web forms read numbers as the API does but refuse what is not finite, refuse text no store can
hold, say so in plain words next to the field, and show an outcome's money with the dispute's currency."""

from __future__ import annotations

import pytest

from api.web.forms import complete_split, parse_action, parse_filing
from api.web.render import ENV
from domain.model import Outcome

FILING = {"title": "Acme renewal", "conflict_type": "account_ownership", "account": "Acme", "deal_value": "250000",
          "currency": "eur", "region": "EMEA", "description": "Both teams quote.",
          "counterparty_email": "pat@resellers.example", "evidence": "CRM note\nE-mail of 3 May"}
PROPOSE = {"outcome.owner": "co_sell", "outcome.credit_split.direct": "60"}
RULE = {**PROPOSE, "criteria.win_probability.direct": "0.4", "criteria.win_probability.partner": "0.7",
        "criteria.lifetime_value.direct": "1000", "criteria.lifetime_value.partner": "2000",
        "criteria.strategic_fit.direct": "3", "criteria.strategic_fit.partner": "4",
        "rationale": "The partner registered first."}


def test_a_valid_form_still_reads_its_numbers_from_text() -> None:
    filing, errors = parse_filing(dict(FILING))
    assert errors == {} and filing is not None
    assert (filing.deal_value, filing.currency, filing.evidence) == (250000.0, "EUR", ["CRM note", "E-mail of 3 May"])
    action, errors = parse_action("rule", dict(RULE))
    assert errors == {} and action is not None and action.criteria.strategic_fit.partner == 4


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"])
def test_numbers_that_are_not_finite_are_field_errors(raw: str) -> None:
    assert parse_filing({**FILING, "deal_value": raw})[1] == {"deal_value": "Must be a finite number."}
    for field in ("outcome.co_sell_stipend", "outcome.renewal_bonus_pct", "outcome.discount_cap_pct",
                  "criteria.win_probability.direct", "criteria.lifetime_value.partner"):
        action, errors = parse_action("rule", {**RULE, field: raw})
        assert action is None and field in errors, (field, errors)
    action, errors = parse_action("propose", {**PROPOSE, "outcome.credit_split.direct": raw})
    assert action is None and "outcome.credit_split.direct" in errors


@pytest.mark.parametrize("given", ["²", "٣٠", "1e1", "-5", "101"])
def test_an_odd_credit_share_is_left_for_validation_to_refuse(given: str) -> None:
    values = {"outcome.credit_split.direct": given}
    complete_split(values)  # no error: "²".isdigit() is true, but int("²") is not a number
    assert "outcome.credit_split.partner" not in values
    action, errors = parse_action("propose", {**PROPOSE, "outcome.credit_split.direct": given})
    assert action is None and errors


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "surrogate"])
def test_text_no_store_can_hold_is_a_field_error(bad: str) -> None:
    for field in ("title", "account", "description", "evidence", "counterparty_email"):
        filing, errors = parse_filing({**FILING, field: f"ab{bad}cd"})
        assert filing is None and field in errors, (field, errors)
    action, errors = parse_action("comment", {"text": f"hello{bad}"})
    assert action is None and "text" in errors


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"title": "ab"}, "title", "Must be at least 3 characters long."),
    ({"currency": "zzz"}, "currency", "ZZZ is not an ISO 4217 currency code."),
    ({"currency": "euro"}, "currency",
     "Must be a three-letter ISO 4217 currency code in capitals, such as USD or EUR."),
    ({"counterparty_email": "pat at resellers"}, "counterparty_email", "Enter a valid e-mail address."),
    ({"deal_value": "-5"}, "deal_value", "Must be greater than 0."),
])
def test_filing_errors_read_in_plain_words(changes: dict[str, str], field: str, message: str) -> None:
    assert parse_filing({**FILING, **changes})[1] == {field: message}


def test_the_outcome_shows_its_stipend_with_the_dispute_s_currency() -> None:
    outcome = Outcome.model_validate({"owner": "co_sell", "credit_split": {"direct": 50, "partner": 50},
                                      "co_sell_stipend": 5000})
    macros = ENV.get_template("macros.html").module
    html = str(macros.outcome_summary(outcome, "EUR"))  # type: ignore[attr-defined]
    assert "<dt>Co-selling stipend</dt><dd>EUR 5,000</dd>" in html
