"""The actions offered on a dispute's stored view are exactly the actions the workflow's own state
would accept: `domain.offers` asks `domain.rules` of the view, the validator asks it of the state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from domain.errors import ParleyError
from domain.lifecycle import Dispute
from domain.model import Action, Actor, Command, Role, Status
from domain.offers import ORDER, open_actions
from tests.domain.test_lifecycle import (
    ADMIN,
    AUDITOR,
    BACKUP,
    CRITERIA,
    EXEC,
    FILED,
    FILER,
    MEDIATOR,
    OTHER,
    PARTNER_OUTCOME,
    RATIONALE,
    SPLIT_75,
    STRANGER,
    dispute,
)

ACTION: TypeAdapter[Any] = TypeAdapter(Action)
EVERYONE = [FILER, OTHER, STRANGER, MEDIATOR, EXEC, BACKUP, AUDITOR, ADMIN]
FULL: dict[str, dict[str, Any]] = {  # a valid action of each kind, for the state's own check
    "accept": {}, "reject": {"reason": "No"}, "reject_agreement": {"reason": "No"},
    "propose": {"outcome": SPLIT_75}, "answer": {"text": "We registered first"}, "approve": {},
    "request_info": {"question": "Who was first?"}, "resume": {}, "appeal": {"reason": "Unfair"},
    "rule": {"outcome": PARTNER_OUTCOME, "criteria": CRITERIA, "rationale": RATIONALE},
    "decide": {"outcome": PARTNER_OUTCOME, "criteria": CRITERIA, "rationale": RATIONALE},
    "escalate": {"reason": "Stuck"}, "comment": {"text": "Hello"}, "reassign": {"to": "mediator2@example.com"},
    "withdraw": {"reason": "Done"},
}
SOMEONE = {Status.executive: Actor(email="exec2@example.com", role=Role.executive)}


def accepted_by_state(d: Dispute, actor: Actor) -> list[str]:
    out = []
    for offer in ORDER:
        if (offer == "reject_agreement") != (d.status == Status.awaiting_approval) and offer in (
                "reject", "reject_agreement"):
            continue
        name = "reject" if offer == "reject_agreement" else offer
        target = SOMEONE.get(d.status, Actor(email="mediator2@example.com", role=Role.mediator))
        try:
            d.check(Command(actor=actor, act=ACTION.validate_python({"action": name, **FULL[offer]}),
                            reassign_to=target if name == "reassign" else None))
        except ParleyError:
            continue
        out.append(offer)
    return out


def act(d: Dispute, actor: Actor, name: str, **fields: Any) -> None:
    d.apply(Command(actor=actor, act=ACTION.validate_python({"action": name, **fields})), FILED + timedelta(hours=1))


STATES: dict[str, Callable[[Dispute], None]] = {
    "frontline": lambda d: None,
    "proposed": lambda d: act(d, FILER, "propose", outcome=SPLIT_75),
    "awaiting_approval": lambda d: (act(d, FILER, "propose", outcome=SPLIT_75), act(d, OTHER, "accept")),
    "mediation": lambda d: act(d, OTHER, "escalate", reason="Stuck"),
    "asked": lambda d: (act(d, OTHER, "escalate", reason="Stuck"),
                        act(d, MEDIATOR, "request_info", question="Who?")),
    "answered": lambda d: (act(d, OTHER, "escalate", reason="Stuck"), act(d, MEDIATOR, "request_info", question="?"),
                           act(d, FILER, "answer", text="Us")),
    "appeal_window": lambda d: (act(d, OTHER, "escalate", reason="Stuck"),
                                act(d, MEDIATOR, "rule", outcome=PARTNER_OUTCOME, criteria=CRITERIA,
                                    rationale=RATIONALE)),
    "executive": lambda d: (act(d, OTHER, "escalate", reason="Stuck"), act(d, MEDIATOR, "escalate", reason="Up")),
    "resolved": lambda d: (act(d, FILER, "propose", outcome={"owner": "direct",
                                                             "credit_split": {"direct": 60, "partner": 40}}),
                           act(d, OTHER, "accept")),
    "withdrawn": lambda d: act(d, FILER, "withdraw", reason="Done"),
}


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("actor", EVERYONE, ids=lambda a: a.email)
def test_the_view_offers_what_the_state_accepts(state: str, actor: Actor) -> None:
    d = dispute()
    STATES[state](d)
    view = d.view(FILED + timedelta(hours=2))
    assert open_actions(view, actor) == accepted_by_state(d, actor)


def test_a_few_offers_spelled_out() -> None:
    d = dispute()
    STATES["proposed"](d)
    view = d.view(FILED + timedelta(hours=2))
    assert open_actions(view, OTHER) == ["accept", "reject", "propose", "escalate", "comment"]
    assert open_actions(view, FILER) == ["propose", "escalate", "comment", "withdraw"]
    assert open_actions(view, AUDITOR) == []
