"""What people hand Parley: who they are, a filing, an action, an outcome with its criteria.

These are the bodies of the HTTP API and the arguments of the workflow (its input and its `act` update).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from domain.model.away import Absence
from domain.model.fields import (
    MAX_MONEY,
    NONSPACE,
    NOT_BLANK,
    ANumber,
    Currency,
    Email,
    IsoDate,
    Money,
    Percent,
    Rationale,
    ShortText,
    Strict,
    check_rationale,
)


class Role(StrEnum):
    rep = "rep"
    mediator = "mediator"
    executive = "executive"
    auditor = "auditor"
    admin = "admin"


class ConflictType(StrEnum):
    registration_overlap = "registration_overlap"
    discount_undercut = "discount_undercut"
    account_ownership = "account_ownership"
    credit_attribution = "credit_attribution"
    other = "other"



class Actor(Strict):
    email: str
    role: Role
    name: str = ""


class Party(Strict):
    email: str
    name: str = ""
    channel: Literal["direct", "partner"]
    partner_org: str | None = None
    slack_user_id: str | None = None


# --- outcome and criteria ----------------------------------------------------------------------

class CreditSplit(Strict):
    direct: Annotated[int, ANumber] = Field(ge=0, le=100)
    partner: Annotated[int, ANumber] = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _sums_to_100(self) -> CreditSplit:
        if self.direct + self.partner != 100:
            raise ValueError(f"must add up to 100 (got {self.direct} + {self.partner})")
        return self


class Outcome(Strict):
    owner: Literal["direct", "partner", "co_sell"]
    credit_split: CreditSplit
    co_sell_stipend: Money | None = None
    renewal_bonus_pct: Percent | None = None
    price_protection_until: IsoDate | None = None
    discount_cap_pct: Percent | None = None
    terms: str | None = Field(default=None, max_length=4000)


class PerChannelProbability(Strict):
    direct: Annotated[float, ANumber] = Field(ge=0, le=1, allow_inf_nan=False)
    partner: Annotated[float, ANumber] = Field(ge=0, le=1, allow_inf_nan=False)


class PerChannelMoney(Strict):
    direct: Money
    partner: Money


class PerChannelFit(Strict):
    direct: Annotated[int, ANumber] = Field(ge=1, le=5)
    partner: Annotated[int, ANumber] = Field(ge=1, le=5)


class Criteria(Strict):
    win_probability: PerChannelProbability
    lifetime_value: PerChannelMoney
    strategic_fit: PerChannelFit


class Recommendation(Strict):
    owner: Literal["direct", "partner", "co_sell"]
    credit_split: CreditSplit
    scores: dict[str, float]


class PrecedentRef(Strict):
    """A precedent a ruling or decision was checked against (DESIGN §9): its id, how similar it was, and
    who got the deal in it (`domain.precedents`)."""

    id: str
    score: float
    owner: Literal["direct", "partner", "co_sell"]



# --- actions (the body of POST /api/disputes/{id}/actions) --------------------------------------

Visibility = Literal["all", "mediators"]


class Comment(Strict):
    """A comment; `visibility: "mediators"` makes it a caucus note (who may write and read one: `domain.caucus`)."""

    action: Literal["comment"]
    text: ShortText
    # optional with a default, so that the commands of running workflows still load (DESIGN §5)
    visibility: Visibility = Field(
        default="all", description='"all": everyone who sees the dispute; "mediators": a caucus note, seen by '
                                   "the mediator, the executive, auditors and admins, never by the parties")


class Propose(Strict):
    action: Literal["propose"]
    outcome: Outcome
    note: str = Field(default="", max_length=2000)


class Accept(Strict):
    action: Literal["accept"]


class Reject(Strict):
    action: Literal["reject"]
    reason: ShortText


class Escalate(Strict):
    action: Literal["escalate"]
    reason: ShortText


class RequestInfo(Strict):
    action: Literal["request_info"]
    question: ShortText


class Resume(Strict):
    action: Literal["resume"]
    note: str = Field(default="", max_length=2000)


class Answer(Strict):
    """A party's answer to the mediator's open question (the clock stays paused until `resume`)."""

    action: Literal["answer"]
    text: ShortText


class Rule(Strict):
    action: Literal["rule"]
    outcome: Outcome
    criteria: Criteria
    rationale: Rationale

    _check_rationale = field_validator("rationale")(check_rationale)


class Approve(Strict):
    action: Literal["approve"]
    note: str = Field(default="", max_length=2000)


class Appeal(Strict):
    action: Literal["appeal"]
    reason: ShortText


class Decide(Strict):
    action: Literal["decide"]
    outcome: Outcome
    criteria: Criteria
    rationale: Rationale

    _check_rationale = field_validator("rationale")(check_rationale)


class Withdraw(Strict):
    action: Literal["withdraw"]
    reason: ShortText


class Reassign(Strict):
    action: Literal["reassign"]
    to: Email


Action = Annotated[
    Comment | Propose | Accept | Reject | Escalate | RequestInfo | Resume | Answer | Rule | Approve | Appeal
    | Decide | Withdraw | Reassign,
    Field(discriminator="action"),
]
ACTION_NAMES = (
    "comment", "propose", "accept", "reject", "escalate", "request_info", "resume", "answer", "rule",
    "approve", "appeal", "decide", "withdraw", "reassign",
)


class Command(Strict):
    """An action together with who asked for it; the argument of the workflow's `act` update."""

    actor: Actor
    act: Action
    # when reassigning, the API has looked the new person up
    reassign_to: Actor | None = None
    # when ruling or deciding, the service has looked up the closest precedents the actor may see
    # (`service.precedents`); None in commands from before precedents were consulted
    precedents: list[PrecedentRef] | None = None


# --- filing ------------------------------------------------------------------------------------

class Filing(Strict):
    title: str = Field(min_length=3, max_length=200, json_schema_extra={"pattern": rf"{NONSPACE}[\s\S]+{NONSPACE}"})
    conflict_type: ConflictType
    account: str = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    opportunity_ref: str | None = Field(default=None, max_length=100)
    registration_ref: str | None = Field(default=None, max_length=100)
    deal_value: Annotated[float, ANumber] = Field(gt=0, le=MAX_MONEY, allow_inf_nan=False)
    currency: Currency = "USD"
    region: str = Field(min_length=1, max_length=50, json_schema_extra=NOT_BLANK)
    segment: str | None = Field(default=None, max_length=50)
    description: str = Field(min_length=1, max_length=10000, json_schema_extra=NOT_BLANK)
    counterparty_email: Email
    partner_org: str | None = Field(default=None, max_length=200)
    evidence: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=20)
    # DESIGN §6 "Linking": yours and one of the other side's; optional, so older workflow inputs still load
    registration_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, description="the two registrations the dispute is about: one of yours and one of the other "
                                  "side's (e.g. one overlapping yours)", examples=[["REG-1A2B3C4D", "REG-5E6F7A8B"]],
        json_schema_extra={"minItems": 2, "maxItems": 2, "uniqueItems": True})  # (stated; checked below, in words)

    @field_validator("registration_ids")
    @classmethod
    def _two_different(cls, ids: list[str] | None) -> list[str] | None:
        if ids is None:
            return None
        if len(ids) != 2:
            raise ValueError(f"must name exactly two registrations (yours and the other side's), not {len(ids)}")
        if ids[0] == ids[1]:
            raise ValueError("must name two different registrations")
        return ids


class DisputeStart(Strict):
    """The workflow's input: the filing, the people involved and the charter it is pinned to."""

    id: str
    filing: Filing
    filer: Party
    counterparty: Party
    mediator: str
    executive: str
    backup_executive: str | None
    charter: Any  # domain.charter.Charter; Any keeps this module free of the charter import cycle
    # why routing passed over the charter's first choices (conflicts, absences), in plain words (domain.eligibility)
    routing_note: str | None = None
    # the absences of its mediator and executives known at filing (domain.away); later ones come by the `away` signal
    absences: list[Absence] = Field(default_factory=list)
    # who the `filed` event names as its actor when not the filer: "system:overlap" for a dispute Parley filed
    # itself about overlapping registrations (DESIGN §6); the filer is then the partner registration's owner
    filed_as: str | None = None

