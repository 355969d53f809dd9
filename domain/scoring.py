"""Turn the objective criteria into a recommendation with the charter's weights."""

from __future__ import annotations

from domain.charter import Weights
from domain.model import CreditSplit, Criteria, Outcome, Recommendation


def score(criteria: Criteria, weights: Weights) -> dict[str, float]:
    """Weighted score per channel in [0, 1]: win probability as is, lifetime value relative to the
    larger of the two, strategic fit scaled from 1..5."""
    total = weights.win_probability + weights.lifetime_value + weights.strategic_fit
    top_ltv = max(criteria.lifetime_value.direct, criteria.lifetime_value.partner) or 1.0
    scores = {}
    for channel in ("direct", "partner"):
        value = (
            weights.win_probability * getattr(criteria.win_probability, channel)
            + weights.lifetime_value * getattr(criteria.lifetime_value, channel) / top_ltv
            + weights.strategic_fit * (getattr(criteria.strategic_fit, channel) - 1) / 4
        )
        scores[channel] = round(value / total, 4)
    return scores


def recommend(criteria: Criteria, weights: Weights) -> Recommendation:
    scores = score(criteria, weights)
    direct, partner = scores["direct"], scores["partner"]
    if abs(direct - partner) < weights.co_sell_margin:
        owner = "co_sell"
    else:
        owner = "direct" if direct > partner else "partner"
    both = direct + partner
    direct_pct = 50 if both == 0 else int(round(direct / both * 20)) * 5  # nearest 5%
    return Recommendation(
        owner=owner,
        credit_split=CreditSplit(direct=direct_pct, partner=100 - direct_pct),
        scores=scores,
    )


def follows(outcome: Outcome, recommendation: Recommendation, tolerance_pct: float | None) -> bool:
    """Whether an outcome follows the recommendation: the recommended owner, and each side's credit share
    within `tolerance_pct` percentage points of the recommended split (the charter's
    `weights.follows_tolerance_pct`; a difference of exactly the tolerance still follows). The shares add
    up to 100, so both sides are off by the same amount. `None` compares the owner alone: the rule that
    decisions recorded before the split counted were made under (the workflow replays them with it)."""
    if outcome.owner != recommendation.owner:
        return False
    if tolerance_pct is None:
        return True
    given, advised = outcome.credit_split, recommendation.credit_split
    return all(abs(getattr(given, side) - getattr(advised, side)) <= tolerance_pct for side in ("direct", "partner"))
