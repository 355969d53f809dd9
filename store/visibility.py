"""Who may see which disputes: the one place that turns a user into a filter on the projection.

It lives in the store, next to the queries that apply it (`store.queries`, `store.notifications`'s
outbox); `service.visibility` re-exports it for the surfaces.
"""

from __future__ import annotations

from sqlalchemy import and_, false, or_, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from domain.model import Role
from store.tables import DisputeRow, User


def visible_to(user: User) -> ColumnElement[bool]:
    role = Role(user.role)
    email = user.email
    if role in (Role.auditor, Role.admin):
        return true()
    if role == Role.mediator:
        return col(DisputeRow.mediator) == email
    if role == Role.executive:
        is_exec = or_(col(DisputeRow.executive) == email, col(DisputeRow.backup_executive) == email)
        # an executive adjudicates as the mediator when no mediator was eligible (service/routing.py); grouped,
        # so that the filter stays whole when compiled into a longer SQL text (store/precedents.py)
        as_mediator = col(DisputeRow.mediator) == email
        return or_(and_(is_exec, col(DisputeRow.reached_executive).is_(True)), as_mediator).self_group()
    if role == Role.rep:
        if user.channel == "partner" and user.partner_org:
            # a partner user sees their own organisation's disputes, never another partner's
            return col(DisputeRow.partner_org) == user.partner_org
        return or_(col(DisputeRow.filed_by) == email, col(DisputeRow.counterparty) == email)
    return false()


def mine(user: User) -> ColumnElement[bool]:
    """Disputes the user is part of, whatever their role."""
    email = user.email
    return or_(col(DisputeRow.filed_by) == email, col(DisputeRow.counterparty) == email,
               col(DisputeRow.mediator) == email, col(DisputeRow.executive) == email)
