"""The dispute lifecycle of DESIGN §1 as a pure state machine.

`Dispute.check` says whether an actor may take an action now (raising Forbidden or WrongState);
`Dispute.apply` changes the state and returns the audit events; `Dispute.on_timer` fires SLA
milestones. No I/O: the workflow owns a Dispute and hands the events to activities.

One module, over 300 lines, on purpose: it is one state machine. Every transition (an action's
handler or a timer's) changes the same state through the same three steps (`_enter` a status with
its SLA clock, `_close`, `_emit` the numbered event), so it reads top to bottom as the lifecycle;
split across modules, the handlers would reach into another module's private state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from domain import caucus, rules
from domain.away import AWAY_ACTOR
from domain.charter import Charter
from domain.clock import Clock, Milestone
from domain.model import (
    CLOSED,
    Accept,
    Actor,
    Answer,
    Appeal,
    Approve,
    Command,
    Comment,
    Decide,
    Decision,
    DisputeStart,
    DisputeView,
    Escalate,
    Event,
    Outcome,
    Party,
    PrecedentRef,
    Proposal,
    Propose,
    Reassign,
    Reject,
    RequestInfo,
    Resume,
    Role,
    Rule,
    Sla,
    Status,
    Withdraw,
)
from domain.precedents import consistent
from domain.scoring import follows, recommend

TIER_OF = {
    Status.frontline: 1, Status.awaiting_approval: 1, Status.mediation: 2,
    Status.appeal_window: 2, Status.executive: 3,
}


class Dispute:
    # "Follows the recommendation" compares the owner and the credit split, within the charter's
    # `weights.follows_tolerance_pct`; the workflow clears this to replay the decisions of histories recorded
    # when it compared the owner alone (its `follows-credit-split` patch), so that they keep their verdict.
    follows_split: bool = True
    # The backup executive decides (and reassigns) once paged, when the executive tier's deadline has passed; the
    # workflow clears this to replay histories recorded when the backup could at any time (its patch
    # `backup-decides-when-paged`), so that their decisions stand.
    backup_waits: bool = True

    def __init__(self, start: DisputeStart, now: datetime, *,
                 converts_currency: Callable[[], bool] = lambda: True) -> None:
        """A dispute as filed. Its start tier compares the deal value with the charter's thresholds in the
        charter's currency (`Routing.start_tier`). `converts_currency` is asked only for a deal value in another
        currency: the workflow answers False when it replays a history from before that rule (its
        `deal-value-in-charter-currency` patch), and the value is then compared as it is, as it was then."""
        self.start = start
        self.charter: Charter = Charter.model_validate(start.charter)
        self.cal = self.charter.business_calendar()
        self.parties: list[Party] = [start.filer, start.counterparty]
        self.mediator = start.mediator
        self.executive = start.executive
        self.proposals: list[Proposal] = []
        self.decision: Decision | None = None
        self.appeal: dict[str, Any] | None = None
        self.info_request: dict[str, Any] | None = None
        # who is who, for the texts people read: the parties, and everyone who has acted so far
        self.names: dict[str, str] = {p.email: p.name for p in self.parties if p.name}
        self.reached_executive = False
        self.created_at = self.updated_at = now
        self.closed_at: datetime | None = None
        self.seq = 0
        self.events: list[Event] = []
        self.status = Status.frontline
        self._closed_tier = 1
        self.clock: Clock | None = None
        f, routing = start.filing, self.charter.routing
        currency = f.currency
        if currency != routing.currency and not converts_currency():
            currency = routing.currency  # the raw value, as if in the charter's currency
        tier = routing.start_tier(f.account, f.deal_value, currency)
        not_compared = routing.not_compared(currency)
        self._enter({1: Status.frontline, 2: Status.mediation, 3: Status.executive}[tier], now)
        self._emit(now, start.filed_as or start.filer.email, "filed", {
            "filing": f.model_dump(mode="json"),
            "start_tier": tier,
            **({"deal_value_not_compared": not_compared} if not_compared else {}),
            "mediator": self.mediator,
            "executive": self.executive,
            **({"routing_note": start.routing_note} if start.routing_note else {}),
        })

    # --- reading ------------------------------------------------------------------------------

    @property
    def tier(self) -> int:
        if self.status in CLOSED:  # the tier it closed at (a ruling appealed to tier 3 stays tier 2)
            return self._closed_tier
        return TIER_OF[self.status]

    @property
    def executives(self) -> tuple[str, ...]:
        backup = self.start.backup_executive
        return (self.executive, backup) if backup and backup != self.executive else (self.executive,)

    @property
    def filed_by(self) -> str:
        return self.start.filer.email

    @property
    def paused(self) -> bool:
        return bool(self.clock and self.clock.paused)

    def party(self, email: str) -> Party | None:
        return next((p for p in self.parties if p.email == email), None)

    def open_proposal(self) -> Proposal | None:
        return next((p for p in reversed(self.proposals) if p.state == "open"), None)

    def agreed_proposal(self) -> Proposal:
        """The proposal both parties accepted, awaiting the mediator's approval."""
        return next(p for p in reversed(self.proposals) if p.state == "accepted")

    @property
    def deciders(self) -> tuple[str, ...]:
        """Who may decide at tier 3 now: the sponsor; the backup too once paged."""
        paged = self.status == Status.executive and self.clock is not None and self.clock.breached()
        return self.executives if paged or not self.backup_waits else (self.executive,)

    def waiting_on(self) -> list[str]:
        emails = [p.email for p in self.parties]
        match self.status:
            case Status.frontline:
                proposal = self.open_proposal()
                return [e for e in emails if e != proposal.by] if proposal else emails
            case Status.awaiting_approval:
                return [self.mediator]
            case Status.mediation:
                if self.clock and self.clock.paused and not self.answered():
                    return emails  # the mediator asked; the parties answer
                return [self.mediator]
            case Status.appeal_window:
                return emails
            case Status.executive:
                breached = self.clock is not None and self.clock.breached()
                return list(self.executives) if breached else [self.executive]
        return []

    def answered(self) -> bool:
        """The open question has an answer: the next step is the mediator's again."""
        return bool(self.info_request and self.info_request.get("answers"))

    def view(self, now: datetime) -> DisputeView:
        f = self.start.filing
        clock = self.clock
        due = clock.due_at(self.cal) if clock else None
        return DisputeView(
            id=self.start.id, title=f.title, conflict_type=f.conflict_type, account=f.account,
            opportunity_ref=f.opportunity_ref, registration_ref=f.registration_ref,
            deal_value=f.deal_value, currency=f.currency, region=f.region, segment=f.segment,
            description=f.description, evidence=f.evidence, partner_org=self.partner_org(),
            status=self.status, tier=self.tier, filed_by=self.start.filer.email,
            parties=self.parties, mediator=self.mediator, executive=self.executive,
            backup_executive=self.start.backup_executive, reached_executive=self.reached_executive,
            routing_note=self.start.routing_note,
            sla=Sla(
                due_at=due,
                remaining_s=round(clock.remaining(self.cal, now), 3) if clock else None,
                paused=bool(clock and clock.paused),
                breached=bool(clock and clock.breached()),
                tier_sla_s=clock.sla_s if clock else None,
            ),
            proposals=self.proposals, decision=self.decision, appeal=self.appeal,
            info_request=self.info_request, waiting_on=self.waiting_on(),
            charter_version=self.charter.version_id, created_at=self.created_at,
            updated_at=self.updated_at, closed_at=self.closed_at, last_seq=self.seq,
        )

    def partner_org(self) -> str | None:
        orgs = [p.partner_org for p in self.parties if p.partner_org]
        return self.start.filing.partner_org or (orgs[0] if orgs else None)

    # --- acting -------------------------------------------------------------------------------

    def check(self, cmd: Command) -> None:
        rules.check(self, cmd.actor, cmd.act, cmd.reassign_to)

    def apply(self, cmd: Command, now: datetime) -> list[Event]:
        self.check(cmd)
        before = len(self.events)
        actor, act = cmd.actor, cmd.act
        for person in (actor, cmd.reassign_to):
            if person is not None and person.name:
                self.names[person.email] = person.name
        match act:
            case Comment():
                self._emit(now, actor.email, "commented", caucus.payload(act), seen=not caucus.is_caucus(act))
            case Propose():
                self._on_propose(actor, act, now)
            case Accept():
                self._on_accept(actor, now)
            case Reject():
                self._on_reject(actor, act, now)
            case Escalate():
                self._escalate(actor.email, act.reason, now)
            case RequestInfo():
                self._on_request_info(actor, act, now)
            case Resume():
                self._on_resume(actor, act, now)
            case Answer():
                self._on_answer(actor, act, now)
            case Rule():
                self.decision = self._decision("ruling", act.outcome, actor.email, now, act.rationale, act.criteria)
                self._consulted(cmd.precedents)
                self._enter(Status.appeal_window, now)
                self._emit(now, actor.email, "ruled", self._decision_payload())
            case Approve():
                self._on_approve(actor, act, now)
            case Appeal():
                self.appeal = {"by": actor.email, "reason": act.reason, "at": now.isoformat()}
                self._enter(Status.executive, now)
                self._emit(now, actor.email, "appealed", {"reason": act.reason, "to_tier": 3})
            case Decide():
                self._on_decide(actor, act, now, cmd.precedents)
            case Withdraw():
                self._on_withdraw(actor, act, now)
            case Reassign():
                assert cmd.reassign_to is not None
                self._on_reassign(actor, cmd.reassign_to, now)
        return self.events[before:]

    def _on_propose(self, actor: Actor, act: Propose, now: datetime) -> None:
        if (old := self.open_proposal()) is not None:
            old.state = "superseded"
        proposal = Proposal(id=len(self.proposals) + 1, by=actor.email, outcome=act.outcome,
                            note=act.note, at=now)
        self.proposals.append(proposal)
        self._emit(now, actor.email, "proposed", {"proposal": proposal.model_dump(mode="json")})

    def _on_accept(self, actor: Actor, now: datetime) -> None:
        proposal = self.open_proposal()
        assert proposal is not None
        proposal.state = "accepted"
        reason = self.needs_approval(proposal.outcome)
        if reason is None:
            self.decision = self._decision("agreement", proposal.outcome, actor.email, now,
                                           rationale=f"Both parties agreed to proposal #{proposal.id}.")
            self._close(Status.resolved, now)
        else:
            self._enter(Status.awaiting_approval, now)
        self._emit(now, actor.email, "accepted", {
            "proposal_id": proposal.id, "auto_approved": reason is None, "needs_approval": reason,
        })

    def _on_reject(self, actor: Actor, act: Reject, now: datetime) -> None:
        if self.status == Status.awaiting_approval:
            agreed = self.agreed_proposal()
            agreed.state = "rejected"
            self._enter(Status.frontline, now)
            self._emit(now, actor.email, "approval_rejected", {"proposal_id": agreed.id, "reason": act.reason})
            return
        proposal = self.open_proposal()
        assert proposal is not None
        proposal.state = "rejected"
        self._emit(now, actor.email, "proposal_rejected", {"proposal_id": proposal.id, "reason": act.reason})

    def _on_request_info(self, actor: Actor, act: RequestInfo, now: datetime) -> None:
        assert self.clock is not None
        self.clock.pause(self.cal, now)
        self.info_request = {"question": act.question, "by": actor.email, "at": now.isoformat()}
        self._emit(now, actor.email, "info_requested", {
            "question": act.question, "remaining_s": round(self.clock.remaining(self.cal, now), 3),
        })

    def _on_resume(self, actor: Actor, act: Resume, now: datetime) -> None:
        assert self.clock is not None and self.clock.paused_at is not None
        paused_for = (now - self.clock.paused_at).total_seconds()
        self.clock.resume(now)
        self.info_request = None
        self._emit(now, actor.email, "resumed", {
            "note": act.note, "paused_s": round(paused_for, 3),
            "due_at": _iso(self.clock.due_at(self.cal)),
        })

    def _on_answer(self, actor: Actor, act: Answer, now: datetime) -> None:
        assert self.info_request is not None
        answers = [*self.info_request.get("answers", ()),
                   {"by": actor.email, "text": act.text, "at": now.isoformat()}]
        self.info_request = {**self.info_request, "answers": answers}
        self._emit(now, actor.email, "answered", {"question": self.info_request["question"], "text": act.text})

    def _on_approve(self, actor: Actor, act: Approve, now: datetime) -> None:
        proposal = self.agreed_proposal()
        proposal.state = "approved"
        note = act.note or f"Approved the parties' agreement (proposal #{proposal.id})."
        self.decision = self._decision("agreement", proposal.outcome, actor.email, now, note)
        self._close(Status.resolved, now)
        self._emit(now, actor.email, "approved", {"proposal_id": proposal.id, "note": act.note})

    def _on_decide(self, actor: Actor, act: Decide, now: datetime, precedents: list[PrecedentRef] | None) -> None:
        self.decision = self._decision("decision", act.outcome, actor.email, now, act.rationale, act.criteria)
        self.decision.final = True
        self._consulted(precedents)
        self._close(Status.resolved, now)
        self._emit(now, actor.email, "decided", self._decision_payload())

    def _on_withdraw(self, actor: Actor, act: Withdraw, now: datetime) -> None:
        self._close(Status.withdrawn, now)
        for proposal in self.proposals:
            if proposal.state == "open":
                proposal.state = "withdrawn"
        self._emit(now, actor.email, "withdrawn", {"reason": act.reason})

    def _on_reassign(self, actor: Actor, to: Actor, now: datetime) -> None:
        if self.status == Status.executive:
            role, old, self.executive = "executive", self.executive, to.email
        else:
            role, old, self.mediator = "mediator", self.mediator, to.email
        self._emit(now, actor.email, "reassigned", {"role": role, "from": old, "to": to.email})

    def route_around(self, away: Mapping[str, str], now: datetime) -> list[Event]:
        """While the adjudicator of the tier the dispute is in is away (`away`: who is away now → their
        stand-in, `domain.away`), the dispute moves to the stand-in, by the reassign path, as `system:away`.
        Only the person the dispute waits on for a ruling moves: a mediator once it reaches mediation (or
        awaits their approval), an executive once it reaches them; the workflow asks again on entering a tier."""
        if self.status in (Status.mediation, Status.awaiting_approval):
            role, current = Role.mediator, self.mediator
        elif self.status == Status.executive:
            role, current = Role.executive, self.executive
        else:
            return []
        to = away.get(current)
        if not to or to == current:
            return []
        before = len(self.events)
        self._on_reassign(Actor(email=AWAY_ACTOR, role=Role.admin), Actor(email=to, role=role), now)
        return self.events[before:]

    # --- time ---------------------------------------------------------------------------------

    def next_timer(self) -> datetime | None:
        return self.clock.next_at(self.cal) if self.clock else None

    def on_timer(self, now: datetime) -> list[Event]:
        if self.clock is None:
            return []
        before = len(self.events)
        for mark in self.clock.pop_due(self.cal, now):
            self._fire(mark, now)
        return self.events[before:]

    def _fire(self, mark: Milestone, now: datetime) -> None:
        assert self.clock is not None
        purpose = self.clock.purpose
        if mark.kind == "reminder" or (mark.kind == "repeat"):
            self._emit(now, "system:sla", "sla_reminder", {
                "fraction": mark.fraction, "due_at": _iso(self.clock.due_at(self.cal)),
                "remaining_s": round(self.clock.remaining(self.cal, now), 3), "to": self.waiting_on(),
            })
        elif purpose == "appeal":
            assert self.decision is not None
            self.decision.final = True
            self._close(Status.resolved, now)
            self._emit(now, "system:appeal_window", "ruling_final", {"appealed": False})
        elif purpose == "executive":
            self._emit(now, "system:sla", "sla_breached", {
                "due_at": _iso(self.clock.due_at(self.cal)), "paged": self.start.backup_executive,
            })
        else:
            self._escalate("system:sla", "SLA breached", now)

    # --- internals ----------------------------------------------------------------------------

    def needs_approval(self, outcome: Outcome) -> str | None:
        bounds = self.charter.auto_approval
        larger = max(outcome.credit_split.direct, outcome.credit_split.partner)
        if larger > bounds.max_share_pct:
            return f"credit split beyond {bounds.max_share_pct}/{100 - bounds.max_share_pct}"
        if outcome.discount_cap_pct is not None and not bounds.allow_discount_cap:
            return "changes the discount cap"
        return None

    def _escalate(self, actor: str, reason: str, now: datetime) -> None:
        from_tier = self.tier
        if (open_proposal := self.open_proposal()) is not None:  # frontline talks are over
            open_proposal.state = "superseded"
        target = Status.executive if self.status == Status.mediation else Status.mediation
        self._enter(target, now)
        self._emit(now, actor, "escalated", {"from_tier": from_tier, "to_tier": self.tier, "reason": reason})

    def _enter(self, status: Status, now: datetime) -> None:
        self.status = status
        tiers = self.charter.tiers
        if status == Status.executive:
            self.reached_executive = True
        purpose, sla, fractions, repeats = {
            Status.frontline: ("frontline", tiers.frontline.sla, self.charter.reminder_fractions(1), 0),
            Status.awaiting_approval: ("approval", tiers.mediation.sla, self.charter.reminder_fractions(2), 0),
            Status.mediation: ("mediation", tiers.mediation.sla, self.charter.reminder_fractions(2), 0),
            Status.appeal_window: ("appeal", tiers.appeal_window, (), 0),
            Status.executive: ("executive", tiers.executive.sla, self.charter.reminder_fractions(3),
                               tiers.executive.breach_repeats),
        }[status]
        self.clock = Clock.start(purpose, self.charter.seconds(sla), fractions, now, repeats)
        self.info_request = None

    def _close(self, status: Status, now: datetime) -> None:
        self._closed_tier = self.tier
        self.status = status
        self.clock = None
        self.closed_at = now

    def _decision(self, kind: Any, outcome: Outcome, actor: str, now: datetime, rationale: str,
                  criteria: Any = None) -> Decision:
        rec = recommend(criteria, self.charter.weights) if criteria is not None else None
        tolerance = self.charter.weights.follows_tolerance_pct if self.follows_split else None
        return Decision(
            kind=kind, outcome=outcome, criteria=criteria, recommendation=rec,
            follows_recommendation=follows(outcome, rec, tolerance) if rec else None, rationale=rationale,
            actor=actor, at=now, tier=self.tier, charter_version=self.charter.version_id,
            final=kind == "agreement",
        )

    def _consulted(self, precedents: list[PrecedentRef] | None) -> None:
        """Keeps the precedents the service consulted in the decision, and whether its owner is that of most
        of them (DESIGN §9). A command from before precedents were consulted carries None: nothing is kept."""
        assert self.decision is not None
        if precedents is None:
            return
        self.decision.precedents = precedents
        self.decision.consistent_with_precedents = consistent(self.decision.outcome.owner,
                                                              [p.owner for p in precedents])

    def _decision_payload(self) -> dict[str, Any]:
        assert self.decision is not None
        exclude = {"at", "actor", "tier", "charter_version"}
        if self.decision.precedents is None:  # no precedents consulted: the payload of before they were
            exclude |= {"precedents", "consistent_with_precedents"}
        return self.decision.model_dump(mode="json", exclude=exclude)

    def _emit(self, now: datetime, actor: str, action: str, payload: dict[str, Any], *, seen: bool = True) -> None:
        """Records an event; one the parties may not read (`seen=False`, a caucus note) leaves the dispute's
        latest activity (`updated_at`, what lists sort by) as it was."""
        self.seq += 1
        if seen:
            self.updated_at = now
        self.events.append(Event(
            dispute_id=self.start.id, seq=self.seq, at=now, actor=actor, action=action,
            tier=self.tier, payload=payload, charter_version=self.charter.version_id,
        ))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


__all__ = ["Dispute", "Role"]
