"""Precedents (DESIGN §9): the resolved disputes most like this one that the caller may see, for every
surface (`GET /api/disputes/{id}/precedents`, the ruling and decision forms on the web and in Slack), and
the precedents a ruling or decision is checked against (`consult`, on the action path of
`service.disputes.Service.act`, which hands them to the workflow inside the command).

Who may consult them: mediators, executives, auditors and admins (a rep is a party: 403). Which ones they
see: those `store.visibility` lets them see. How alike: `domain.precedents`; how they are found fast:
`store.precedents`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from domain import precedents as rules
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.model import Criteria, DisputeView, PrecedentRef, Role
from domain.plain_words import a_role
from store import precedents as store
from store.tables import DisputeRow, User
from store.visibility import visible_to

MAY_CONSULT = (Role.mediator, Role.executive, Role.auditor, Role.admin)


@dataclass(frozen=True)
class Precedents:
    dispute_id: str
    criteria_used: bool
    found: list[store.Found]

    @property
    def owners(self) -> list[str]:
        return [f.decision.outcome.owner for f in self.found]

    def refs(self) -> list[PrecedentRef]:
        """What the decision record keeps of them: ids, scores and owners."""
        return [PrecedentRef(id=f.id, score=f.similarity.score, owner=f.decision.outcome.owner) for f in self.found]

    def hint(self) -> str | None:
        return rules.hint(self.owners)

    def warning(self, owner: str) -> str | None:
        return rules.warning(owner, self.owners)

    def to_json(self) -> dict[str, Any]:
        most = rules.majority(self.owners)
        return {
            "dispute_id": self.dispute_id,
            "criteria_used": self.criteria_used,
            "majority": {"owner": most[0], "count": most[1], "of": len(self.found)} if most else None,
            "precedents": [item_json(f) for f in self.found],
        }


def item_json(f: store.Found) -> dict[str, Any]:
    d = f.decision
    return {
        "id": f.id, "title": f.title, "conflict_type": f.conflict_type, "region": f.region, "segment": f.segment,
        "deal_value": f.deal_value, "currency": f.currency, "resolved_at": d.at.isoformat() if d.at else None,
        "kind": d.kind, "outcome": d.outcome.model_dump(mode="json"),
        "follows_recommendation": d.follows_recommendation,
        "tier": d.tier, "rationale": d.rationale, "decided_by": d.actor,
        "score": f.similarity.score, "reasons": list(f.similarity.reasons),
    }


def may_consult(user: User) -> bool:
    return Role(user.role) in MAY_CONSULT


def check_limit(limit: int) -> None:
    if not 1 <= limit <= rules.MAX_LIMIT:
        raise InvalidInput(f"limit: between 1 and {rules.MAX_LIMIT} (got {limit})", "limit")


def features_of(view: DisputeView, criteria: Criteria | None) -> rules.Features:
    return rules.Features(conflict_type=view.conflict_type.value, region=view.region, segment=view.segment,
                          deal_value=view.deal_value, currency=view.currency,
                          criteria=rules.criteria_vector(criteria) if criteria is not None else None)


def for_dispute(session: Session, user: User, dispute_id: str, limit: int = rules.CONSULTED,
                criteria: Criteria | None = None) -> Precedents:
    """The `limit` resolved disputes most similar to `dispute_id` that `user` may see. `criteria` (those of a
    ruling being made) count when given; otherwise those of the dispute's own decision, if it has one (a ruling
    under appeal)."""
    if not may_consult(user):
        raise Forbidden(f"precedents are for mediators, executives, auditors and admins: they show how other "
                        f"disputes were decided, which a party may not see; {user.email} is {a_role(user.role)}")
    check_limit(limit)
    row = session.exec(select(DisputeRow).where(DisputeRow.id == dispute_id, visible_to(user))).first()
    if row is None:
        raise NotFound(f"no dispute {dispute_id} that you can see")
    view = DisputeView.model_validate_json(row.view_json)
    if criteria is None and view.decision is not None:
        criteria = view.decision.criteria
    found = store.find(session, features_of(view, criteria), dispute_id, visible_to(user), limit,
                       mediators_own=Role(user.role) == Role.mediator)
    return Precedents(dispute_id=dispute_id, criteria_used=criteria is not None, found=found)


def consult(session: Session, user: User, dispute_id: str, criteria: Criteria) -> list[PrecedentRef] | None:
    """The precedents a ruling or decision by `user` with `criteria` is checked against (None when `user` may
    not consult any: then the workflow's validator refuses the action anyway)."""
    if not may_consult(user):
        return None
    return for_dispute(session, user, dispute_id, rules.CONSULTED, criteria).refs()
