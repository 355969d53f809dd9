"""The read projection: one `disputes` row per dispute, rewritten from the workflow's view, and
its `dispute_waiting` rows (whom the dispute waits on, the view's `waiting_on`), rewritten with it.

Rows only move forward: a view older than the stored one (a retried or late write) is ignored.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from domain.model import DisputeView
from store.db import changed, insert_or_ignore, returning_key
from store.tables import DISPUTE_WAITING, DISPUTES

_T = DISPUTES.c
_W = DISPUTE_WAITING.c
_CLEAR_WAITING = delete(DISPUTE_WAITING).where(_W.dispute_id == bindparam("dispute_id"))
_ADD_WAITING = sa_insert(DISPUTE_WAITING)


def row_values(view: DisputeView) -> dict[str, Any]:
    """The projection columns for `view`."""
    counterparty = next((p for p in view.parties if p.email != view.filed_by), None)
    partner = next((p for p in view.parties if p.channel == "partner"), None)
    return {
        "id": view.id,
        "title": view.title,
        "status": view.status.value,
        "tier": view.tier,
        "conflict_type": view.conflict_type.value,
        "region": view.region,
        "segment": view.segment,
        "account": view.account,
        "deal_value": view.deal_value,
        "currency": view.currency,
        "filed_by": view.filed_by,
        "counterparty": counterparty.email if counterparty else "",
        "partner_org": view.partner_org or (partner.partner_org if partner else None),
        "mediator": view.mediator,
        "executive": view.executive,
        "backup_executive": view.backup_executive,
        "reached_executive": view.reached_executive,
        "due_at": view.sla.due_at,
        "paused": view.sla.paused,
        "breached": view.sla.breached,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "closed_at": view.closed_at,
        "last_seq": view.last_seq,
        "outcome_owner": view.decision.outcome.owner if view.decision else None,
        "view_json": view.model_dump_json(),
    }


def waiting_rows(view: DisputeView) -> list[dict[str, Any]]:
    """The `dispute_waiting` rows for `view`: one per person it waits on (for bulk writers)."""
    return [{"dispute_id": view.id, "email": email} for email in dict.fromkeys(view.waiting_on)]


def upsert_dispute(session: Session, view: DisputeView) -> bool:
    """Insert or update the dispute's row from `view` unless the row already reflects a later event,
    and when it was written, replace the dispute's waiting rows in the same transaction.

    Returns True when the row was written. Atomic on SQLite and PostgreSQL
    (`INSERT .. ON CONFLICT (id) DO UPDATE .. WHERE disputes.last_seq <= excluded.last_seq`).
    """
    if not _upsert_row(session, view):
        return False
    session.execute(_CLEAR_WAITING, {"dispute_id": view.id})
    if rows := waiting_rows(view):
        session.execute(_ADD_WAITING, rows)
    return True


def _upsert_row(session: Session, view: DisputeView) -> bool:
    values = row_values(view)
    dialect = session.get_bind().dialect
    if dialect.name in ("sqlite", "postgresql"):
        return changed(session, returning_key(_forward_upsert(dialect.name, tuple(values)), dialect, _T.id), values)
    if insert_or_ignore(session, DISPUTES, values, ["id"]):
        return True
    current = session.execute(select(_T.last_seq).where(_T.id == view.id).with_for_update()).scalar()
    if current is not None and current > view.last_seq:
        return False
    session.execute(update(DISPUTES).where(_T.id == view.id).values(**values))
    return True


@cache
def _forward_upsert(dialect: str, columns: tuple[str, ...]) -> Any:
    """`INSERT .. ON CONFLICT (id) DO UPDATE .. WHERE disputes.last_seq <= excluded.last_seq`, built once: its
    values are bound at execution (with the values in it, building the statement cost more than running it)."""
    stmt = (sqlite_insert if dialect == "sqlite" else pg_insert)(DISPUTES)
    excluded = stmt.excluded  # built anew on every access: read it once
    return stmt.on_conflict_do_update(
        index_elements=[_T.id],
        set_={name: excluded[name] for name in columns if name != "id"},
        where=_T.last_seq <= excluded.last_seq,
    )


_STORED_VIEW = select(_T.view_json).where(_T.id == bindparam("of_id"))  # built once, as the record path's are


def stored_view(session: Session, dispute_id: str) -> DisputeView | None:
    """The view the dispute's row was last written from, if there is a row."""
    view_json = session.execute(_STORED_VIEW, {"of_id": dispute_id}).scalar()
    return DisputeView.model_validate_json(view_json) if view_json else None
