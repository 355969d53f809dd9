"""What a registration must look like when it is submitted: each refusal names the field."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from domain.registrations import LIVE, STATUSES, RegistrationIn, new_registration_id, normalise_domain

VALID: dict[str, Any] = {"account": "Globex Corp", "title": "Globex renewal 2027", "deal_value": 120_000,
                         "region": "EMEA"}


def errors_of(**changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        RegistrationIn.model_validate({**VALID, **changes})
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in info.value.errors()}


def test_a_minimal_registration_gets_its_defaults() -> None:
    reg = RegistrationIn.model_validate(VALID)
    assert (reg.currency, reg.account_domain, reg.products, reg.owner_email, reg.external_ref) == (
        "USD", None, [], None, None)


def test_a_full_registration_is_trimmed_and_normalised() -> None:
    reg = RegistrationIn.model_validate({**VALID, "account": "  Globex Corp ", "account_domain": "HTTPS://www.Globex.COM/",
                                         "currency": "EUR", "segment": "enterprise", "expected_close": "2027-03-31",
                                         "external_ref": "CRM-0042", "products": ["Widgets", "Support"],
                                         "owner_email": "pat@northwind.example"})
    assert reg.account == "Globex Corp" and reg.account_domain == "globex.com"
    assert reg.expected_close == date(2027, 3, 31) and reg.products == ["Widgets", "Support"]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"currency": "ZZZ"}, "currency", "ZZZ is not an ISO 4217 currency code"),
    ({"currency": "DEM"}, "currency", "DEM (German Mark) is not an ISO 4217 currency in use"),
    ({"currency": "usd"}, "currency", "three-letter ISO 4217"),
    ({"deal_value": 0}, "deal_value", "greater than 0"),
    ({"deal_value": -5}, "deal_value", "greater than 0"),
    ({"deal_value": 1e12}, "deal_value", "less than or equal to"),
    ({"deal_value": "1000"}, "deal_value", "not text"),
    ({"deal_value": True}, "deal_value", "not true or false"),
    ({"account_domain": "not a domain"}, "account_domain", "is not a domain name"),
    ({"account_domain": "localhost"}, "account_domain", "is not a domain name"),
    ({"account_domain": "10.0.0.1"}, "account_domain", "not an IP address"),
    ({"account_domain": "sales@globex.com"}, "account_domain", "not an e-mail address"),
    ({"account": "   "}, "account", "at least 1 character"),
    ({"account": "x" * 201}, "account", "at most 200 characters"),
    ({"title": "ab"}, "title", "at least 3 characters"),
    ({"title": "t" * 201}, "title", "at most 200 characters"),
    ({"region": ""}, "region", "at least 1 character"),
    ({"owner_email": "pat"}, "owner_email", "not a valid e-mail address"),
    ({"products": [""]}, "products.0", "at least 1 character"),
    ({"expected_close": "next spring"}, "expected_close", "valid date"),
    ({"expected_close": 0}, "expected_close", "must be a date (YYYY-MM-DD), not a number"),  # not 1970-01-01
    ({"expected_close": "20270331"}, "expected_close", "must be a date (YYYY-MM-DD), not a number"),
    ({"account": "Globex\x00"}, "account", "NUL"),
    ({"colour": "red"}, "colour", "Extra inputs"),
])
def test_bad_values_name_their_field(changes: dict[str, Any], field: str, words: str) -> None:
    errors = errors_of(**changes)
    assert field in errors, errors
    assert words in errors[field]


@pytest.mark.parametrize(("typed", "kept"), [
    ("globex.com", "globex.com"),
    ("https://www.Globex.com/about?x=1#top", "globex.com"),
    ("globex.com.", "globex.com"),
    ("globex.com:8443", "globex.com"),
    ("shop.globex.co.uk", "shop.globex.co.uk"),
    ("Bücher.de", "bücher.de"),
    ("xn--bcher-kva.de", "bücher.de"),  # the same name, spelt in ASCII
])
def test_domains_are_normalised(typed: str, kept: str) -> None:
    assert normalise_domain(typed) == kept


@pytest.mark.parametrize("typed", ["globex", "globex.c0m", "-globex.com", "glo_bex.com", "www.", "[::1]", "a..b.com",
                                   "globex .com", "x" * 64 + ".com"])
def test_non_domains_are_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        normalise_domain(typed)


def test_ids_and_statuses() -> None:
    assert re.fullmatch(r"REG-[0-9A-F]{8}", new_registration_id())
    assert len({new_registration_id() for _ in range(100)}) == 100
    assert STATUSES == ("pending", "approved", "rejected", "expired", "withdrawn", "closed")
    assert LIVE == {"pending", "approved"}
