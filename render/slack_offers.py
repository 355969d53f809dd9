"""Which actions a person may take on a dispute right now: the buttons their messages carry.

The actions come from `domain.offers` (the rules asked of the dispute's view), so a button is offered
exactly when the workflow's validator would accept the action; this module only picks and orders the
buttons and words them. The validator stays the judge: a button pressed after the
dispute moved on is refused there, and the refusal is shown to the person.
"""

from __future__ import annotations

from typing import Literal

from domain import offers
from domain.model import Actor, DisputeView, Role, Status

Offer = Literal[
    "accept", "reject", "propose", "escalate", "approve", "request_info", "resume", "answer", "rule", "appeal",
    "decide", "withdraw", "comment",
]
# Actions that need more than a click: they open a modal.
NEEDS_INPUT: frozenset[str] = frozenset({
    "reject", "propose", "escalate", "request_info", "answer", "rule", "appeal", "decide", "withdraw", "comment",
})
# The order of the buttons: the likely next step first, withdrawing last. (A comment is no step: its
# button is the `/conflict status` answer's own, beside these; reassigning is done on the web.)
BUTTONS: tuple[Offer, ...] = (
    "accept", "approve", "reject", "propose", "rule", "resume", "request_info", "answer", "appeal", "decide",
    "escalate", "withdraw",
)


def _open_now(view: DisputeView, email: str, role: Role | str) -> set[str]:
    """What `domain.offers` finds open, as Slack names it (the mediator's reject of an agreement is "reject")."""
    found = offers.open_actions(view, Actor(email=email, role=Role(role)))
    return {"reject" if o == "reject_agreement" else o for o in found}


def open_actions(view: DisputeView, email: str, role: Role | str) -> list[Offer]:
    """The buttons `email` (with `role`) gets on the dispute now: the actions `domain.offers` finds
    open to them, as Slack shows them."""
    open_now = _open_now(view, email, role)
    return [button for button in BUTTONS if button in open_now]


def is_open(view: DisputeView, email: str, role: Role | str, action: str) -> bool:
    """Whether `action` (a button's, or "comment") is open to `email` now."""
    return action in _open_now(view, email, role)


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
COMMENT_LABEL = "Add a comment"  # the `/conflict status` answer's own button (`render.slack_blocks.comment_block`)
# Every action a Parley button may carry: the buttons above, and the comment
PRESSABLE: frozenset[str] = frozenset({*LABELS, "comment"})


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
    "comment": "commented",
}
