"""Who may take which action in which state. Raises Forbidden (403) for the wrong person and
WrongState (409) for the right person at the wrong time; the workflow's update validator calls
this before anything is written to history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.errors import Forbidden, InvalidInput, WrongState
from domain.model import CLOSED, Actor, Role, Status

if TYPE_CHECKING:
    from domain.lifecycle import Dispute


def check(d: Dispute, actor: Actor, act: Any, reassign_to: Actor | None) -> None:
    if actor.role == Role.auditor:
        raise Forbidden("auditors have read-only access")
    is_party = d.party(actor.email) is not None
    is_mediator = actor.email == d.mediator
    is_executive = actor.email in d.executives
    name = act.action

    if d.status in CLOSED:
        if not (is_party or is_mediator or is_executive or actor.role == Role.admin):
            raise Forbidden(f"{actor.email} is not part of this dispute")
        raise WrongState(f"the dispute is {d.status.value}; no further actions are possible")

    match name:
        case "comment":
            if not (is_party or is_mediator or (is_executive and d.reached_executive)
                    or actor.role == Role.admin):
                raise Forbidden(f"{actor.email} is not part of this dispute")
        case "propose":
            _require(is_party, "only the two parties can propose a resolution")
            _state(d, (Status.frontline,), "proposals are made at frontline")
        case "accept":
            _require(is_party, "only the other party can accept a proposal")
            _state(d, (Status.frontline,), "proposals are accepted at frontline")
            proposal = d.open_proposal()
            if proposal is None:
                raise WrongState("there is no open proposal to accept")
            _require(proposal.by != actor.email, "you cannot accept your own proposal")
        case "reject":
            if d.status == Status.awaiting_approval:
                _require(is_mediator, "only the mediator can reject an agreement awaiting approval")
            else:
                _require(is_party, "only the other party can reject a proposal")
                _state(d, (Status.frontline,), "proposals are rejected at frontline")
                proposal = d.open_proposal()
                if proposal is None:
                    raise WrongState("there is no open proposal to reject")
                _require(proposal.by != actor.email, "you cannot reject your own proposal; propose again")
        case "escalate":
            if d.status in (Status.frontline, Status.awaiting_approval):
                _require(is_party, "at frontline, only a party can ask for mediation")
            elif d.status == Status.mediation:
                _require(is_mediator, "in mediation, only the mediator can escalate")
            else:
                _require(is_party or is_mediator or is_executive, f"{actor.email} is not part of this dispute")
                raise WrongState(f"a dispute {_where(d.status)} cannot be escalated")
        case "request_info" | "resume" | "rule":
            _require(is_mediator, f"only the assigned mediator ({d.mediator}) can {name.replace('_', ' ')}")
            _state(d, (Status.mediation,), f"{name} happens in mediation")
            assert d.clock is not None
            if name == "request_info" and d.clock.paused:
                raise WrongState("information has already been requested; resume first")
            if name == "resume" and not d.clock.paused:
                raise WrongState("the clock is not paused")
        case "answer":
            _require(is_party, "only the parties answer the mediator's question")
            _state(d, (Status.mediation,), "questions are answered in mediation")
            if d.info_request is None:
                raise WrongState("there is no open question to answer")
            if any(a.get("by") == actor.email for a in d.info_request.get("answers", ())):
                raise WrongState("you have already answered this question; add a comment to say more")
        case "approve":
            _require(is_mediator, f"only the assigned mediator ({d.mediator}) can approve")
            _state(d, (Status.awaiting_approval,), "there is no agreement awaiting approval")
        case "appeal":
            _require(is_party, "only a party can appeal a ruling")
            _state(d, (Status.appeal_window,), "a ruling can be appealed only during its appeal window")
        case "decide":
            _require(is_executive, "only the executive sponsor (or the backup) can decide")
            _state(d, (Status.executive,), "the executive decides only once a dispute reaches tier 3")
        case "withdraw":
            _require(actor.email == d.start.filer.email, "only the filer can withdraw a dispute")
        case "reassign":
            _check_reassign(d, actor, is_mediator, is_executive, reassign_to)
        case _:
            raise InvalidInput(f"unknown action {name!r}", field="action")


def _check_reassign(d: Dispute, actor: Actor, is_mediator: bool, is_executive: bool,
                    to: Actor | None) -> None:
    if to is None:
        raise InvalidInput("to: reassign needs a known user", field="to")
    if d.status == Status.executive:
        _require(actor.role == Role.admin or is_executive, "only an admin or the executive can reassign")
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


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise Forbidden(message)


def _state(d: Dispute, allowed: tuple[Status, ...], message: str) -> None:
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
