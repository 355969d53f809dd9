"""What Parley shows and records: a dispute's status and view, its audit events, and who to tell.

The workflow builds the view from its state; the activities record it (with its event) and deliver the notices.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from domain.model.fields import Strict
from domain.model.inputs import ConflictType, Criteria, Outcome, Party, PrecedentRef, Recommendation


class Status(StrEnum):
    frontline = "frontline"
    awaiting_approval = "awaiting_approval"
    mediation = "mediation"
    appeal_window = "appeal_window"
    executive = "executive"
    resolved = "resolved"
    withdrawn = "withdrawn"


CLOSED = (Status.resolved, Status.withdrawn)


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
    # the precedents consulted (DESIGN §9) and whether the outcome's owner is that of most of them (None: there
    # were none); both None on decisions made before precedents were consulted, and on agreements
    precedents: list[PrecedentRef] | None = None
    consistent_with_precedents: bool | None = None


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
    routing_note: str | None = None  # why routing passed over the charter's first choices at filing
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
    def deciders(self) -> tuple[str, ...]:
        """The sponsor; the backup too once the dispute waits on them (paged: the tier's deadline passed)."""
        paged = self.backup_executive is not None and self.backup_executive in self.waiting_on
        return self.executives if paged else (self.executive,)

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

