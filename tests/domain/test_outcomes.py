"""What a new outcome may not say: the owner gets some of the credit; price protection ends on a day to come."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain import outcomes
from domain.errors import InvalidInput
from domain.model import Outcome

TODAY = date(2026, 12, 7)


def outcome(owner: str, direct: int, **more: Any) -> Outcome:
    return Outcome.model_validate({"owner": owner, "credit_split": {"direct": direct, "partner": 100 - direct},
                                   **more})


@pytest.mark.parametrize(("owner", "direct", "words"), [
    ("direct", 0, "gives the owner (direct sales) none of the credit"),
    ("partner", 100, "gives the owner (the partner) none of the credit"),
])
def test_an_owner_without_credit_is_refused(owner: str, direct: int, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        outcomes.check(outcome(owner, direct), TODAY)
    assert refused.value.field == "outcome.credit_split" and words in refused.value.message


@pytest.mark.parametrize(("owner", "direct"), [("direct", 1), ("partner", 99), ("co_sell", 0), ("co_sell", 100),
                                               ("direct", 100), ("partner", 0)])
def test_an_owner_with_some_credit_or_a_co_sell_is_fine(owner: str, direct: int) -> None:
    outcomes.check(outcome(owner, direct), TODAY)


def test_price_protection_ends_today_at_the_earliest() -> None:
    outcomes.check(outcome("partner", 30, price_protection_until="2026-12-07"), TODAY)
    with pytest.raises(InvalidInput) as refused:
        outcomes.check(outcome("partner", 30, price_protection_until="2026-12-06"), TODAY)
    assert refused.value.field == "outcome.price_protection_until"
    assert refused.value.message == ("outcome.price_protection_until: 2026-12-06 has passed; price protection runs "
                                     "until a day from today (2026-12-07) on")
