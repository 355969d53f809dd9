"""The values that cross Temporal and the HTTP API: filings, actions, outcomes, the dispute view.

Pydantic models validate at the edge (the API answers 422 naming the field) and travel through
Temporal with the pydantic data converter.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_MONEY = 1e11  # a hundred billion: anything larger is a typo
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# ISO 4217 codes as CLDR knows them (read once, at import: validation also runs inside the workflow
# sandbox), less XXX ("no currency") and XTS (reserved for testing)
CURRENCIES = frozenset(list_currencies()) - {"XXX", "XTS"}


def _email(value: str) -> str:
    if not re.match(EMAIL_PATTERN, value):
        raise PydanticCustomError("email", "is not a valid e-mail address")
    return value


def _currency(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise PydanticCustomError("currency", "must be a three-letter ISO 4217 currency code in capitals, "
                                              "such as USD or EUR")
    if value not in CURRENCIES:
        raise PydanticCustomError("currency", "{code} is not an ISO 4217 currency code", {"code": value})
    return value


Email = Annotated[str, Field(min_length=3, max_length=254, json_schema_extra={"format": "email"}),
                  AfterValidator(_email)]
# the OpenAPI document lists the codes, so that a client (and Schemathesis) knows which are accepted
Currency = Annotated[str, Field(json_schema_extra={"enum": sorted(CURRENCIES)}), AfterValidator(_currency)]
# Text is trimmed before its length counts; the OpenAPI document says so with a pattern: at least one
# character that is not white space (for a title, two of them at least three apart). White space as
# pydantic trims it (Unicode White_Space) is spelled out, since the \s of regular-expression engines
# differ (JavaScript's lacks \x85, Python's adds \x1c-\x1f); str.split() also splits at \x1c-\x1f.
_WHITE = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NONSPACE = rf"[^{_WHITE}]"
_SEPARATOR, _WORD = rf"[{_WHITE}\x1c-\x1f]", rf"[^{_WHITE}\x1c-\x1f]"
NOT_BLANK: dict[str, Any] = {"pattern": NONSPACE}
ShortText = Annotated[str, Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK)]


TEXT_INPUT = "text_input"  # validation context: the input is a form's text, so "12.5" may be read as a number


def _a_number(value: Any, info: ValidationInfo) -> Any:
    """Where a number belongs, true/false and "1000" are refused (pydantic would read them as 1 and
    1000); a whole number is a number for a float field, 2.0 is one for an int field. An HTML form
    sends only text: it validates with `context={TEXT_INPUT: True}` to have its text read as numbers."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "must be a number, not true or false")
    if isinstance(value, str) and not (info.context or {}).get(TEXT_INPUT):
        raise PydanticCustomError("number_type", "must be a number, not text")
    return value


ANumber = BeforeValidator(_a_number)
# (the bounds before the validator: after it, they would be missing from the OpenAPI document)
Money = Annotated[float, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False), ANumber]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False), ANumber]


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored as text (PostgreSQL holds no NUL, and no string holds a lone
    surrogate once encoded as UTF-8), or None when it can."""
    if "\x00" in text:
        return "must not contain the NUL character"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "must not contain an unpaired surrogate (text that is not valid Unicode)"
    return None


def _storable(value: Any) -> Any:
    """Every string in a value (lists and dicts included) can be stored, or a field error."""
    if isinstance(value, str):
        problem = unstorable(value)
        if problem:
            raise PydanticCustomError("unstorable_text", problem)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    return value


class Strict(BaseModel):
    """The base of every model that crosses the API or Temporal: unknown fields are refused,
    text is trimmed, and no text field holds what a store cannot keep (NUL, lone surrogates)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _storable(value)


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


class Status(StrEnum):
    frontline = "frontline"
    awaiting_approval = "awaiting_approval"
    mediation = "mediation"
    appeal_window = "appeal_window"
    executive = "executive"
    resolved = "resolved"
    withdrawn = "withdrawn"


CLOSED = (Status.resolved, Status.withdrawn)


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
    price_protection_until: date | None = None
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


def _rationale(text: str) -> str:
    if len(text.split()) < 3 or len(text) < 15:
        raise ValueError("must explain the decision: at least three words and 15 characters")
    return text


# `_rationale`'s rule in the OpenAPI document (after trimming: three words, 15 characters)
RATIONALE_PATTERN = (rf"^(?=[\s\S]*{_WORD}{_SEPARATOR}+{_WORD}+{_SEPARATOR}+{_WORD})"
                     rf"(?=[\s\S]*{NONSPACE}[\s\S]{{13,}}{NONSPACE})")
Rationale = Annotated[str, Field(max_length=8000, json_schema_extra={"pattern": RATIONALE_PATTERN})]


# --- actions (the body of POST /api/disputes/{id}/actions) --------------------------------------

class Comment(Strict):
    action: Literal["comment"]
    text: ShortText


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

    _check_rationale = field_validator("rationale")(_rationale)


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

    _check_rationale = field_validator("rationale")(_rationale)


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


# --- the view ------------------------------------------------------------------------------------

class Sla(Strict):
    due_at: datetime | None
    remaining_s: float | None
    paused: bool
    breached: bool
    tier_sla_s: float | None = None


class Proposal(Strict):
    id: int
    by: str
    outcome: Outcome
    note: str
    at: datetime
    state: Literal["open", "accepted", "rejected", "superseded", "approved", "withdrawn"] = "open"


class Decision(Strict):
    kind: Literal["agreement", "ruling", "decision"]
    outcome: Outcome
    criteria: Criteria | None = None
    recommendation: Recommendation | None = None
    follows_recommendation: bool | None = None
    rationale: str
    actor: str
    at: datetime
    tier: int
    charter_version: str
    final: bool = False


class DisputeView(Strict):
    id: str
    title: str
    conflict_type: ConflictType
    account: str
    opportunity_ref: str | None
    registration_ref: str | None
    deal_value: float
    currency: str
    region: str
    segment: str | None
    description: str
    evidence: list[str]
    partner_org: str | None
    status: Status
    tier: int
    filed_by: str
    parties: list[Party]
    mediator: str
    executive: str
    backup_executive: str | None
    reached_executive: bool
    sla: Sla
    proposals: list[Proposal]
    decision: Decision | None
    appeal: dict[str, Any] | None = None
    info_request: dict[str, Any] | None = None
    waiting_on: list[str]
    charter_version: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    last_seq: int = 0

    # what `domain.rules` reads of a dispute (`rules.DisputeState`), from the view
    @property
    def executives(self) -> tuple[str, ...]:
        return (self.executive, self.backup_executive) if self.backup_executive else (self.executive,)

    @property
    def paused(self) -> bool:
        return self.sla.paused

    def party(self, email: str) -> Party | None:
        return next((p for p in self.parties if p.email == email), None)

    def open_proposal(self) -> Proposal | None:
        return next((p for p in reversed(self.proposals) if p.state == "open"), None)


# --- what the workflow hands its activities ------------------------------------------------------

class Event(Strict):
    """One audit event, numbered by the workflow so that a retried write is recognised."""

    dispute_id: str
    seq: int
    at: datetime
    actor: str
    action: str
    tier: int
    payload: dict[str, Any]
    charter_version: str


class Notice(Strict):
    """Someone to tell: an e-mail address, or "channel" for the dispute's case message."""

    recipient: str
    kind: Literal["case_update", "action_required", "reminder", "escalated", "resolved", "paged", "info"]
    text: str


class Recorded(Strict):
    """The argument of the record activity: an event, the view after it and who to tell."""

    event: Event
    view: DisputeView
    notices: list[Notice]
    channel: str
