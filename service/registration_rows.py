"""A new registration's row and first audit event, and whose registration it is: what `register` and the
import (service.registration_import) both build."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from domain.charter import Charter
from domain.errors import Forbidden, InvalidInput
from domain.matching import normalise_name
from domain.model import Event, Role
from domain.plain_words import a_role
from domain.registrations import RegistrationIn, new_registration_id
from store.tables import RegistrationRow, User
from store.users import user_by_email


def owner_of(s: Session, user: User, body: RegistrationIn) -> User:
    """Whose registration this is: the rep who submits it, or the rep an admin names."""
    role = Role(user.role)
    if role == Role.admin:
        if not body.owner_email:
            raise InvalidInput("owner_email: an admin registers on behalf of a rep: name them", "owner_email")
        owner = user_by_email(s, body.owner_email)
        if owner is None:
            raise InvalidInput(f"owner_email: no Parley user {body.owner_email}", "owner_email")
        if Role(owner.role) != Role.rep or owner.channel not in ("direct", "partner"):
            raise InvalidInput(f"owner_email: {owner.email} is {a_role(owner.role)}, not a rep", "owner_email")
        return owner
    if role != Role.rep:
        raise Forbidden(f"only reps register deals (an admin may on a rep's behalf); {user.email} is "
                        f"{a_role(user.role)}")
    if body.owner_email and body.owner_email.lower() != user.email:
        raise Forbidden("only an admin registers a deal on someone else's behalf")
    if user.channel not in ("direct", "partner"):
        raise Forbidden(f"{user.email} has no channel (direct or partner) to register deals for")
    return user


def new_row(body: RegistrationIn, owner: User, charter: Charter, now: datetime, *, status: str | None = None,
            submitted_at: datetime | None = None) -> RegistrationRow:
    return RegistrationRow(**new_values(body, owner, charter, now, status=status, submitted_at=submitted_at))


def new_values(body: RegistrationIn, owner: User, charter: Charter, now: datetime, *, status: str | None = None,
               submitted_at: datetime | None = None) -> dict[str, Any]:
    """The columns of a new registration: channel and partner org from its owner; a partner's pending
    until a mediator decides, a direct opportunity approved from the start with no protection window."""
    partner = owner.channel == "partner"
    status = status or ("pending" if partner else "approved")
    submitted = submitted_at or now
    # an imported registration: a direct one was approved when it was entered, a partner one we know to
    # have been approved then too if it is approved or expired (the CRM export carries no approval time)
    approved = status in ("approved", "expired") or (not partner and status != "rejected")
    approved_at = submitted if approved else None
    protected_until = approved_at + charter.registrations.protection_period if partner and approved_at else None
    return {
        "id": new_registration_id(), "external_ref": body.external_ref, "channel": "partner" if partner else "direct",
        "partner_org": owner.partner_org if partner else None, "owner_email": owner.email, "account": body.account,
        "account_norm": normalise_name(body.account), "account_domain": body.account_domain, "title": body.title,
        "deal_value": body.deal_value, "currency": body.currency, "region": body.region, "segment": body.segment,
        "expected_close": body.expected_close, "products": _json_list(body.products), "status": status,
        "submitted_at": submitted, "approved_at": approved_at, "protected_until": protected_until,
        "decided_by": None, "reason": None, "won": None, "charter_version": charter.version_id, "last_seq": 0,
        "created_at": now, "updated_at": now,
    }


def first_event(row: RegistrationRow | dict[str, Any], actor: str, action: str, charter: Charter,
                fields: dict[str, Any]) -> Event:
    """Event 1 of a registration's trail. Its values were validated with the registration: not again."""
    values = row if isinstance(row, dict) else row.model_dump()
    protected = values["protected_until"]
    payload = {**fields, "owner_email": values["owner_email"], "channel": values["channel"],
               "partner_org": values["partner_org"], "status": values["status"],
               "submitted_at": values["submitted_at"].isoformat(),
               "protected_until": protected.isoformat() if protected else None}
    return Event.model_construct(dispute_id=values["id"], seq=1, at=values["created_at"], actor=actor, action=action,
                                 tier=0, payload=payload, charter_version=charter.version_id)


def _json_list(items: list[str]) -> str:
    return json.dumps(items, ensure_ascii=False)
