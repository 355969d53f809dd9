"""Which actions a person may take on a dispute right now: the buttons their messages carry.

This reads the dispute's view the way `domain.rules.check` reads the workflow's state, so a button is
offered exactly when the workflow's validator would accept the action (tests/slack/test_offers.py
checks the two against each other). The validator stays the judge: a button pressed after the
dispute moved on is refused there, and the refusal is shown to the person.
"""

from __future__ import annotations

from typing import Literal

from domain.model import CLOSED, DisputeView, Proposal, Role, Status

Offer = Literal[
    "accept", "reject", "propose", "escalate", "approve", "request_info", "resume", "answer", "rule", "appeal",
    "decide", "withdraw",
]
# Actions that need more than a click: they open a modal.
NEEDS_INPUT: frozenset[str] = frozenset({
    "reject", "propose", "escalate", "request_info", "answer", "rule", "appeal", "decide", "withdraw",
})


def open_proposal(view: DisputeView) -> Proposal | None:
    return next((p for p in reversed(view.proposals) if p.state == "open"), None)


def question_open_to(view: DisputeView, email: str) -> bool:
    """The mediator's question is open and `email` (a party) has not answered it yet."""
    request = view.info_request
    if not view.sla.paused or not request:
        return False
    return not any(isinstance(a, dict) and a.get("by") == email for a in request.get("answers", ()))


def open_actions(view: DisputeView, email: str, role: Role | str) -> list[Offer]:
    """The actions `email` (with `role`) may take on the dispute now, the most likely first."""
    role = Role(role)
    if role == Role.auditor or view.status in CLOSED:
        return []
    is_party = any(p.email == email for p in view.parties)
    is_mediator = email == view.mediator
    is_executive = email in (view.executive, view.backup_executive)
    out: list[Offer] = []
    match view.status:
        case Status.frontline if is_party:
            proposal = open_proposal(view)
            if proposal is not None and proposal.by != email:
                out += ["accept", "reject"]
            out += ["propose", "escalate"]
        case Status.awaiting_approval:
            if is_mediator:
                out += ["approve", "reject"]
            if is_party:
                out.append("escalate")
        case Status.mediation if is_mediator:
            out += ["rule", "resume" if view.sla.paused else "request_info", "escalate"]
        case Status.mediation if is_party and question_open_to(view, email):
            out.append("answer")
        case Status.appeal_window if is_party:
            out.append("appeal")
        case Status.executive if is_executive:
            out.append("decide")
    if email == view.filed_by:
        out.append("withdraw")
    return out


LABELS: dict[str, str] = {
    "accept": "Accept proposal",
    "reject": "Reject",
    "propose": "Propose a resolution",
    "escalate": "Ask for mediation",
    "approve": "Approve agreement",
    "request_info": "Request information",
    "resume": "Resume the clock",
    "answer": "Answer the question",
    "rule": "Rule",
    "appeal": "Appeal the ruling",
    "decide": "Decide",
    "withdraw": "Withdraw",
}


def label(action: str, view: DisputeView) -> str:
    if action == "escalate" and view.status == Status.mediation:
        return "Escalate to the executive"
    if action == "reject" and view.status == Status.awaiting_approval:
        return "Reject agreement"
    return LABELS.get(action, action.replace("_", " ").capitalize())


# What a person did, for the line that replaces the buttons ("Pat Partner accepted the proposal").
DONE: dict[str, str] = {
    "accept": "accepted the proposal",
    "reject": "rejected it",
    "propose": "proposed a resolution",
    "escalate": "escalated the dispute",
    "approve": "approved the agreement",
    "request_info": "requested information (the clock is paused)",
    "resume": "resumed the clock",
    "answer": "answered the mediator's question",
    "rule": "ruled",
    "appeal": "appealed the ruling",
    "decide": "made the final decision",
    "withdraw": "withdrew the dispute",
}
