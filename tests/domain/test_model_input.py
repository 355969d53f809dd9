"""The input models refuse, field by field, what no store can hold and what is not what it claims to be:
NUL and lone surrogates in any text, booleans and numeric strings where a number belongs, infinities,
and currencies that do not exist. The refusals read in plain words (api.errors)."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from api.errors import plain_message, problems_of_validation, sentence, split_field
from api.routes.users import UserCreate
from domain.model import TEXT_INPUT, Action, Filing, Strict

ACTION: TypeAdapter[Any] = TypeAdapter(Action)
OUTCOME = {"owner": "co_sell", "credit_split": {"direct": 60, "partner": 40}, "co_sell_stipend": 5000,
           "renewal_bonus_pct": 5, "price_protection_until": "2027-03-31", "discount_cap_pct": 15.5,
           "terms": "Split the renewal."}
CRITERIA = {"win_probability": {"direct": 0.4, "partner": 0.7}, "lifetime_value": {"direct": 120000, "partner": 9e4},
            "strategic_fit": {"direct": 3, "partner": 4}}
RATIONALE = "The partner registered first and carries the relationship."
FILING = {"title": "Acme renewal", "conflict_type": "account_ownership", "account": "Acme GmbH",
          "opportunity_ref": "OPP-1", "registration_ref": "REG-1", "deal_value": 250000, "currency": "EUR",
          "region": "EMEA", "segment": "enterprise", "description": "Both teams quote.",
          "counterparty_email": "pat@resellers.example", "partner_org": "Resellers Inc",
          "evidence": ["CRM note", "E-mail of 3 May"]}
ACTIONS: list[dict[str, Any]] = [
    {"action": "comment", "text": "Hello"},
    {"action": "propose", "outcome": OUTCOME, "note": "Split it"},
    {"action": "accept"},
    {"action": "reject", "reason": "No"},
    {"action": "escalate", "reason": "Stuck"},
    {"action": "request_info", "question": "Who registered first?"},
    {"action": "resume", "note": "Thanks"},
    {"action": "rule", "outcome": OUTCOME, "criteria": CRITERIA, "rationale": RATIONALE},
    {"action": "approve", "note": "Fine"},
    {"action": "appeal", "reason": "Unfair"},
    {"action": "decide", "outcome": OUTCOME, "criteria": CRITERIA, "rationale": RATIONALE},
    {"action": "withdraw", "reason": "Settled"},
    {"action": "reassign", "to": "mediator2@example.com"},
]
USER = {"email": "new@corp.example", "name": "New Rep", "role": "rep", "channel": "partner",
        "partner_org": "Resellers Inc", "region": "EMEA", "segment": "smb", "slack_user_id": "U0NEW"}


def validate(kind: str, data: dict[str, Any]) -> object:
    if kind == "filing":
        return Filing.model_validate(data)
    if kind == "user":
        return UserCreate.model_validate(data)
    return ACTION.validate_python(data)


SAMPLES: list[tuple[str, dict[str, Any]]] = [("filing", FILING), ("user", USER)] + [("action", a) for a in ACTIONS]
IDS = ["filing", "user"] + [a["action"] for a in ACTIONS]


def leaves(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from leaves(value, (*path, i))
    else:
        yield path, data


def replaced(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def refused_at(kind: str, data: dict[str, Any], path: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """The errors of refusing `data`, which must name `path` (or the field holding it)."""
    with pytest.raises(ValidationError) as info:
        validate(kind, data)
    errors = [dict(e) for e in info.value.errors()]
    if kind == "action":  # the union's tag leads pydantic's location
        for e in errors:
            e["loc"] = e["loc"][1:] if e["loc"][:1] == (data["action"],) else e["loc"]
    assert any(tuple(e["loc"]) == path[:len(e["loc"])] and e["loc"] for e in errors), (path, errors)
    return errors


def test_the_samples_are_valid() -> None:
    for kind, data in SAMPLES:
        validate(kind, data)


def test_every_input_model_is_strict() -> None:
    """The text guard lives on the `Strict` base: every model that takes input derives from it."""
    members = get_args(get_args(Action)[0])
    assert len(members) >= len(ACTIONS)
    for model in (*members, Filing, UserCreate):
        assert isinstance(model, type) and issubclass(model, Strict), model


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"], ids=["nul", "high-surrogate", "low-surrogate"])
@pytest.mark.parametrize(("kind", "data"), SAMPLES, ids=IDS)
def test_no_text_field_takes_what_a_store_cannot_hold(kind: str, data: dict[str, Any], bad: str) -> None:
    texts = [(path, value) for path, value in leaves(data) if isinstance(value, str) and path != ("action",)]
    for path, value in texts:
        errors = refused_at(kind, replaced(data, path, f"{value[:2]}{bad}{value[2:]}"), path)
        assert all("\x00" not in plain_message(e) for e in errors)


@pytest.mark.parametrize("kind, data", SAMPLES, ids=IDS)
def test_numbers_are_numbers(kind: str, data: dict[str, Any]) -> None:
    """true/false or "1000" where a number belongs is refused; so are NaN and the infinities."""
    numbers = [path for path, value in leaves(data) if isinstance(value, int | float) and not isinstance(value, bool)]
    for path in numbers:
        for bad in (True, False, "1000", "5", math.nan, math.inf, -math.inf, [1]):
            refused_at(kind, replaced(data, path, bad), path)
    if kind == "filing":
        assert Filing.model_validate(replaced(data, ("deal_value",), 1000)).deal_value == 1000.0  # an int is a number


def test_a_whole_float_is_a_whole_number() -> None:
    """JSON Schema's integer includes 2.0: an int field takes it (the OpenAPI document promises so)."""
    outcome = {**OUTCOME, "credit_split": {"direct": 60.0, "partner": 40.0}}
    rule = ACTION.validate_python({"action": "rule", "outcome": outcome, "rationale": RATIONALE,
                                   "criteria": {**CRITERIA, "strategic_fit": {"direct": 3.0, "partner": 4}}})
    assert rule.outcome.credit_split.direct == 60 and rule.criteria.strategic_fit.direct == 3


def test_form_text_is_read_as_numbers_only_when_the_caller_says_so() -> None:
    data = {**FILING, "deal_value": "1000.5"}
    with pytest.raises(ValidationError):
        Filing.model_validate(data)
    assert Filing.model_validate(data, context={TEXT_INPUT: True}).deal_value == 1000.5
    for bad in ("nan", "inf", "1e400", "true"):
        with pytest.raises(ValidationError):
            Filing.model_validate({**FILING, "deal_value": bad}, context={TEXT_INPUT: True})
    with pytest.raises(ValidationError):  # a boolean is never a number, form or not
        Filing.model_validate({**FILING, "deal_value": True}, context={TEXT_INPUT: True})


def test_a_numeric_string_is_told_to_be_a_number() -> None:
    with pytest.raises(ValidationError) as info:
        Filing.model_validate({**FILING, "deal_value": "1000"})
    assert [(p["field"], p["message"]) for p in problems_of_validation(info.value.errors())] == [
        ("deal_value", "must be a number, not text")]
    with pytest.raises(ValidationError) as info:
        Filing.model_validate({**FILING, "deal_value": True})
    assert problems_of_validation(info.value.errors())[0]["message"] == "must be a number, not true or false"


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "CHF", "BHD", "INR"])
def test_existing_currencies_pass(code: str) -> None:
    assert Filing.model_validate({**FILING, "currency": code}).currency == code


@pytest.mark.parametrize("code", ["BGN", "DEM"])
def test_a_filing_in_a_withdrawn_currency_stays_readable(code: str) -> None:
    """A dispute filed before ISO withdrew its currency travels in its workflow's history: it must still load
    (the service refuses new filings in it: tests/api/test_input_edges.py)."""
    assert Filing.model_validate({**FILING, "currency": code}).currency == code


@pytest.mark.parametrize(("code", "message"), [
    ("ZZZ", "ZZZ is not an ISO 4217 currency code"),
    ("ABC", "ABC is not an ISO 4217 currency code"),
    ("XXX", "XXX is not an ISO 4217 currency code"),  # "no currency" is no currency for a deal
    ("eur", "must be a three-letter ISO 4217 currency code in capitals, such as USD or EUR"),
    ("EURO", "must be a three-letter ISO 4217 currency code in capitals, such as USD or EUR"),
    ("", "must be a three-letter ISO 4217 currency code in capitals, such as USD or EUR"),
])
def test_a_currency_must_exist(code: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Filing.model_validate({**FILING, "currency": code})
    assert [(p["field"], p["message"]) for p in problems_of_validation(info.value.errors())] == [("currency", message)]


# --- plain words ------------------------------------------------------------------------------------

PLAIN: list[tuple[str, dict[str, Any], str, str]] = [
    ("filing", {**FILING, "title": "ab"}, "title", "must be at least 3 characters long"),
    ("filing", {**FILING, "title": "x" * 201}, "title", "must be at most 200 characters long"),
    ("filing", {**FILING, "account": ""}, "account", "must not be empty"),
    ("filing", {k: v for k, v in FILING.items() if k != "region"}, "region", "is required"),
    ("filing", {**FILING, "counterparty_email": "pat at resellers"}, "counterparty_email",
     "is not a valid e-mail address"),
    ("filing", {**FILING, "deal_value": 0}, "deal_value", "must be greater than 0"),
    ("filing", {**FILING, "deal_value": 1e13}, "deal_value", "must be at most 100,000,000,000"),
    ("filing", {**FILING, "conflict_type": "turf_war"}, "conflict_type",
     "must be one of 'registration_overlap', 'discount_undercut', 'account_ownership', 'credit_attribution' "
     "or 'other'"),
    ("filing", {**FILING, "evidence": "see CRM"}, "evidence", "must be a list, not text"),
    ("filing", {**FILING, "evidence": ["x"] * 21}, "evidence", "must have at most 20 items"),
    ("filing", {**FILING, "priority": "high"}, "priority", "is not an accepted field"),
    ("filing", {**FILING, "title": 12345}, "title", "must be text, not a number"),
    ("user", {**USER, "email": "two@@corp.example"}, "email", "is not a valid e-mail address"),
    ("user", {**USER, "role": "overlord"}, "role",
     "must be one of 'rep', 'mediator', 'executive', 'auditor' or 'admin'"),
    ("action", {"action": "propose", "outcome": {**OUTCOME, "credit_split": {"direct": 60, "partner": 30}}},
     "outcome.credit_split", "must add up to 100 (got 60 + 30)"),
    ("action", {"action": "propose", "outcome": {**OUTCOME, "credit_split": {"direct": 60.5, "partner": 39.5}}},
     "outcome.credit_split.direct", "must be a whole number"),
    ("action", {"action": "propose", "outcome": {**OUTCOME, "price_protection_until": "soon"}},
     "outcome.price_protection_until", "must be a date (YYYY-MM-DD)"),
    ("action", {"action": "propose", "outcome": {**OUTCOME, "price_protection_until": 0}},
     "outcome.price_protection_until", "must be a date (YYYY-MM-DD), not a number"),
    ("action", {"action": "propose", "outcome": {**OUTCOME, "price_protection_until": True}},
     "outcome.price_protection_until", "must be a date (YYYY-MM-DD), not true or false"),
    ("action", {"action": "rule", "outcome": OUTCOME, "criteria": CRITERIA, "rationale": "Because"}, "rationale",
     "must explain the decision: at least three words and 15 characters"),
    ("action", {"action": "rule", "outcome": OUTCOME, "rationale": RATIONALE,
                "criteria": {**CRITERIA, "win_probability": {"direct": 1.5, "partner": 0.2}}},
     "criteria.win_probability.direct", "must be at most 1"),
    ("action", {"action": "rule", "outcome": OUTCOME, "rationale": RATIONALE,
                "criteria": {**CRITERIA, "strategic_fit": {"direct": 0, "partner": 2}}},
     "criteria.strategic_fit.direct", "must be at least 1"),
    ("action", {"action": "dance"}, "action",
     "must be one of 'comment', 'propose', 'accept', 'reject', 'escalate', 'request_info', 'resume', "),
]


@pytest.mark.parametrize(("kind", "data", "field", "message"), PLAIN, ids=[f"{c[2]}-{i}" for i, c in enumerate(PLAIN)])
def test_refusals_read_in_plain_words(kind: str, data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate(kind, data)
    body = {"body": data} if kind == "action" else None
    errors = [{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()] if kind == "action" else \
        info.value.errors()
    found = problems_of_validation(errors, body["body"] if body else None)  # type: ignore[arg-type]
    messages = {p["field"]: p["message"] for p in found}
    assert field in messages, found
    assert messages[field].startswith(message), found
    for text in messages.values():  # pydantic's phrasing, regular expressions, capitalised field names: none
        assert "should" not in text and "^" not in text and "[" not in text, text
        assert text[:1].islower() or text[:3].isupper(), text


def test_domain_errors_are_split_into_field_and_message() -> None:
    assert split_field("to: exec@example.com is not a mediator") == ("to", "exec@example.com is not a mediator")
    assert split_field("counterparty_email: no Parley user x@y.example", "counterparty_email") == (
        "counterparty_email", "no Parley user x@y.example")
    assert split_field("a partner user needs partner_org", "partner_org") == (
        "partner_org", "a partner user needs partner_org")
    assert split_field("digest: malformed digest 'abc': expected …", "digest") == (
        "digest", "malformed digest 'abc': expected …")
    assert split_field("something went wrong") == ("body", "something went wrong")


def test_a_message_as_a_form_sentence() -> None:
    assert sentence("must not be empty") == "Must not be empty."
    assert sentence("ZZZ is not an ISO 4217 currency code") == "ZZZ is not an ISO 4217 currency code."


def test_every_pydantic_error_of_the_models_reads_plainly() -> None:
    """Whatever pydantic says about any field of any sample, the message is not pydantic's."""
    seen: set[str] = set()
    for kind, data in SAMPLES:
        for path, _ in leaves(data):
            for bad in ({}, [], None, "", "x" * 10_001, -1, 10**30):
                try:
                    validate(kind, replaced(data, path, bad))
                except ValidationError as exc:
                    for err in exc.errors():
                        message = plain_message(err)
                        seen.add(err["type"])
                        assert message and not message.startswith(("Input ", "String ", "Value ")), (err, message)
                        assert "should" not in message, (err, message)
    assert {"missing", "string_too_short", "string_too_long", "model_type", "less_than_equal"} & seen
