"""A registration as `GET /api/registrations/{id}` shows it to a reader who may see everything (an admin, an
auditor): the registration, the overlaps recorded for it and the disputes naming it. What the webhook
events about registrations carry, read in the transaction that records the event.

The same shape as `service.registration_views.read` (without a reader's visibility rule: a webhook's
receiver is the company's own system); tests/webhooks/test_registration_events.py holds the two together.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from store import overlaps, registrations
from store.tables import DisputeRow, RegistrationOverlap, RegistrationRow


def shown(session: Session, registration_id: str) -> dict[str, Any]:
    row = registrations.require(session, registration_id)
    found = [_overlap(pair, registration_id) for pair in overlaps.for_registration(session, registration_id)]
    dispute_ids = registrations.disputes_about(session, registration_id)
    statuses = dict(session.exec(select(DisputeRow.id, DisputeRow.status)
                                 .where(col(DisputeRow.id).in_(dispute_ids))).all()) if dispute_ids else {}
    return {**summary(row), "overlaps": found,
            "disputes": [{"id": d, "status": statuses.get(d)} for d in dispute_ids]}


def summary(row: RegistrationRow) -> dict[str, Any]:
    return {
        "id": row.id, "ref": row.external_ref, "channel": row.channel, "partner_org": row.partner_org,
        "owner": row.owner_email, "account": row.account, "account_domain": row.account_domain, "title": row.title,
        "deal_value": row.deal_value, "currency": row.currency, "region": row.region, "segment": row.segment,
        "expected_close": row.expected_close, "products": json.loads(row.products or "[]"), "status": row.status,
        "submitted_at": row.submitted_at, "approved_at": row.approved_at, "protected_until": row.protected_until,
        "decided_by": row.decided_by, "reason": row.reason, "won": row.won, "charter_version": row.charter_version,
        "last_seq": row.last_seq, "updated_at": row.updated_at,
    }


def overlap_of(session: Session, one_id: str, other_id: str) -> RegistrationOverlap | None:
    """The recorded overlap of two registrations (recorded once per pair, the smaller id as `a`)."""
    a_id, b_id = sorted((one_id, other_id))
    query = select(RegistrationOverlap).where(col(RegistrationOverlap.a_id) == a_id,
                                              col(RegistrationOverlap.b_id) == b_id)
    return session.exec(query).first()


def _overlap(pair: overlaps.OverlapPair, registration_id: str) -> dict[str, Any]:
    other = pair.other(registration_id)
    return {"registration_id": other.registration_id, "channel": other.channel, "partner_org": other.partner_org,
            "account": other.account, "score": pair.score, "reason": pair.reason, "status": other.status,
            "disputed": pair.disputed}
