"""Which actions are open to a person on a dispute right now: `domain.rules` asked of each action,
so a form or a button is offered exactly when the workflow's validator would accept it. The web's
forms and the Slack app's buttons both come from here; the validator stays the judge when a
dispute moved on after the page or message was shown.
"""

from __future__ import annotations

from typing import Literal

from domain import rules
from domain.errors import ParleyError
from domain.model import (
    Accept,
    Action,
    Actor,
    Answer,
    Appeal,
    Approve,
    Comment,
    Decide,
    Escalate,
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

Offer = Literal[
    "accept", "reject", "propose", "answer", "approve", "reject_agreement", "request_info", "resume", "rule",
    "decide", "appeal", "escalate", "comment", "reassign", "withdraw",
]
# The order they are offered in: the likely next step first, withdrawing last. "reject_agreement" is
# the mediator's `reject` of an agreement awaiting approval, offered as a step of its own.
ORDER: tuple[Offer, ...] = (
    "accept", "reject", "propose", "answer", "approve", "reject_agreement", "request_info", "resume", "rule",
    "decide", "appeal", "escalate", "comment", "reassign", "withdraw",
)
# One action of each kind, with no content: the rules look at who and when, never at what.
_KINDS: dict[str, type[Action]] = {
    "accept": Accept, "reject": Reject, "propose": Propose, "answer": Answer, "approve": Approve,
    "request_info": RequestInfo, "resume": Resume, "rule": Rule, "decide": Decide, "appeal": Appeal,
    "escalate": Escalate, "comment": Comment, "reassign": Reassign, "withdraw": Withdraw,
}
_SAMPLES: dict[str, Action] = {name: kind.model_construct(**{"action": name}) for name, kind in _KINDS.items()}  # type: ignore[arg-type]


def open_actions(state: rules.DisputeState, actor: Actor) -> list[Offer]:
    """The actions `actor` may take now, in `ORDER`."""
    allowed: list[Offer] = []
    for offer in ORDER:
        if (offer == "reject_agreement") != (state.status == Status.awaiting_approval) and offer in (
                "reject", "reject_agreement"):
            continue
        target = None
        if offer == "reassign":  # to anyone of the right role who is not assigned already
            role = Role.executive if state.status == Status.executive else Role.mediator
            target = Actor(email="someone-else@parley.invalid", role=role)
        try:
            rules.check(state, actor, _SAMPLES["reject" if offer == "reject_agreement" else offer], target)
        except ParleyError:
            continue
        allowed.append(offer)
    return allowed
