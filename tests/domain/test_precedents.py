"""Precedents (DESIGN §9) in the pure core: how alike two disputes are and why, in plain words; whether an
outcome follows most of the precedents; and what the decision record keeps of them."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import precedents as p
from domain.model import Command, Criteria, PrecedentRef, Status
from domain.precedents import Features, similarity
from tests.domain.test_lifecycle import (
    CRITERIA,
    EXEC,
    MEDIATOR,
    PARTNER_OUTCOME,
    RATIONALE,
    appealed,
    in_mediation,
)

HERE = Features("account_ownership", "EMEA", "enterprise", 100_000.0, "EUR")
LEANS_PARTNER = p.criteria_vector(Criteria.model_validate(CRITERIA))
LEANS_DIRECT = p.criteria_vector(Criteria.model_validate({
    "win_probability": {"direct": 0.9, "partner": 0.1},
    "lifetime_value": {"direct": 500000, "partner": 10000},
    "strategic_fit": {"direct": 5, "partner": 1},
}))


def like(**changes: Any) -> Features:
    fields = {"conflict_type": HERE.conflict_type, "region": HERE.region, "segment": HERE.segment,
              "deal_value": HERE.deal_value, "currency": HERE.currency, "criteria": HERE.criteria, **changes}
    return Features(**fields)


def test_an_identical_dispute_scores_one_and_says_why() -> None:
    found = similarity(HERE, like())
    assert found.score == 1.0 and found.same_type
    assert found.reasons == ("same conflict type (account ownership)", "same region (EMEA)",
                             "same segment (enterprise)", "deal value within 20%")


def test_each_comparison_adds_its_weight_over_the_weights_that_count() -> None:
    total = p.W_TYPE + p.W_REGION + p.W_SEGMENT + p.W_VALUE  # no criteria here: they do not count
    assert similarity(HERE, like(region="AMER")).score == round((total - p.W_REGION) / total, 4)
    assert similarity(HERE, like(segment="smb")).score == round((total - p.W_SEGMENT) / total, 4)
    assert similarity(HERE, like(conflict_type="other")).score == round((total - p.W_TYPE) / total, 4)
    assert similarity(HERE, like(currency="USD")).score == round((total - p.W_VALUE) / total, 4)
    # without a segment of its own, the dispute's scores count region, type and value only
    bare = Features("account_ownership", "EMEA", None, 100_000.0, "EUR")
    assert similarity(bare, like(segment="smb")).score == 1.0
    assert "same segment" not in " ".join(similarity(bare, like()).reasons)


def test_region_and_segment_compare_as_written() -> None:
    assert similarity(HERE, like(region="emea")).score < 1.0
    assert not any("region" in r for r in similarity(HERE, like(region="emea")).reasons)


@pytest.mark.parametrize(("other", "words"), [
    (110_000, "deal value within 20%"), (83_400, "deal value within 20%"), (140_000, "deal value within 50%"),
    (190_000, "deal value within a factor of 2"), (50_000, "deal value within a factor of 2"), (250_000, None),
])
def test_deal_value_is_compared_on_a_log_scale(other: float, words: str | None) -> None:
    found = similarity(HERE, like(deal_value=other))
    value_reasons = [r for r in found.reasons if r.startswith("deal value")]
    assert value_reasons == ([words] if words else [])
    # the closeness depends on the ratio alone: twice as much and half as much are equally close
    assert p.value_similarity(100, 200) == p.value_similarity(100, 50) == pytest.approx(2 / 3)
    assert p.value_similarity(1e6, 2e6) == p.value_similarity(10, 20)
    ratio = max(other, HERE.deal_value) / min(other, HERE.deal_value)
    assert p.value_similarity(HERE.deal_value, other) == pytest.approx(1 - math.tanh(math.log(ratio) / 2))


def test_another_currency_is_not_compared() -> None:
    found = similarity(HERE, like(currency="USD"))
    assert not any(r.startswith("deal value") for r in found.reasons)


def test_criteria_count_once_the_dispute_has_them() -> None:
    target = like(criteria=LEANS_PARTNER)
    same = similarity(target, like(criteria=LEANS_PARTNER))
    assert same.score == 1.0 and "similar criteria (win probability, lifetime value, strategic fit)" in same.reasons
    opposite = similarity(target, like(criteria=LEANS_DIRECT))
    without = similarity(target, like())  # an agreement: no criteria to compare
    assert without.score < opposite.score < same.score
    assert not any("criteria" in r for r in opposite.reasons)
    total = p.weights_for(target)
    assert without.score == round((total - p.W_CRITERIA) / total, 4)


def test_the_same_conflict_type_always_ranks_first() -> None:
    at = datetime(2027, 1, 1, tzinfo=UTC)
    same_type_far = similarity(HERE, like(region="APAC", segment="smb", deal_value=5_000_000))
    other_type_close = similarity(HERE, like(conflict_type="other"))
    assert other_type_close.score > same_type_far.score
    ranked = sorted([("B", other_type_close), ("A", same_type_far)], key=lambda x: p.rank_key(x[1], at, x[0]))
    assert [i for i, _ in ranked] == ["A", "B"]


def test_ties_go_to_the_later_resolution_then_the_id() -> None:
    found = similarity(HERE, like())
    early, late = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)
    keys = {k: p.rank_key(found, at, k) for k, at in (("C", early), ("B", late), ("A", early))}
    assert sorted(keys, key=keys.__getitem__) == ["B", "A", "C"]


def test_similarity_is_deterministic_and_bounded() -> None:
    rng = random.Random(7)
    types, regions = ["account_ownership", "other"], ["EMEA", "AMER"]
    for _ in range(300):
        other = Features(rng.choice(types), rng.choice(regions), rng.choice(["enterprise", None, "smb"]),
                         rng.uniform(1, 1e7), rng.choice(["EUR", "USD"]),
                         rng.choice([None, LEANS_DIRECT, LEANS_PARTNER]))
        target = like(criteria=rng.choice([None, LEANS_PARTNER]))
        first, again = similarity(target, other), similarity(target, other)
        assert first == again and 0.0 <= first.score <= 1.0
        # the store orders by the partial sum: the full score never exceeds it by more than the criteria's weight
        partial = p.partial_sum(target, other) / p.weights_for(target)
        assert partial - 1e-4 <= first.score <= partial + p.W_CRITERIA / p.weights_for(target) + 1e-4


# --- consistency ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("owner", "owners", "expected"), [
    ("partner", [], None),
    ("partner", ["partner", "partner", "direct"], True),
    ("direct", ["partner", "partner", "direct"], False),
    ("co_sell", ["partner", "direct", "co_sell", "direct", "partner"], False),  # 4 of 5 differ
    ("direct", ["partner", "direct"], True),  # half differ: not most
    ("direct", ["partner"], False),
])
def test_an_outcome_departs_when_most_precedents_went_to_another_owner(
        owner: str, owners: list[str], expected: bool | None) -> None:
    assert p.consistent(owner, owners) is expected
    assert (p.warning(owner, owners) is not None) == (expected is False)


def test_the_warning_and_the_hint_say_where_most_went() -> None:
    owners = ["partner", "partner", "partner", "direct", "co_sell"]
    warning = p.warning("direct", owners)
    assert warning is not None and "4 of 5" in warning and "3 went to the partner" in warning
    assert p.hint(owners) == ("3 of the 5 closest precedents went to the partner; another owner is recorded as "
                              "departing from precedent.")
    assert p.hint(["direct", "partner"]) is None  # no majority: nothing to hint
    assert p.majority(["direct", "partner", "direct"]) == ("direct", 2)


# --- the decision record ------------------------------------------------------------------------------

def _refs(*owners: str) -> list[dict[str, Any]]:
    return [{"id": f"PRL-{i:08X}", "score": round(0.9 - i / 10, 4), "owner": o} for i, o in enumerate(owners)]


def _rule(d: Any, precedents: list[dict[str, Any]] | None, outcome: dict[str, Any] = PARTNER_OUTCOME) -> list[Any]:
    command = Command.model_validate({"actor": MEDIATOR, "precedents": precedents, "act": {
        "action": "rule", "outcome": outcome, "criteria": CRITERIA, "rationale": RATIONALE}})
    return d.apply(command, d.updated_at + timedelta(minutes=5))


def test_a_ruling_keeps_the_precedents_consulted_and_whether_it_follows_them() -> None:
    d = in_mediation()
    [event] = _rule(d, _refs("direct", "direct", "partner"))
    assert d.decision is not None
    assert [r.id for r in d.decision.precedents or []] == ["PRL-00000000", "PRL-00000001", "PRL-00000002"]
    assert d.decision.precedents == [PrecedentRef.model_validate(r) for r in _refs("direct", "direct", "partner")]
    assert d.decision.consistent_with_precedents is False  # partner, where 2 of 3 went to direct
    assert event.action == "ruled"
    assert event.payload["consistent_with_precedents"] is False
    assert [r["score"] for r in event.payload["precedents"]] == [0.9, 0.8, 0.7]
    assert d.view(d.updated_at).decision == d.decision


def test_a_ruling_with_no_precedents_records_null() -> None:
    d = in_mediation()
    [event] = _rule(d, [])
    assert d.decision is not None and d.decision.precedents == []
    assert d.decision.consistent_with_precedents is None
    assert event.payload["precedents"] == [] and event.payload["consistent_with_precedents"] is None


def test_a_command_from_before_precedents_keeps_the_old_payload() -> None:
    d = in_mediation()
    [event] = _rule(d, None)
    assert d.decision is not None and d.decision.precedents is None
    assert "precedents" not in event.payload and "consistent_with_precedents" not in event.payload


def test_the_executive_decision_keeps_them_too() -> None:
    d = appealed()
    command = Command.model_validate({"actor": EXEC, "precedents": _refs("partner", "partner"), "act": {
        "action": "decide", "outcome": PARTNER_OUTCOME, "criteria": CRITERIA, "rationale": RATIONALE}})
    [event] = d.apply(command, d.updated_at + timedelta(minutes=5))
    assert d.status == Status.resolved and event.action == "decided"
    assert d.decision is not None and d.decision.consistent_with_precedents is True
    assert event.payload["consistent_with_precedents"] is True
