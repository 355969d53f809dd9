"""Registrations as the surfaces show them (DESIGN §6's `GET /api/registrations/{id}`), the lists and
the overlaps queue, read from the store with the visibility rule of `store.registrations`.

A partner user never learns which other partner organisation claims the same deal: an overlap with
another organisation's registration shows it as a partner registration with no organisation.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from domain.errors import NotFound
from domain.model import Role
from store import overlaps, registrations
from store.overlaps import OverlapPair, Side
from store.tables import DisputeRow, RegistrationRow, User


def visible_row(session: Session, user: User, registration_id: str) -> RegistrationRow:
    row = registrations.get(session, registration_id)
    if row is None or not registrations.may_see(session, user, registration_id):
        raise NotFound(f"no registration {registration_id} that you can see")
    return row


def summary(row: RegistrationRow) -> dict[str, Any]:
    """A registration without its overlaps and disputes (the lists)."""
    return {
        "id": row.id, "ref": row.external_ref, "channel": row.channel, "partner_org": row.partner_org,
        "owner": row.owner_email, "account": row.account, "account_domain": row.account_domain, "title": row.title,
        "deal_value": row.deal_value, "currency": row.currency, "region": row.region, "segment": row.segment,
        "expected_close": row.expected_close.isoformat() if row.expected_close else None,
        "products": json.loads(row.products or "[]"), "status": row.status,
        "submitted_at": row.submitted_at, "approved_at": row.approved_at, "protected_until": row.protected_until,
        "decided_by": row.decided_by, "reason": row.reason, "won": row.won, "charter_version": row.charter_version,
        "last_seq": row.last_seq, "updated_at": row.updated_at,
    }


def read(session: Session, user: User, registration_id: str) -> dict[str, Any]:
    """The registration with the overlaps recorded for it and the disputes naming it."""
    row = visible_row(session, user, registration_id)
    found = [_overlap(pair, registration_id, user) for pair in overlaps.for_registration(session, registration_id)]
    dispute_ids = registrations.disputes_about(session, registration_id)
    statuses = dict(session.exec(select(DisputeRow.id, DisputeRow.status)
                                 .where(col(DisputeRow.id).in_(dispute_ids))).all()) if dispute_ids else {}
    return {**summary(row), "overlaps": found,
            "disputes": [{"id": d, "status": statuses.get(d)} for d in dispute_ids]}


def listing(session: Session, user: User, **filters: Any) -> list[dict[str, Any]]:
    return [summary(row) for row in registrations.listing(session, user, **filters)]


def overlap_queue(session: Session, user: User, limit: int = 500) -> list[dict[str, Any]]:
    """Live overlapping pairs, newest first: everyone's for mediators, executives, auditors and admins;
    a rep's own (`store.overlaps.live_pairs` holds the rule)."""
    return [{
        "id": pair.id, "a": _side(pair.a, user), "b": _side(pair.b, user), "score": pair.score,
        "reason": pair.reason, "found_at": pair.found_at, "disputed": pair.disputed,
        "dispute_ids": list(pair.dispute_ids),
    } for pair in overlaps.live_pairs(session, user, limit=limit)]


def _overlap(pair: OverlapPair, registration_id: str, user: User) -> dict[str, Any]:
    other = pair.other(registration_id)
    return {"registration_id": other.registration_id, "channel": other.channel,
            "partner_org": _org_shown(other.partner_org, user), "account": other.account, "score": pair.score,
            "reason": pair.reason, "status": other.status, "disputed": pair.disputed}


def _side(side: Side, user: User) -> dict[str, Any]:
    return {"registration_id": side.registration_id, "channel": side.channel,
            "partner_org": _org_shown(side.partner_org, user), "account": side.account,
            "account_domain": side.account_domain, "title": side.title, "status": side.status,
            "owner": side.owner_email if _may_name_owner(side, user) else None,
            "submitted_at": side.submitted_at, "approved_at": side.approved_at,
            "protected_until": side.protected_until}


def _org_shown(org: str | None, user: User) -> str | None:
    if Role(user.role) == Role.rep and user.channel == "partner" and org != user.partner_org:
        return None
    return org


def _may_name_owner(side: Side, user: User) -> bool:
    if Role(user.role) != Role.rep:
        return True
    return side.owner_email == user.email or (user.channel == "partner" and side.partner_org == user.partner_org) \
        or (user.channel == "direct" and side.channel == "direct")
