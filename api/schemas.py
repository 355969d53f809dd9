"""What the JSON API answers: the response models of the routes and the errors each route may give.

The input models live in the pure core (`domain/model/`: `Filing`, the actions); the models here
only describe output, so they carry types and enumerations but none of the input bounds (a stored
dispute stays readable when a bound is later tightened). `DisputePublic` is `DisputeView` as the API
returns it (the stored view with its SLA brought up to this moment); `tests/api/test_schemas.py`
checks that the two keep the same fields and that a stored view passes through unchanged.

Errors are `{"detail": …}`: a sentence for 401/403/404/409/413/503 and a list of `{field, message}`
for 422. `errors(401, 404, …)` declares them on a route, with the words of DESIGN §5.

It runs past 300 lines on purpose: it is the one catalogue of what the API answers, read as a whole
when the contract changes; each resource's models stay together in it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from domain.model import ConflictType, Status

Channel = Literal["direct", "partner"]
Owner = Literal["direct", "partner", "co_sell"]
RegistrationStatus = Literal["pending", "approved", "rejected", "expired", "withdrawn", "closed"]
# The audit trail's one time format (store.audit.iso): kept as text so that its microseconds and
# "Z" reach the client exactly as they were hashed.
AuditTime = Annotated[str, Field(json_schema_extra={"format": "date-time"},
                                 examples=["2026-05-04T13:07:42.123456Z"])]
# Times inside `appeal` and `info_request`, as the workflow wrote them (isoformat, "+00:00").
IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


# --- errors --------------------------------------------------------------------------------------

class Problem(BaseModel):
    """A refusal: the reason in plain words."""

    detail: str = Field(examples=["no dispute PRL-00000000 that you can see"])


class FieldProblem(BaseModel):
    field: str = Field(description="the offending input in dotted form, e.g. `outcome.credit_split`; "
                                   "`body` for the request as a whole",
                       examples=["counterparty_email"])
    message: str = Field(examples=["no Parley user nobody@example.com"])


class Invalid(BaseModel):
    """Invalid input: every problem found, whether the schema or a domain rule refused it."""

    detail: list[FieldProblem]


ERRORS: dict[int, tuple[type[BaseModel], str]] = {
    401: (Problem, "No or unknown credentials: send `Authorization: Bearer <token>`."),
    403: (Problem, "Not allowed for this user."),
    404: (Problem, "Unknown, or not visible to this user."),
    409: (Problem, "Not allowed in the current state (or it exists already)."),
    413: (Problem, "The request body is larger than `PARLEY_MAX_BODY_BYTES`."),
    422: (Invalid, "Invalid input: `detail` lists each problem with its `field`, whether the schema or a "
                   "rule the schema cannot state refused it: a credit split adding up to 100, a counterparty "
                   "who is a Parley rep of the other channel, the fields the charter requires for a conflict "
                   "type, text no store can hold (a NUL character)."),
    503: (Problem, "Temporal (or the store) did not answer in time: the request may still be applied. Retry "
                   "with the same `Idempotency-Key`, or check before retrying."),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer with these error statuses."""
    return {code: {"model": ERRORS[code][0], "description": ERRORS[code][1]} for code in codes}


# The header of an answer given again to a retry (`api/idempotency.py`).
REPLAYED: dict[str, Any] = {"headers": {"Idempotent-Replayed": {
    "description": "`true` when this is the first answer again, to a retry with the same `Idempotency-Key`",
    "schema": {"type": "string", "enum": ["true"]},
}}}


# The headers of a list answered a page at a time (`api/paging.py`).
PAGED: dict[str, Any] = {"headers": {
    "X-Total-Count": {"description": "How many you may see with these filters (the same on every page).",
                      "required": True, "schema": {"type": "integer", "minimum": 0}},
    "Link": {"description": 'RFC 8288: `<URL>; rel="next"` while more remain, `<URL>; rel="prev"` past the first '
                            "page; each URL is the one asked, with its `offset` moved.",
             "schema": {"type": "string"}},
}}


# --- the dispute ---------------------------------------------------------------------------------

class PartyPublic(BaseModel):
    email: str
    name: str
    channel: Channel
    partner_org: str | None
    slack_user_id: str | None


class SlaPublic(BaseModel):
    due_at: datetime | None = Field(description="when the current tier's SLA runs out (null: no clock)")
    remaining_s: float | None = Field(description="business seconds left, computed at the request; "
                                                  "negative once breached")
    paused: bool
    breached: bool
    tier_sla_s: float | None = Field(description="the tier's SLA in business seconds")


class CreditSplitPublic(BaseModel):
    direct: int
    partner: int


class OutcomePublic(BaseModel):
    owner: Owner
    credit_split: CreditSplitPublic
    co_sell_stipend: float | None
    renewal_bonus_pct: float | None
    price_protection_until: date | None
    discount_cap_pct: float | None
    terms: str | None


class PerChannelNumber(BaseModel):
    direct: float
    partner: float


class PerChannelInt(BaseModel):
    direct: int
    partner: int


class CriteriaPublic(BaseModel):
    win_probability: PerChannelNumber
    lifetime_value: PerChannelNumber
    strategic_fit: PerChannelInt


class RecommendationPublic(BaseModel):
    owner: Owner
    credit_split: CreditSplitPublic
    scores: dict[str, float] = Field(description="the charter's weighted score per channel")


class ProposalPublic(BaseModel):
    id: int
    by: str
    outcome: OutcomePublic
    note: str
    at: datetime
    state: Literal["open", "accepted", "rejected", "superseded", "approved", "withdrawn"]


class PrecedentRefPublic(BaseModel):
    """A precedent a decision was checked against."""

    id: str = Field(examples=["PRL-1A2B3C4D"])
    score: float = Field(description="similarity, 0 to 1 (`GET /api/disputes/{id}/precedents` says how)")
    owner: Owner = Field(description="who got the deal in it")


class DecisionPublic(BaseModel):
    kind: Literal["agreement", "ruling", "decision"]
    outcome: OutcomePublic
    criteria: CriteriaPublic | None
    recommendation: RecommendationPublic | None
    follows_recommendation: bool | None = Field(
        description="the outcome gives the deal to the recommended owner and each side's credit lies within the "
                    "charter's `weights.follows_tolerance_pct` (default 10) percentage points of the recommended "
                    "split; null without a recommendation (an agreement)")
    rationale: str
    actor: str
    at: datetime
    tier: int
    charter_version: str
    final: bool
    precedents: list[PrecedentRefPublic] | None = Field(
        default=None, description="the precedents the ruling or decision was checked against (DESIGN §9), the "
                                  "closest first; absent on agreements and on decisions made before precedents "
                                  "were consulted")
    consistent_with_precedents: bool | None = Field(
        default=None, description="false when the outcome's owner differs from that of most of the precedents "
                                  "consulted; null when there were none (or none were consulted)")


class PrecedentPublic(BaseModel):
    """A resolved dispute like this one: how it was decided, how similar it is and why."""

    id: str = Field(examples=["PRL-1A2B3C4D"])
    title: str
    conflict_type: ConflictType
    region: str
    segment: str | None
    deal_value: float
    currency: str = Field(description="ISO 4217")
    resolved_at: datetime | None = Field(description="when its decision was made")
    kind: Literal["agreement", "ruling", "decision"]
    outcome: OutcomePublic
    follows_recommendation: bool | None = Field(description="null for an agreement (no criteria, no recommendation)")
    tier: int
    rationale: str
    decided_by: str
    score: float = Field(description="similarity from 0 to 1: the weighted share of what is alike (conflict type "
                                     "0.35, region 0.2, segment 0.1 when this dispute has one, deal value 0.2 on a "
                                     "log scale, criteria 0.15 when this dispute has them) over the weights that count")
    reasons: list[str] = Field(description="why it is similar, in plain words",
                               examples=[["same conflict type (account ownership)", "same region (EMEA)",
                                          "deal value within 20%"]])


class MajorityPublic(BaseModel):
    owner: Owner
    count: int = Field(description="how many of the precedents gave the deal to `owner`")
    of: int


class PrecedentsPublic(BaseModel):
    """The resolved disputes most similar to this one that you may see: the same conflict type first, then by
    score; ties go to the more recent resolution."""

    dispute_id: str
    criteria_used: bool = Field(description="whether criteria counted (the dispute's own, from a ruling under "
                                            "appeal); the ruling and decision forms count the criteria entered")
    majority: MajorityPublic | None = Field(description="the owner most (more than half) of them got; a ruling "
                                                        "or decision for another owner is recorded as inconsistent "
                                                        "with precedent")
    precedents: list[PrecedentPublic]


class AppealPublic(BaseModel):
    by: str
    reason: str
    at: IsoTime


class AnswerPublic(BaseModel):
    by: str
    text: str
    at: IsoTime


class InfoRequestPublic(BaseModel):
    """The mediator's open question (the SLA clock is paused) and the parties' answers so far."""

    question: str
    by: str
    at: IsoTime
    answers: list[AnswerPublic] = Field(default_factory=list, description="absent until someone answers")


class DisputePublic(BaseModel):
    """A dispute as `GET /api/disputes/{id}` shows it, its SLA brought up to the moment of the request."""

    id: str = Field(examples=["PRL-1A2B3C4D"])
    title: str
    conflict_type: ConflictType
    account: str
    opportunity_ref: str | None
    registration_ref: str | None
    deal_value: float
    currency: str = Field(description="ISO 4217")
    region: str
    segment: str | None
    description: str
    evidence: list[str]
    partner_org: str | None
    status: Status
    tier: int = Field(ge=1, le=3)
    filed_by: str
    parties: list[PartyPublic]
    mediator: str
    executive: str
    backup_executive: str | None
    reached_executive: bool
    sla: SlaPublic
    routing_note: str | None = Field(default=None, description=(
        "why routing passed over the charter's first choices at filing (a conflict of interest, someone "
        "away), or that no mediator was eligible and an executive adjudicates; null when it did not"))
    proposals: list[ProposalPublic]
    decision: DecisionPublic | None
    appeal: AppealPublic | None
    info_request: InfoRequestPublic | None
    waiting_on: list[str] = Field(description="the e-mails of whoever must act next")
    charter_version: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    last_seq: int = Field(description="the number of the dispute's latest audit event")


class ClaimPublic(BaseModel):
    """A registration the dispute is about (DESIGN §6 "Linking"), shown beside the other."""

    id: str = Field(examples=["REG-1A2B3C4D"])
    ref: str | None = Field(description="the CRM's id (`external_ref`), if it has one")
    channel: Channel
    partner_org: str | None
    owner: str = Field(description="the owner's e-mail")
    account: str
    title: str
    deal_value: float
    currency: str = Field(description="ISO 4217")
    status: RegistrationStatus
    submitted_at: datetime
    approved_at: datetime | None
    protected_until: datetime | None
    first: bool = Field(description="registered before the other claim (the earlier `submitted_at`)")
    protected_when_filed: bool = Field(description="inside its protection window when the dispute was filed")
    protected_now: bool = Field(description="approved and inside its protection window now")


class DisputeDetailPublic(DisputePublic):
    """A dispute as `GET /api/disputes/{id}` shows it: its SLA brought up to the moment of the request, and
    the registrations it is about side by side, the one registered first first."""

    registrations: list[ClaimPublic] = Field(description="both claims when the dispute names two registrations "
                                                         "(a rep who is not a party sees those they may see); "
                                                         "empty otherwise")


class AlreadyDisputed(BaseModel):
    """A refusal in the current state; for a filing about a pair of registrations that already has an open
    dispute, `existing` names it."""

    detail: str = Field(examples=["REG-1A2B3C4D and REG-5E6F7A8B are already the subject of an open dispute, "
                                  "PRL-1A2B3C4D; add to that one instead"])
    existing: str | None = Field(default=None, description="the open dispute about the same registrations",
                                 examples=["PRL-1A2B3C4D"])


# --- the audit trail -----------------------------------------------------------------------------

class AuditEventPublic(BaseModel):
    """One event of a dispute's hash chain (`store/audit.py` states how to check it)."""

    id: int
    dispute_id: str
    seq: int
    at: AuditTime
    actor: str = Field(description="a user's e-mail, or `system:sla` / `system:appeal_window`")
    action: str
    tier: int
    payload: dict[str, Any] | str = Field(description="an object; the stored text when it is no longer JSON "
                                                      "(the trail was tampered with)")
    charter_version: str
    prev_hash: str
    hash: str


class FirstBadPublic(BaseModel):
    """The first event that does not fit its chain (or, for the digest, no event: `dispute_id` null)."""

    dispute_id: str | None
    seq: int | None
    problem: str
    event_id: int | None = Field(description="the stored row's id, when there is one (not for a missing event)")


# `?digest=`: documented only (the route checks it, naming the expected form in its 422). The numbers
# are ids and counts of audit events, held to nine digits here (ids are 32-bit on PostgreSQL).
DigestQuery = Annotated[str | None, Query(
    description="a digest saved from an earlier verification: `v1:<max id>:<count>:<sha256 hex>`",
    json_schema_extra={"pattern": r"^\s*v1:0*[0-9]{1,9}:0*[0-9]{1,9}:[0-9a-f]{64}\s*$"},
)]


class SignedThroughPublic(BaseModel):
    """The latest signed checkpoint that verified with Parley's public key (`parley audit pubkey`)."""

    checkpoint: int = Field(description="its number (1, 2, 3 …)")
    at: str = Field(description="when it was signed (UTC)")
    max_event_id: int = Field(description="every event with an id up to this one existed when it was signed")
    events: int = Field(description="the events it and the checkpoints before it sign")
    chains: int
    key: str = Field(description="the Ed25519 public key that signed it (32 bytes, base64)")


class VerifyPublic(BaseModel):
    ok: bool
    events: int
    disputes: int
    digest: str = Field(description="save it; `?digest=` later checks that no event it covers went missing",
                        examples=["v1:42:42:" + "0" * 64])
    first_bad: FirstBadPublic | None
    signed_through: SignedThroughPublic | None = Field(
        description="the latest checkpoint that verified; null when none did or no signing key is set")
    unsigned_events: int = Field(description="events no verified checkpoint signs yet (newer than it)")


# --- health --------------------------------------------------------------------------------------

class Health(BaseModel):
    status: Literal["ok", "error"]
    db: str = Field(description='"ok", or "error: …"')
    temporal: str = Field(description='"ok", or "error: …"')


# --- the export ----------------------------------------------------------------------------------

EXPORT_CONTENT: dict[str, Any] = {
    "description": "Every event in (dispute_id, seq) order: with `format=jsonl` one JSON object per line "
                   "(the fields of an audit event, as `GET /api/disputes/{id}/audit` shows them); with "
                   "`format=csv` a header line, then one row per event with the payload as canonical JSON.",
    "content": {
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "lines, each an audit event as JSON"},
        },
        "text/csv": {
            "schema": {"type": "string", "description": "id,dispute_id,seq,at,actor,action,tier,payload,"
                                                         "charter_version,prev_hash,hash"},
        },
    },
}


# --- registrations (DESIGN §6) ---------------------------------------------------------------------


class RegistrationSummaryPublic(BaseModel):
    """A registration as the lists show it (without its overlaps and disputes)."""

    id: str = Field(examples=["REG-1A2B3C4D"])
    ref: str | None = Field(description="the CRM's id (`external_ref`), if it has one")
    channel: Channel
    partner_org: str | None
    owner: str = Field(description="the owner's e-mail")
    account: str
    account_domain: str | None
    title: str
    deal_value: float
    currency: str = Field(description="ISO 4217")
    region: str
    segment: str | None
    expected_close: date | None
    products: list[str]
    status: RegistrationStatus
    submitted_at: datetime
    approved_at: datetime | None
    protected_until: datetime | None = Field(description="the end of the protection window (partner registrations)")
    decided_by: str | None
    reason: str | None
    won: bool | None
    charter_version: str
    last_seq: int = Field(description="the number of the registration's latest audit event")
    updated_at: datetime


class OverlapPublic(BaseModel):
    """Another registration claiming the same account. To a partner user another partner organisation's
    registration shows with `partner_org` null."""

    registration_id: str
    channel: Channel
    partner_org: str | None
    account: str
    score: int = Field(ge=0, le=100, description="how alike the account names are; 100 for the same domain")
    reason: Literal["domain", "name"]
    status: RegistrationStatus
    disputed: bool = Field(description="whether a dispute names both registrations")


class LinkedDisputePublic(BaseModel):
    id: str
    status: Status | None


class RegistrationPublic(RegistrationSummaryPublic):
    """A registration as `GET /api/registrations/{id}` shows it."""

    overlaps: list[OverlapPublic]
    disputes: list[LinkedDisputePublic]


class OverlapSidePublic(BaseModel):
    registration_id: str
    channel: Channel
    partner_org: str | None
    account: str
    account_domain: str | None
    title: str
    status: RegistrationStatus
    owner: str | None = Field(description="null where the reader may not know whose it is")
    submitted_at: datetime
    approved_at: datetime | None
    protected_until: datetime | None


class OverlapPairPublic(BaseModel):
    """Two live registrations claiming the same account (`a` has the smaller id)."""

    id: int
    a: OverlapSidePublic
    b: OverlapSidePublic
    score: int = Field(ge=0, le=100)
    reason: Literal["domain", "name"]
    found_at: datetime
    disputed: bool
    dispute_ids: list[str]


class ImportProblem(BaseModel):
    line: int = Field(description="the line of the file (the CSV header is line 1)")
    field: str
    message: str


class ImportPublic(BaseModel):
    created: int
    updated: int = Field(description="known registrations (by `external_ref`) whose fields changed")
    unchanged: int
    errors: list[ImportProblem] = Field(description="the rows not imported and why (the first 1,000)")
    error_count: int


IMPORT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "description": (
        "a header line naming the columns (account, title, deal_value, region and owner_email are required; "
        "account_domain, currency, segment, expected_close, external_ref, products (separated by ;), channel, "
        "partner_org, status, submitted_at may follow), then one registration per line")}},
    "application/x-ndjson": {"schema": {"type": "string", "description": (
        "one JSON object per line, with the fields of POST /api/registrations plus channel, partner_org, "
        "status and submitted_at")}},
}}}


# --- people (DESIGN §7: how each person hears from Parley) --------------------------------------------

NotifyChoice = Literal["slack", "email", "both"]


class UserPublic(BaseModel):
    """A user as `GET /api/users/me` and `PUT /api/users/{email}/notify` answer."""

    id: int
    email: str
    name: str
    role: str
    channel: Channel | None
    partner_org: str | None
    region: str | None
    segment: str | None
    slack_user_id: str | None
    notify: NotifyChoice | None = Field(description="the stored preference; null means the default: Slack for "
                                                    "users with a Slack id when a bot token is set, otherwise "
                                                    "e-mail when SMTP is set, otherwise the outbox")
    notify_effective: Literal["slack", "email", "both", "outbox"] = Field(
        description="how Parley reaches this user now, given the preference and what is set up")
    manager_email: str | None = Field(default=None, description="who manages this user: never the adjudicator "
                                                                "of their disputes")
    away: AbsencePublic | None = Field(default=None, description="this user's absence, set and not over yet "
                                                                 "(DESIGN §8); null when none")
    standing_in_for: list[AbsencePublic] = Field(default_factory=list, description="the absences, not over yet, "
                                                 "of those who named this user their delegate")


class AbsencePublic(BaseModel):
    """An absence (DESIGN §8): `from` to `until`, both inclusive, dates in the charter calendar's time zone."""

    model_config = ConfigDict(populate_by_name=True)

    email: str
    from_: date = Field(alias="from", description="the first day away")
    until: date = Field(description="the last day away (inclusive)")
    delegate: str = Field(description="who takes the work meanwhile: a mediator for a mediator, an executive "
                                      "(the backup, by default) for an executive")
    time_zone: str = Field(description="the charter calendar's time zone the dates are read in")
    starts_at: datetime = Field(description="the start of `from` there, in UTC")
    ends_at: datetime = Field(description="the end of `until` there (the next day's start), in UTC")
    away_now: bool
    set_by: str


class AwayPublic(BaseModel):
    """Someone's absence, as `PUT`/`DELETE /api/users/{email}/away` answer."""

    email: str
    away: AbsencePublic | None = Field(description="null once cleared")
    standing_in_for: list[AbsencePublic] = Field(description="the absences this user stands in for")


# --- the charter (DESIGN §8: the charter as a living document) -----------------------------------------

class CharterChangePublic(BaseModel):
    """One adoption in the change log: which version, when, by whom and why."""

    id: str = Field(description="the version id every dispute pins: `version` + the first 8 hex digits of the hash",
                    examples=["2026.1+ecbc3732"])
    version: str = Field(description="the version the charter declares")
    name: str
    hash: str = Field(description="SHA-256 of the charter's text (hex)")
    adopted_at: datetime
    adopted_by: str = Field(description="an e-mail, or `system:api` for the API's own file at start-up")
    reason: str
    in_force: bool = Field(description="whether new disputes pin this version now")


class CharterPublic(CharterChangePublic):
    """The charter in force: its last adoption and its text (TOML)."""

    text: str
