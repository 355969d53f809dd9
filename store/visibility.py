"""Who may see which disputes: the one place that turns a user into a filter on the projection.

It lives in the store, next to the queries that apply it (`store.queries`, `store.notifications`'s
outbox); `service.visibility` re-exports it for the surfaces.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, bindparam, false, or_, true
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlmodel import col

from domain.model import Role
from store.tables import DisputeRow, User


def visible_to(user: User) -> ColumnElement[bool]:
    return _visible(viewer_kind(user), user.email, user.partner_org)


def viewer_kind(user: User) -> str:
    """What the rule depends on besides the e-mail and partner organisation: the role, and for a rep whether
    they see their organisation's disputes (a partner) or their own (a direct rep)."""
    role = Role(user.role)
    if role == Role.rep:
        return "partner" if user.channel == "partner" and user.partner_org else "direct"
    return role.value


def visible_to_viewer(kind: str) -> ColumnElement[bool]:
    """`visible_to` for every user of one `viewer_kind`, their e-mail and organisation left as the parameters
    `viewer_params` gives: for statements built once and run for everyone (the dispute read of the API)."""
    return _visible(kind, bindparam("viewer_email", type_=String), bindparam("viewer_org", type_=String))


def viewer_params(user: User) -> dict[str, Any]:
    return {"viewer_email": user.email, "viewer_org": user.partner_org}


def _visible(kind: str, email: str | BindParameter[str], org: str | BindParameter[str] | None) -> ColumnElement[bool]:
    if kind in (Role.auditor.value, Role.admin.value):
        return true()
    if kind == Role.mediator.value:
        return col(DisputeRow.mediator) == email
    if kind == Role.executive.value:
        is_exec = or_(col(DisputeRow.executive) == email, col(DisputeRow.backup_executive) == email)
        # an executive adjudicates as the mediator when no mediator was eligible (service/routing.py); grouped,
        # so that the filter stays whole when compiled into a longer SQL text (store/precedents.py)
        as_mediator = col(DisputeRow.mediator) == email
        return or_(and_(is_exec, col(DisputeRow.reached_executive).is_(True)), as_mediator).self_group()
    if kind == "partner":
        # a partner user sees their own organisation's disputes, never another partner's
        return col(DisputeRow.partner_org) == org
    if kind == "direct":
        return or_(col(DisputeRow.filed_by) == email, col(DisputeRow.counterparty) == email)
    return false()


def mine(user: User) -> ColumnElement[bool]:
    """Disputes the user is part of, whatever their role."""
    return _mine(user.email)


def mine_of_viewer() -> ColumnElement[bool]:
    """`mine` for statements built once (`visible_to_viewer`): the e-mail is `viewer_params`'s."""
    return _mine(bindparam("viewer_email", type_=String))


def _mine(email: str | BindParameter[str]) -> ColumnElement[bool]:
    return or_(col(DisputeRow.filed_by) == email, col(DisputeRow.counterparty) == email,
               col(DisputeRow.mediator) == email, col(DisputeRow.executive) == email)
