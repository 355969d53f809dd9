"""Who may take which action in which state. Raises Forbidden (403) for the wrong person and
WrongState (409) for the right person at the wrong time; the workflow's update validator calls
this before anything is written to history, and `domain.offers` asks it which actions to offer.

The rules read a dispute through `DisputeState`, which both the workflow's `lifecycle.Dispute` and
the stored `DisputeView` provide: one set of rules for acting and for offering.
"""

from __future__ import annotations

from typing import Any, Protocol

from domain import caucus
from domain.errors import Forbidden, InvalidInput, WrongState
from domain.model import (
    CLOSED,
    Accept,
    Action,
    Actor,
    Answer,
    Appeal,
    Approve,
    Comment,
    Decide,
    Escalate,
    Party,
    Proposal,
    Propose,
    Reassign,
    Reject,
    RequestInfo,
    Resume,
    Role,
    Rule,
    Status,
    Withdraw,
)


class DisputeState(Protocol):
    """What the rules read of a dispute."""

    @property
    def status(self) -> Status: ...
    @property
    def mediator(self) -> str: ...
    @property
    def executive(self) -> str: ...
    @property
    def executives(self) -> tuple[str, ...]: ...
    @property
    def deciders(self) -> tuple[str, ...]: ...
    @property
    def filed_by(self) -> str: ...
    @property
    def reached_executive(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def info_request(self) -> dict[str, Any] | None: ...
    def party(self, email: str) -> Party | None: ...
    def open_proposal(self) -> Proposal | None: ...


def check(d: DisputeState, actor: Actor, act: Action, reassign_to: Actor | None) -> None:
    if actor.role == Role.auditor:
        raise Forbidden("auditors have read-only access")
    is_party = d.party(actor.email) is not None
    is_mediator = actor.email == d.mediator
    is_executive = actor.email in d.executives

    if d.status in CLOSED:
        if not (is_party or is_mediator or is_executive or actor.role == Role.admin):
            raise Forbidden(f"{actor.email} is not part of this dispute")
        raise WrongState(f"the dispute is {d.status.value}; no further actions are possible")

    match act:
        case Comment():
            if not (is_party or is_mediator or (is_executive and d.reached_executive)
                    or actor.role == Role.admin):
                raise Forbidden(f"{actor.email} is not part of this dispute")
            if caucus.is_caucus(act):
                caucus.check_write(d, actor)
        case Propose():
            _require(is_party, "only the two parties can propose a resolution")
            _state(d, (Status.frontline,), "proposals are made at frontline")
        case Accept():
            _require(is_party, "only the other party can accept a proposal")
            _state(d, (Status.frontline,), "proposals are accepted at frontline")
            proposal = d.open_proposal()
            if proposal is None:
                raise WrongState("there is no open proposal to accept")
            _require(proposal.by != actor.email, "you cannot accept your own proposal")
        case Reject():
            if d.status == Status.awaiting_approval:
                _require(is_mediator, "only the mediator can reject an agreement awaiting approval")
            else:
                _require(is_party, "only the other party can reject a proposal")
                _state(d, (Status.frontline,), "proposals are rejected at frontline")
                proposal = d.open_proposal()
                if proposal is None:
                    raise WrongState("there is no open proposal to reject")
                _require(proposal.by != actor.email, "you cannot reject your own proposal; propose again")
        case Escalate():
            if d.status in (Status.frontline, Status.awaiting_approval):
                _require(is_party, "at frontline, only a party can ask for mediation")
            elif d.status == Status.mediation:
                _require(is_mediator, "in mediation, only the mediator can escalate")
            else:
                _require(is_party or is_mediator or is_executive, f"{actor.email} is not part of this dispute")
                raise WrongState(f"a dispute {_where(d.status)} cannot be escalated")
        case RequestInfo() | Resume() | Rule():
            name = act.action
            _require(is_mediator, f"only the assigned mediator ({d.mediator}) can {name.replace('_', ' ')}")
            _state(d, (Status.mediation,), f"{name} happens in mediation")
            if isinstance(act, RequestInfo) and d.paused:
                raise WrongState("information has already been requested; resume first")
            if isinstance(act, Resume) and not d.paused:
                raise WrongState("the clock is not paused")
        case Answer():
            _require(is_party, "only the parties answer the mediator's question")
            _state(d, (Status.mediation,), "questions are answered in mediation")
            if d.info_request is None:
                raise WrongState("there is no open question to answer")
            if any(a.get("by") == actor.email for a in d.info_request.get("answers", ())):
                raise WrongState("you have already answered this question; add a comment to say more")
        case Approve():
            _require(is_mediator, f"only the assigned mediator ({d.mediator}) can approve")
            _state(d, (Status.awaiting_approval,), "there is no agreement awaiting approval")
        case Appeal():
            _require(is_party, "only a party can appeal a ruling")
            _state(d, (Status.appeal_window,), "a ruling can be appealed only during its appeal window")
        case Decide():
            _require(actor.email in d.deciders, _tier3(d, "decide"))
            _state(d, (Status.executive,), "the executive decides only once a dispute reaches tier 3")
        case Withdraw():
            _require(actor.email == d.filed_by, "only the filer can withdraw a dispute")
        case Reassign():
            _check_reassign(d, actor, is_mediator, reassign_to)
        case _:
            raise InvalidInput(f"unknown action {act!r}", field="action")


def _check_reassign(d: DisputeState, actor: Actor, is_mediator: bool, to: Actor | None) -> None:
    if to is None:
        raise InvalidInput("to: reassign needs a known user", field="to")
    if d.status == Status.executive:
        _require(actor.role == Role.admin or actor.email in d.deciders, _tier3(d, "reassign", admin=True))
        if to.role != Role.executive:
            raise InvalidInput(f"to: {to.email} is not an executive", field="to")
        if to.email == d.executive:
            raise WrongState(f"{to.email} is already the executive on this dispute")
    else:
        _require(actor.role == Role.admin or is_mediator, "only an admin or the mediator can reassign")
        if to.role != Role.mediator:
            raise InvalidInput(f"to: {to.email} is not a mediator", field="to")
        if to.email == d.mediator:
            raise WrongState(f"{to.email} is already the mediator on this dispute")


def _tier3(d: DisputeState, verb: str, admin: bool = False) -> str:
    """Who may `verb` at tier 3: the executive sponsor; the backup too once the tier's deadline has passed and
    they were paged (DESIGN §1). While the sponsor is away the dispute moves to the backup (domain.away)."""
    backup = next((e for e in d.executives if e != d.executive), None)
    who = f"{'an admin or ' if admin else ''}the executive sponsor ({d.executive})"
    if backup is None:
        return f"only {who} can {verb}"
    if backup in d.deciders:
        return f"only {who} or the backup ({backup}) can {verb}"
    return f"only {who} can {verb}; the backup ({backup}) can once the tier's deadline has passed and they are paged"


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise Forbidden(message)


def _state(d: DisputeState, allowed: tuple[Status, ...], message: str) -> None:
    if d.status not in allowed:
        raise WrongState(f"{message}; the dispute is {_where(d.status)}")


_WHERE = {
    Status.frontline: "at frontline", Status.awaiting_approval: "awaiting the mediator's approval",
    Status.mediation: "in mediation", Status.appeal_window: "in its appeal window",
    Status.executive: "with the executive", Status.resolved: "resolved", Status.withdrawn: "withdrawn",
}


def _where(status: Status) -> str:
    """Where a dispute stands, in words ("in its appeal window", not "appeal_window")."""
    return _WHERE.get(status, status.value.replace("_", " "))
