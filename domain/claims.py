"""The claims a dispute is about (DESIGN §6 "Linking"): its two registrations side by side, which was
registered first, and whether each was protected when the dispute was filed and is now.

Pure: the store reads the registrations, the service decides who sees them, the surfaces show them.
"""

from __future__ import annotations

from datetime import datetime

from domain.model import Strict


class Claim(Strict):
    """One registration as a dispute about it shows it."""

    id: str
    ref: str | None  # the CRM's id (external_ref)
    channel: str
    partner_org: str | None
    owner: str
    account: str
    title: str
    deal_value: float
    currency: str
    status: str
    submitted_at: datetime
    approved_at: datetime | None
    protected_until: datetime | None
    first: bool = False  # registered before the other (the earliest submitted_at)
    protected_when_filed: bool = False
    protected_now: bool = False


class FilingPair(Strict):
    """A pair a rep may file about: one of their live registrations and a live one overlapping it."""

    mine: Claim
    theirs: Claim
    score: int  # 0-100, as the overlap was found

    @property
    def ids(self) -> list[str]:
        return [self.mine.id, self.theirs.id]

    @property
    def value(self) -> str:
        """The pair as a form sends it: "REG-A,REG-B"."""
        return ",".join(self.ids)


def protected_at(claim: Claim, at: datetime) -> bool:
    """Whether the claim's protection window covered `at` (approved by then, not yet ended)."""
    return (claim.approved_at is not None and claim.protected_until is not None
            and claim.approved_at <= at < claim.protected_until)


def side_by_side(claims: list[Claim], filed_at: datetime, now: datetime) -> list[Claim]:
    """The claims, the one registered first first (ties by id), each marked as `first` and protected then/now."""
    ordered = sorted(claims, key=lambda c: (c.submitted_at, c.id))
    return [c.model_copy(update={
        "first": i == 0 and len(ordered) > 1,
        "protected_when_filed": protected_at(c, filed_at),
        "protected_now": c.status == "approved" and protected_at(c, now),
    }) for i, c in enumerate(ordered)]
