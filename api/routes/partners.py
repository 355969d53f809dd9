"""/api/partners/{org}/review: a partner organisation's figures for a period, for its quarterly business
review and for other tools (the `/partners/{org}` page shows the same, through the same service)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import CharterDep, CurrentUser, NowDep, SessionDep
from api.routing import StoreRoute
from api.schemas import errors
from service import partner_review

router = APIRouter(prefix="/api/partners", tags=["partners"], route_class=StoreRoute)


class DisputeCounts(BaseModel):
    filed: int = Field(description="disputes the organisation was party to, filed in the period")
    open: int
    resolved: int
    withdrawn: int


class Outcomes(BaseModel):
    direct: int = Field(description="resolved with direct sales as the owner")
    partner: int = Field(description="resolved with the partner as the owner")
    co_sell: int


class CurrencyCredit(BaseModel):
    currency: str
    partner: float = Field(description="deal value credited to the partner (won), in this currency")
    direct: float = Field(description="deal value credited to direct sales (lost), in this currency")


class DealCredit(BaseModel):
    partner: float = Field(description="the partner's shares of the credit splits added up (one deal = 1)")
    direct: float


class Credit(BaseModel):
    deals: DealCredit
    by_currency: list[CurrencyCredit]


class Resolution(BaseModel):
    median_s: float | None = Field(description="median wall-clock seconds from filing to resolution; null "
                                               "when none was resolved")
    resolved: int = Field(description="the resolved disputes the median is taken over")


class Recommendations(BaseModel):
    decisions: int = Field(description="rulings and executive decisions made with the charter's recommendation")
    departed: int = Field(description="of those, how many did not follow it (owner, and each side's credit "
                                      "within the charter's `weights.follows_tolerance_pct`)")
    deviation_rate: float | None = Field(description="departed / decisions; null without decisions")


class Registrations(BaseModel):
    submitted: int = Field(description="registrations of the organisation submitted in the period")
    by_status: dict[str, int]
    won: int
    lost: int


class Overlaps(BaseModel):
    found: int = Field(description="overlaps found in the period that involve one of its registrations")
    disputed: int = Field(description="of those, how many a dispute names")


class CreditSplit(BaseModel):
    direct: float
    partner: float


class ListedDispute(BaseModel):
    id: str
    title: str
    conflict_type: str
    region: str
    account: str
    status: str
    deal_value: float
    currency: str
    filed_at: datetime
    closed_at: datetime | None
    owner: str | None
    credit_split: CreditSplit | None
    follows_recommendation: bool | None
    resolution_s: float | None


class PartnerReviewPublic(BaseModel):
    org: str = Field(description="the organisation as Parley spells it")
    from_: date = Field(alias="from", description="first day of the period (in the charter's time zone)")
    to: date = Field(description="last day of the period, included")
    timezone: str
    disputes: DisputeCounts
    outcomes: Outcomes
    credit: Credit
    time_to_resolution: Resolution
    recommendations: Recommendations
    registrations: Registrations
    overlaps: Overlaps
    listed: list[ListedDispute] = Field(description="the disputes of the period that the caller may see, "
                                                    "oldest first (the figures count them all)")
    not_visible: int = Field(description="disputes of the period counted in the figures but not listed")


DATES = ("YYYY-MM-DD, in the charter's time zone; both ends are included. Without `from` and `to`: the last full "
         "calendar quarter; with only `to`: from the start of its quarter; with only `from`: up to today")


@router.get("/{org}/review", summary="A partner organisation's review for a period",
            response_model=PartnerReviewPublic, responses=errors(401, 403, 404, 422))
def partner_review_of(
    org: Annotated[str, Path(description="the partner organisation (matched case-insensitively)")],
    user: CurrentUser, session: SessionDep, charter: CharterDep, now: NowDep,
    date_from: Annotated[str | None, Query(alias="from", description=DATES, examples=["2026-01-01"],
                                                      json_schema_extra={"format": "date"})] = None,
    date_to: Annotated[str | None, Query(alias="to", description=DATES, examples=["2026-03-31"],
                                                      json_schema_extra={"format": "date"})] = None,
) -> Any:
    """Mediators, executives, auditors and admins. The organisation's disputes filed in the period: counts,
    outcomes, the credit it won and lost, the median time to resolution, how often rulings and decisions
    departed from the recommendation; its registrations submitted and the overlaps found in the period."""
    found = partner_review.review(session, user, org, charter, now, date_from, date_to, row_limit=None)
    return partner_review.as_dict(found)
