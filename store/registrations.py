"""Registrations in the store: rows, their name index, who may see which, and the disputes naming them.

The name index (`registration_keys`) holds the match keys of *live* registrations only (pending or
approved): `insert` writes them, `update` rewrites them when the account changes and drops them when
the registration stops being live. Overlap detection reads it (`store.overlaps`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, text, true
from sqlalchemy import insert as sa_insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from domain.errors import NotFound
from domain.matching import match_keys, normalise_name
from domain.model import Role
from domain.registrations import LIVE
from store.db import insert_or_ignore
from store.tables import (
    DISPUTE_REGISTRATIONS,
    REGISTRATION_KEYS,
    REGISTRATIONS,
    RegistrationOverlap,
    RegistrationRow,
    User,
)

R, D = REGISTRATIONS.c, DISPUTE_REGISTRATIONS.c

__all__ = ["by_external_ref", "count", "disputes_about", "disputes_linking", "get", "insert", "known", "link_dispute",
           "listing", "may_see", "require", "take_turns", "update", "visible_to"]


def insert(session: Session, row: RegistrationRow) -> RegistrationRow:
    """Add a registration (flushed, so that its id can be referred to) and, if it is live, its keys."""
    row.account_norm = normalise_name(row.account)
    if row.status in LIVE:
        take_turns(session, row.account_norm, row.account_domain)
    session.add(row)
    session.flush()
    if row.status in LIVE:
        _add_keys(session, row.id, row.account_norm)
    return row


def get(session: Session, registration_id: str) -> RegistrationRow | None:
    return session.get(RegistrationRow, registration_id)


def known(session: Session, registration_id: str) -> bool:
    """Whether there is a registration with this id (its primary key read, nothing loaded)."""
    return session.execute(select(R.id).where(R.id == registration_id)).first() is not None


def require(session: Session, registration_id: str) -> RegistrationRow:
    row = get(session, registration_id)
    if row is None:
        raise NotFound(f"no registration {registration_id}")
    return row


def by_external_ref(session: Session, ref: str) -> RegistrationRow | None:
    return session.scalars(select(RegistrationRow).where(col(RegistrationRow.external_ref) == ref)).first()


def update(session: Session, registration_id: str, **changes: Any) -> RegistrationRow:
    """Change a registration's columns (`updated_at` is now unless given); keeps the name index right."""
    row = require(session, registration_id)
    was_live, old_norm, old_domain = row.status in LIVE, row.account_norm, row.account_domain
    for name, value in changes.items():
        if name not in RegistrationRow.model_fields or name in ("id", "account_norm"):
            raise ValueError(f"a registration has no column {name!r} that can be changed")
        setattr(row, name, value)
    row.account_norm = normalise_name(row.account)
    row.updated_at = changes.get("updated_at") or datetime.now(UTC)
    live = row.status in LIVE
    if live and (row.account_norm != old_norm or row.account_domain != old_domain):
        take_turns(session, row.account_norm, row.account_domain)
    session.add(row)
    session.flush()
    if live != was_live or row.account_norm != old_norm:
        _write_keys(session, row.id, row.account_norm if live else None)
    return row


def take_turns(session: Session, account_norm: str, account_domain: str | None) -> None:
    """Make transactions that add or change registrations that could overlap take turns, so that the
    overlap check of the second sees the first (until the end of the transaction). On PostgreSQL:
    advisory locks on the name keys and the domain, taken in order; SQLite has one writer at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    names = {f"key:{key}" for key in match_keys(account_norm)}
    if account_domain:
        names.add(f"domain:{account_domain}")
    ids = sorted({int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "big", signed=True)
                  for n in names})
    session.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                         "(SELECT k FROM unnest(CAST(:ids AS bigint[])) AS k ORDER BY k) AS ordered"), {"ids": ids})


def _write_keys(session: Session, registration_id: str, account_norm: str | None) -> None:
    """Replace a registration's keys with those of `account_norm` (none when it is None)."""
    session.execute(delete(REGISTRATION_KEYS).where(REGISTRATION_KEYS.c.registration_id == registration_id))
    if account_norm:
        _add_keys(session, registration_id, account_norm)


def _add_keys(session: Session, registration_id: str, account_norm: str) -> None:
    keys = sorted(match_keys(account_norm))
    if keys:
        rows = [{"key": key, "registration_id": registration_id} for key in keys]
        session.execute(sa_insert(REGISTRATION_KEYS), rows)


# --- who sees what ---------------------------------------------------------------------------------

def visible_to(user: User) -> ColumnElement[bool]:
    """DESIGN §6: partner users see their organisation's registrations; direct reps the direct ones and
    any partner registration that overlaps one of theirs; mediators, executives, auditors, admins all."""
    if Role(user.role) != Role.rep:
        return true()
    if user.channel == "partner":
        if user.partner_org:
            return col(RegistrationRow.partner_org) == user.partner_org
        return col(RegistrationRow.owner_email) == user.email
    theirs = select(R.id).where(R.owner_email == user.email)
    overlaps_theirs = exists().where(or_(
        (col(RegistrationOverlap.a_id) == RegistrationRow.id) & col(RegistrationOverlap.b_id).in_(theirs),
        (col(RegistrationOverlap.b_id) == RegistrationRow.id) & col(RegistrationOverlap.a_id).in_(theirs),
    ))
    return or_(col(RegistrationRow.channel) == "direct", overlaps_theirs)


def listing(session: Session, user: User, *, status: str | Sequence[str] | None = None, account: str | None = None,
            channel: str | None = None, mine: bool = False, limit: int | None = None,
            offset: int = 0) -> list[RegistrationRow]:
    """The registrations `user` may see, newest first (`submitted_at` descending, then `id` descending: an order
    without ties, for paging); `account` matches part of the normalised name (part of the name as typed when it
    is only punctuation)."""
    where = _listed(user, status=status, account=account, channel=channel, mine=mine)
    query = select(RegistrationRow).where(*where)  # (ORM entities, through session.scalars)
    query = query.order_by(col(RegistrationRow.submitted_at).desc(), col(RegistrationRow.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query.offset(offset)).all())


def count(session: Session, user: User, *, status: str | Sequence[str] | None = None, account: str | None = None,
          channel: str | None = None, mine: bool = False) -> int:
    """How many registrations `listing` finds with the same filters, all pages together."""
    where = _listed(user, status=status, account=account, channel=channel, mine=mine)
    return int(session.execute(select(func.count()).select_from(RegistrationRow).where(*where)).scalar_one())


def _listed(user: User, *, status: str | Sequence[str] | None, account: str | None, channel: str | None,
            mine: bool) -> list[ColumnElement[bool]]:
    where = [visible_to(user)]
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        where.append(col(RegistrationRow.status).in_(statuses))
    if account and account.strip():
        wanted = normalise_name(account)  # only punctuation: look for it as typed
        column = col(RegistrationRow.account_norm) if wanted else col(RegistrationRow.account)
        where.append(column.contains(wanted or account.strip(), autoescape=True))
    if channel:
        where.append(col(RegistrationRow.channel) == channel)
    if mine:
        where.append(col(RegistrationRow.owner_email) == user.email)
    return where


def may_see(session: Session, user: User, registration_id: str) -> bool:
    query = select(R.id).where(R.id == registration_id, visible_to(user))
    return session.execute(query).first() is not None


# --- the disputes about registrations ---------------------------------------------------------------

def link_dispute(session: Session, dispute_id: str, registration_ids: Iterable[str]) -> None:
    """Record that a dispute is about these registrations (again: no change)."""
    for registration_id in dict.fromkeys(registration_ids):
        insert_or_ignore(session, DISPUTE_REGISTRATIONS, {"dispute_id": dispute_id, "registration_id": registration_id},
                         ["dispute_id", "registration_id"])


def disputes_about(session: Session, registration_id: str) -> list[str]:
    """The disputes naming this registration, in id order."""
    query = select(D.dispute_id).where(D.registration_id == registration_id)
    return sorted(session.execute(query).scalars())


def disputes_linking(session: Session, a_id: str, b_id: str) -> list[str]:
    """The disputes naming both registrations (to refuse a second open dispute about one pair)."""
    other = select(D.dispute_id).where(D.registration_id == b_id)
    query = select(D.dispute_id).where(D.registration_id == a_id, D.dispute_id.in_(other))
    return sorted(session.execute(query).scalars())
