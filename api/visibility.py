"""Who may see which disputes: the one place that turns a user into a filter on the projection."""

from __future__ import annotations

from sqlalchemy import and_, false, or_, true
from sqlalchemy.sql.elements import ColumnElement
from store.tables import DisputeRow, User

from domain.model import Role


def visible_to(user: User) -> ColumnElement[bool]:
    role = Role(user.role)
    email = user.email
    if role in (Role.auditor, Role.admin):
        return true()
    if role == Role.mediator:
        return DisputeRow.mediator == email  # type: ignore[return-value]
    if role == Role.executive:
        is_exec = or_(DisputeRow.executive == email, DisputeRow.backup_executive == email)
        return and_(is_exec, DisputeRow.reached_executive == true())
    if role == Role.rep:
        party = or_(DisputeRow.filed_by == email, DisputeRow.counterparty == email)
        if user.channel == "partner" and user.partner_org:
            # a partner user sees their own organisation's disputes, never another partner's
            return DisputeRow.partner_org == user.partner_org  # type: ignore[return-value]
        return party
    return false()


def mine(user: User) -> ColumnElement[bool]:
    email = user.email
    return or_(DisputeRow.filed_by == email, DisputeRow.counterparty == email,
               DisputeRow.mediator == email, DisputeRow.executive == email)
