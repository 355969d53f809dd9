"""The buttons a person gets are exactly the actions the workflow's validator would accept from them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from domain.errors import ParleyError
from domain.lifecycle import Dispute
from render.slack_offers import LABELS, open_actions
from tests.domain.test_lifecycle import (
    ADMIN,
    AUDITOR,
    BACKUP,
    CRITERIA,
    EXEC,
    FILER,
    MEDIATOR,
    OTHER,
    PARTNER_OUTCOME,
    RATIONALE,
    SPLIT_70,
    STRANGER,
    answered,
    appealed,
    awaiting_approval,
    cmd,
    dispute,
    in_mediation,
    paused,
    proposed,
    resolved,
    ruled,
    withdrawn,
)

FIELDS: dict[str, dict[str, Any]] = {
    "accept": {}, "approve": {}, "resume": {},
    "reject": {"reason": "No"}, "escalate": {"reason": "Stuck"}, "appeal": {"reason": "Unfair"},
    "withdraw": {"reason": "Done"}, "request_info": {"question": "Who?"}, "answer": {"text": "Dana did."},
    "propose": {"outcome": SPLIT_70},
    "rule": {"outcome": PARTNER_OUTCOME, "criteria": CRITERIA, "rationale": RATIONALE},
    "decide": {"outcome": PARTNER_OUTCOME, "criteria": CRITERIA, "rationale": RATIONALE},
}
STATES: dict[str, Callable[[], Dispute]] = {
    "frontline": dispute, "proposed": proposed, "awaiting_approval": awaiting_approval,
    "mediation": in_mediation, "paused": paused, "answered": answered, "appeal_window": ruled,
    "executive": appealed, "resolved": resolved, "withdrawn": withdrawn,
}
ACTORS = {"filer": FILER, "other": OTHER, "mediator": MEDIATOR, "exec": EXEC, "backup": BACKUP,
          "auditor": AUDITOR, "stranger": STRANGER, "admin": ADMIN}


def allowed(d: Dispute, actor: Any, action: str) -> bool:
    try:
        d.check(cmd(actor, action, **FIELDS[action]))
    except ParleyError:
        return False
    return True


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("who", ACTORS)
def test_buttons_match_the_validator(state: str, who: str) -> None:
    d = STATES[state]()
    actor = ACTORS[who]
    view = d.view(d.updated_at + timedelta(minutes=1))
    offered = open_actions(view, actor.email, actor.role)
    expected = [a for a in LABELS if allowed(d, actor, a)]
    if who == "admin":  # an admin may act on any dispute, but gets no buttons: the web UI is theirs
        assert offered == []
        return
    assert sorted(offered) == sorted(expected), f"{who} in {state}"


def test_the_likely_action_comes_first() -> None:
    d = proposed()
    view = d.view(d.updated_at)
    assert open_actions(view, OTHER.email, OTHER.role) == ["accept", "reject", "propose", "escalate"]
    assert open_actions(view, FILER.email, FILER.role) == ["propose", "escalate", "withdraw"]


def test_a_party_with_an_open_question_gets_an_answer_button() -> None:
    d = paused()
    view = d.view(d.updated_at)
    assert open_actions(view, OTHER.email, OTHER.role) == ["answer"]
    assert open_actions(view, FILER.email, FILER.role) == ["answer", "withdraw"]
    d = answered()  # pat answered: dana still may, pat may not again
    view = d.view(d.updated_at)
    assert open_actions(view, OTHER.email, OTHER.role) == []
    assert open_actions(view, FILER.email, FILER.role) == ["answer", "withdraw"]
    assert open_actions(view, MEDIATOR.email, MEDIATOR.role) == ["rule", "resume", "escalate"]
