"""Which actions the dispute page offers this user: the workflow's own rules (`domain.rules.check`),
asked of the dispute as the projection last saw it. The workflow's validator stays the authority:
if the dispute moved on meanwhile, its 403/409 comes back to the page as an error message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from domain import rules
from domain.errors import ParleyError
from domain.model import CLOSED, Actor, DisputeView, Party, Proposal, Role, Status

if TYPE_CHECKING:
    from domain.lifecycle import Dispute

# The order the page shows them in: the likely next step first, withdrawing last.
ORDER = ("accept", "reject", "propose", "answer", "approve", "reject_agreement", "request_info", "resume", "rule",
         "decide", "appeal", "escalate", "comment", "reassign", "withdraw")


@dataclass
class _Clock:
    paused: bool


@dataclass
class _Filer:
    email: str


@dataclass
class _Start:
    filer: _Filer


@dataclass
class _Act:
    action: str


class ViewState:
    """The few attributes of `domain.lifecycle.Dispute` that `domain.rules.check` reads, from a view."""

    def __init__(self, view: DisputeView) -> None:
        self.view = view
        self.status = view.status
        self.mediator = view.mediator
        self.executive = view.executive
        self.executives = tuple(e for e in (view.executive, view.backup_executive) if e)
        self.reached_executive = view.reached_executive
        self.info_request = view.info_request
        self.clock = None if view.status in CLOSED else _Clock(paused=view.sla.paused)
        self.start = _Start(_Filer(view.filed_by))

    def party(self, email: str) -> Party | None:
        return next((p for p in self.view.parties if p.email == email), None)

    def open_proposal(self) -> Proposal | None:
        return next((p for p in reversed(self.view.proposals) if p.state == "open"), None)


def open_actions(view: DisputeView, actor: Actor) -> list[str]:
    """The actions `actor` may take now, in page order. "reject_agreement" is the mediator's reject
    of an agreement awaiting approval (the same `reject` action, shown as its own form)."""
    state = cast("Dispute", ViewState(view))
    allowed: list[str] = []
    for name in ORDER:
        action = "reject" if name == "reject_agreement" else name
        if name == "reject" and view.status == Status.awaiting_approval:
            continue
        if name == "reject_agreement" and view.status != Status.awaiting_approval:
            continue
        target = None
        if action == "reassign":  # anyone of the right role who is not assigned already
            role = Role.executive if view.status == Status.executive else Role.mediator
            target = Actor(email="someone-else@parley.invalid", role=role)
        try:
            rules.check(state, actor, _Act(action), target)
        except ParleyError:
            continue
        allowed.append(name)
    return allowed
