from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.charter import Weights
from domain.model import Criteria, Outcome
from domain.scoring import follows, recommend, score

DEFAULT = Weights()  # 0.5 / 0.3 / 0.2, co-sell margin 0.05


def criteria(win: tuple[float, float], ltv: tuple[float, float], fit: tuple[int, int]) -> Criteria:
    return Criteria.model_validate({
        "win_probability": {"direct": win[0], "partner": win[1]},
        "lifetime_value": {"direct": ltv[0], "partner": ltv[1]},
        "strategic_fit": {"direct": fit[0], "partner": fit[1]},
    })


def outcome(owner: str, direct: int = 50) -> Outcome:
    return Outcome.model_validate({"owner": owner, "credit_split": {"direct": direct, "partner": 100 - direct}})


DESIGN_EXAMPLE = criteria((0.4, 0.7), (120_000, 90_000), (3, 4))


def test_score_of_the_design_example_by_hand() -> None:
    # direct:  0.5*0.4 + 0.3*(120k/120k) + 0.2*(3-1)/4 = 0.2 + 0.3 + 0.1 = 0.6
    # partner: 0.5*0.7 + 0.3*(90k/120k)  + 0.2*(4-1)/4 = 0.35 + 0.225 + 0.15 = 0.725
    assert score(DESIGN_EXAMPLE, DEFAULT) == {"direct": 0.6, "partner": 0.725}


def test_recommendation_of_the_design_example() -> None:
    rec = recommend(DESIGN_EXAMPLE, DEFAULT)
    assert rec.owner == "partner"
    # 0.6 / 1.325 = 45.3% -> nearest 5%: 45/55
    assert (rec.credit_split.direct, rec.credit_split.partner) == (45, 55)
    assert rec.scores == {"direct": 0.6, "partner": 0.725}


def test_weights_are_normalised() -> None:
    doubled = Weights(win_probability=1.0, lifetime_value=0.6, strategic_fit=0.4)
    assert score(DESIGN_EXAMPLE, doubled) == score(DESIGN_EXAMPLE, DEFAULT)


def test_scores_lie_between_zero_and_one() -> None:
    best = score(criteria((1, 1), (5, 5), (5, 5)), DEFAULT)
    worst = score(criteria((0, 0), (0, 0), (1, 1)), DEFAULT)
    assert best == {"direct": 1.0, "partner": 1.0}
    assert worst == {"direct": 0.0, "partner": 0.0}


def test_all_zero_criteria_recommend_an_even_co_sell() -> None:
    rec = recommend(criteria((0, 0), (0, 0), (1, 1)), DEFAULT)
    assert rec.owner == "co_sell"
    assert (rec.credit_split.direct, rec.credit_split.partner) == (50, 50)


def test_clear_direct_win() -> None:
    rec = recommend(criteria((0.9, 0.1), (100, 100), (3, 3)), DEFAULT)
    # direct 0.45+0.3+0.1 = 0.85, partner 0.05+0.3+0.1 = 0.45 -> 65.4% -> 65/35
    assert rec.owner == "direct"
    assert (rec.credit_split.direct, rec.credit_split.partner) == (65, 35)


@pytest.mark.parametrize(("partner_win", "owner"), [(0.5, "co_sell"), (0.46, "co_sell"), (0.44, "direct")])
def test_close_scores_recommend_co_sell(partner_win: float, owner: str) -> None:
    only_win = Weights(win_probability=1, lifetime_value=0, strategic_fit=0, co_sell_margin=0.05)
    rec = recommend(criteria((0.5, partner_win), (1, 1), (1, 1)), only_win)
    assert rec.owner == owner


def test_lifetime_value_is_relative_to_the_larger() -> None:
    only_ltv = Weights(win_probability=0, lifetime_value=1, strategic_fit=0)
    assert score(criteria((0, 0), (250, 1000), (1, 1)), only_ltv) == {"direct": 0.25, "partner": 1.0}
    assert score(criteria((0, 0), (2.5e9, 1e10), (1, 1)), only_ltv) == {"direct": 0.25, "partner": 1.0}


def test_strategic_fit_scales_from_one_to_five() -> None:
    only_fit = Weights(win_probability=0, lifetime_value=0, strategic_fit=1)
    assert score(criteria((0, 0), (1, 1), (1, 5)), only_fit) == {"direct": 0.0, "partner": 1.0}
    assert score(criteria((0, 0), (1, 1), (2, 4)), only_fit) == {"direct": 0.25, "partner": 0.75}


def test_follows_compares_the_owner_and_the_credit_split() -> None:
    rec = recommend(DESIGN_EXAMPLE, DEFAULT)  # partner, 45/55
    tolerance = DEFAULT.follows_tolerance_pct
    assert tolerance == 10
    assert follows(outcome("partner", 45), rec, tolerance)
    assert follows(outcome("partner", 40), rec, tolerance)
    assert not follows(outcome("partner", 10), rec, tolerance)  # the right owner, but 35 points off the split
    assert not follows(outcome("direct", 45), rec, tolerance)  # the recommended split, but the wrong owner
    assert not follows(outcome("co_sell"), rec, tolerance)


@pytest.mark.parametrize(("direct", "expected"), [
    (35, True), (55, True),  # exactly the tolerance away, on either side: still follows
    (34, False), (56, False),  # one point more: departs
    (45, True),
])
def test_the_tolerance_is_inclusive_and_symmetric(direct: int, expected: bool) -> None:
    rec = recommend(DESIGN_EXAMPLE, DEFAULT)  # 45/55
    assert follows(outcome("partner", direct), rec, 10) is expected


def test_each_side_is_within_the_tolerance() -> None:
    rec = recommend(criteria((0.9, 0.1), (100, 100), (3, 3)), DEFAULT)  # direct, 65/35
    given = outcome("direct", 72)  # 72/28: direct 7 points over, partner 7 points under
    assert follows(given, rec, 7) and not follows(given, rec, 6.9)
    assert follows(outcome("direct", 100), rec, 35) and not follows(outcome("direct", 100), rec, 34)


def test_a_zero_tolerance_asks_for_the_recommended_split_exactly() -> None:
    rec = recommend(DESIGN_EXAMPLE, DEFAULT)
    assert follows(outcome("partner", 45), rec, 0)
    assert not follows(outcome("partner", 44), rec, 0)


def test_co_sell_is_compared_with_its_split_too() -> None:
    rec = recommend(criteria((0, 0), (0, 0), (1, 1)), DEFAULT)  # co-sell, 50/50
    assert follows(outcome("co_sell", 60), rec, 10)
    assert not follows(outcome("co_sell", 70), rec, 10)


def test_without_a_tolerance_only_the_owner_counts() -> None:
    """The rule of the decisions recorded before the split counted, which replays keep."""
    rec = recommend(DESIGN_EXAMPLE, DEFAULT)
    assert follows(outcome("partner", 10), rec, None)
    assert not follows(outcome("direct", 45), rec, None)


def test_the_tolerance_is_a_weight_of_the_charter() -> None:
    assert Weights(follows_tolerance_pct=0).follows_tolerance_pct == 0
    assert Weights(follows_tolerance_pct=100).follows_tolerance_pct == 100
    for bad in (-1, 100.5):
        with pytest.raises(ValidationError, match="follows_tolerance_pct"):
            Weights(follows_tolerance_pct=bad)


def test_weights_must_not_all_be_zero() -> None:
    with pytest.raises(ValidationError, match="at least one criteria weight must be positive"):
        Weights(win_probability=0, lifetime_value=0, strategic_fit=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("win_probability", {"direct": 1.2, "partner": 0}), ("strategic_fit", {"direct": 0, "partner": 3}),
     ("strategic_fit", {"direct": 6, "partner": 3}), ("lifetime_value", {"direct": -1, "partner": 3})],
)
def test_criteria_out_of_range_are_refused(field: str, value: dict[str, float]) -> None:
    data = {
        "win_probability": {"direct": 0.5, "partner": 0.5},
        "lifetime_value": {"direct": 1, "partner": 1},
        "strategic_fit": {"direct": 3, "partner": 3},
        field: value,
    }
    with pytest.raises(ValidationError) as info:
        Criteria.model_validate(data)
    assert info.value.errors()[0]["loc"][0] == field
