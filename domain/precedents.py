"""Precedents (DESIGN §9): how alike two disputes are, why, and whether an outcome follows most of them.

Similarity is a weighted sum of five plain comparisons, each in [0, 1], so that every score can be
explained in words and computed again by hand:

    conflict type  0.35   the same type, or not (and the same type always ranks first: `rank_key`)
    region         0.20   the same region, or not
    segment        0.10   the same segment; counted only when the dispute has one
    deal value     0.20   2·min(a, b) / (a + b): a function of the ratio alone, i.e. of the distance of the
                          two values on a log scale (1 at equal values, 0.91 at 20 % apart, 0.67 at twice,
                          0.18 at ten times); 0 in another currency (Parley keeps no exchange rates)
    criteria       0.15   1 − the mean absolute difference of the criteria on a 0–1 scale (win probability
                          as is, each side's share of the lifetime value, strategic fit from 1–5); counted
                          only when the dispute has criteria (a ruling being made, or one under appeal), 0 for
                          a precedent without them (an agreement)

The score is the sum over the comparisons that count for the dispute, divided by their weights: 1 is
identical on everything compared. It is deterministic: the same inputs give the same score, ties are
broken by the later resolution, then the id. No I/O: the store fetches the candidates
(`store.precedents`), the service decides who may see them (`service.precedents`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.model import Criteria

W_TYPE, W_REGION, W_SEGMENT, W_VALUE, W_CRITERIA = 0.35, 0.20, 0.10, 0.20, 0.15
CONSULTED = 5  # how many precedents a ruling or decision is checked against (and the forms show)
MAX_LIMIT = 20


Vector = tuple[float, float, float, float, float]  # criteria on a 0–1 scale (`criteria_vector`)


@dataclass(frozen=True)
class Features:
    """What similarity reads of a dispute (its criteria as a `Vector`: `criteria_vector`)."""

    conflict_type: str
    region: str
    segment: str | None
    deal_value: float
    currency: str
    criteria: Vector | None = None


@dataclass(frozen=True)
class Similarity:
    score: float  # in [0, 1], rounded to 4 places
    reasons: tuple[str, ...]  # why it is similar, in plain words, the strongest first
    same_type: bool


def weights_for(target: Features) -> float:
    """The total weight of the comparisons that count for `target` (the divisor of its scores)."""
    return (W_TYPE + W_REGION + W_VALUE + (W_SEGMENT if target.segment else 0.0)
            + (W_CRITERIA if target.criteria is not None else 0.0))


def value_similarity(a: float, b: float) -> float:
    """2·min/(a+b): 1 − tanh(|ln(a/b)| / 2), the closeness of two amounts on a log scale."""
    if a <= 0 or b <= 0:
        return 0.0
    return 2 * min(a, b) / (a + b)


def criteria_vector(c: Criteria) -> Vector:
    """Win probability as is, the direct side's share of the lifetime value, strategic fit from 1–5 to 0–1."""
    return vector_of(c.win_probability.direct, c.win_probability.partner, c.lifetime_value.direct,
                     c.lifetime_value.partner, c.strategic_fit.direct, c.strategic_fit.partner)


def vector_of(win_direct: float, win_partner: float, ltv_direct: float, ltv_partner: float, fit_direct: float,
              fit_partner: float) -> Vector:
    ltv = ltv_direct + ltv_partner
    share = ltv_direct / ltv if ltv > 0 else 0.5
    return (float(win_direct), float(win_partner), share, (fit_direct - 1) / 4, (fit_partner - 1) / 4)


def criteria_similarity(a: Vector, b: Vector) -> float:
    return 1 - sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def _same(a: str | None, b: str | None) -> bool:
    """Regions and segments compare as written (the forms offer the charter's; an index can match them)."""
    return a is not None and b is not None and a == b


def partial_sum(target: Features, other: Features) -> float:
    """The weighted sum without the criteria: what the store's query orders candidates by."""
    total = W_TYPE * (other.conflict_type == target.conflict_type) + W_REGION * _same(target.region, other.region)
    if target.segment:
        total += W_SEGMENT * _same(target.segment, other.segment)
    if other.currency == target.currency:
        total += W_VALUE * value_similarity(target.deal_value, other.deal_value)
    return total


def similarity(target: Features, other: Features) -> Similarity:
    """How alike `other` (a resolved dispute) is to `target`, and why."""
    total = partial_sum(target, other)
    reasons: list[str] = []
    same_type = other.conflict_type == target.conflict_type
    if same_type:
        reasons.append(f"same conflict type ({target.conflict_type.replace('_', ' ')})")
    if _same(target.region, other.region):
        reasons.append(f"same region ({other.region})")
    if target.segment and _same(target.segment, other.segment):
        reasons.append(f"same segment ({other.segment})")
    if other.currency == target.currency and (said := _value_words(target.deal_value, other.deal_value)):
        reasons.append(said)
    if target.criteria is not None and other.criteria is not None:
        alike = criteria_similarity(target.criteria, other.criteria)
        total += W_CRITERIA * alike
        if alike >= 0.9:
            reasons.append("similar criteria (win probability, lifetime value, strategic fit)")
        elif alike >= 0.75:
            reasons.append("comparable criteria")
    return Similarity(score=round(total / weights_for(target), 4), reasons=tuple(reasons), same_type=same_type)


def _value_words(a: float, b: float) -> str | None:
    if a <= 0 or b <= 0:
        return None
    ratio = max(a, b) / min(a, b)
    if ratio <= 1.2:
        return "deal value within 20%"
    if ratio <= 1.5:
        return "deal value within 50%"
    if ratio <= 2:
        return "deal value within a factor of 2"
    return None


def rank_key(found: Similarity, closed_at: datetime | None, dispute_id: str) -> tuple[bool, float, float, str]:
    """Sort key, ascending: the same conflict type first, then the higher score, the later resolution, the id."""
    return (not found.same_type, -found.score, -(closed_at.timestamp() if closed_at else 0.0), dispute_id)


# --- consistency ----------------------------------------------------------------------------------

def majority(owners: Sequence[str]) -> tuple[str, int] | None:
    """The owner most of `owners` name (more than half of them) and how many do; None when no owner has a
    majority (or there are none)."""
    for owner in dict.fromkeys(owners):
        count = sum(1 for o in owners if o == owner)
        if count * 2 > len(owners):
            return owner, count
    return None


def consistent(owner: str, owners: Sequence[str]) -> bool | None:
    """Whether an outcome for `owner` is consistent with the precedents consulted (their owners): it is not
    when the owner differs from most of them; None when there were none."""
    if not owners:
        return None
    differing = sum(1 for o in owners if o != owner)
    return differing * 2 <= len(owners)


OWNER_WORDS = {"direct": "direct sales", "partner": "the partner", "co_sell": "a co-sell"}


def warning(owner: str, owners: Sequence[str]) -> str | None:
    """What to tell someone whose outcome departs from most of the top precedents (None when it does not)."""
    if consistent(owner, owners) is not False:
        return None
    differing = sum(1 for o in owners if o != owner)
    most = majority(owners)
    went = f"; {most[1]} went to {OWNER_WORDS.get(most[0], most[0])}" if most else ""
    return (f"This outcome ({OWNER_WORDS.get(owner, owner)}) departs from most of the closest precedents: "
            f"{differing} of {len(owners)} gave the deal to another owner{went}. It is recorded as "
            "inconsistent with precedent; explain why in the rationale.")


def hint(owners: Sequence[str]) -> str | None:
    """What a form says before the outcome is chosen: where most of the top precedents went."""
    most = majority(owners)
    if most is None:
        return None
    return (f"{most[1]} of the {len(owners)} closest precedents went to {OWNER_WORDS.get(most[0], most[0])}; "
            "another owner is recorded as departing from precedent.")
