"""Overlapping registrations (DESIGN §6): finding them, recording them, listing them.

Two live registrations (pending or approved) overlap when they are of different channels, or of two
different partner organisations, and their accounts match: the same `account_domain`, or normalised
names at least the charter's `match_threshold` alike (domain.matching). Candidates come from the
domain index and the name index (`registration_keys`) only, never from a scan of every row, so a
check reads a few rows however many registrations there are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import String, and_, bindparam, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from domain.matching import match_keys, normalise_name, similarity
from domain.model import Role
from domain.registrations import LIVE
from store.db import insert_or_ignore
from store.tables import (
    DISPUTE_REGISTRATIONS,
    REGISTRATION_KEYS,
    REGISTRATION_OVERLAPS,
    REGISTRATIONS,
    RegistrationOverlap,
    RegistrationRow,
    User,
)

__all__ = ["OTHER_PARTY", "Found", "OverlapPair", "Side", "find", "for_registration", "live_pairs", "record"]

R = REGISTRATIONS.c


@dataclass(frozen=True)
class Found:
    """A live registration that overlaps the one checked."""

    registration_id: str
    account: str
    channel: str
    partner_org: str | None
    owner_email: str
    status: str
    score: int  # 0-100; 100 for a domain match
    reason: str  # "domain" | "name"


@dataclass(frozen=True)
class Side:
    registration_id: str
    account: str
    account_domain: str | None
    channel: str
    partner_org: str | None
    owner_email: str
    status: str
    title: str
    submitted_at: datetime
    approved_at: datetime | None
    protected_until: datetime | None


@dataclass(frozen=True)
class OverlapPair:
    """A recorded overlap with both registrations as they are now (`a` has the smaller id)."""

    id: int
    a: Side
    b: Side
    score: int
    reason: str
    found_at: datetime
    dispute_ids: tuple[str, ...] = field(default=())  # disputes naming both registrations

    @property
    def disputed(self) -> bool:
        return bool(self.dispute_ids)

    def other(self, registration_id: str) -> Side:
        return self.b if self.a.registration_id == registration_id else self.a


# Registrations of another party than the one checked (bound as :id, :channel, :org): another channel,
# or another partner organisation. One organisation's own registrations never conflict.
OTHER_PARTY = and_(R.id != bindparam("id"), or_(
    R.channel != bindparam("channel"),
    and_(R.channel == "partner", R.partner_org.is_distinct_from(bindparam("org", type_=String)))))
_COLUMNS = (R.id, R.account, R.channel, R.partner_org, R.owner_email, R.status)
_SAME_DOMAIN = select(*_COLUMNS).where(R.account_domain == bindparam("domain"), R.status.in_(sorted(LIVE)), OTHER_PARTY)
# Live is checked on the rows read rather than in SQL: SQLite would read every live row by the status index.
_SHARING_A_KEY = select(R.id, R.account_norm, R.status).where(
    R.id.in_(select(REGISTRATION_KEYS.c.registration_id).where(REGISTRATION_KEYS.c.key.in_(
        bindparam("keys", expanding=True)))),
    OTHER_PARTY)
_BY_ID = select(*_COLUMNS).where(R.id.in_(bindparam("ids", expanding=True)))


def find(session: Session, row: RegistrationRow, threshold: int) -> list[Found]:
    """The live registrations overlapping `row`, domain matches first, then the best names."""
    found: dict[str, Found] = {}
    party = {"id": row.id, "channel": row.channel, "org": row.partner_org}
    if row.account_domain:
        for r in session.execute(_SAME_DOMAIN, {**party, "domain": row.account_domain}):
            found[r.id] = Found(r.id, r.account, r.channel, r.partner_org, r.owner_email, r.status, 100, "domain")
    account_norm = row.account_norm or normalise_name(row.account)  # (a row not stored yet may lack it)
    keys = sorted(match_keys(account_norm))
    names: dict[str, int] = {}
    if keys:
        for registration_id, norm, status in session.execute(_SHARING_A_KEY, {**party, "keys": keys}):
            if status in LIVE and registration_id not in found \
                    and (score := similarity(account_norm, norm)) >= threshold:
                names[registration_id] = score
    if names:
        for r in session.execute(_BY_ID, {"ids": sorted(names)}):
            found[r.id] = Found(r.id, r.account, r.channel, r.partner_org, r.owner_email, r.status, names[r.id], "name")
    return sorted(found.values(), key=lambda f: (f.reason != "domain", -f.score, f.registration_id))


def record(session: Session, row: RegistrationRow, found: list[Found], at: datetime | None = None) -> list[Found]:
    """Record each overlap once (by pair); returns those that were new."""
    at = at or datetime.now(UTC)
    new: list[Found] = []
    for f in found:
        a_id, b_id = sorted((row.id, f.registration_id))
        values = {"a_id": a_id, "b_id": b_id, "score": f.score, "reason": f.reason, "found_at": at}
        if insert_or_ignore(session, REGISTRATION_OVERLAPS, values, ["a_id", "b_id"]):
            new.append(f)
    return new


# --- reading them back -----------------------------------------------------------------------------

def for_registration(session: Session, registration_id: str) -> list[OverlapPair]:
    """Every overlap recorded for a registration, newest first, whether or not both are still live."""
    where = or_(col(RegistrationOverlap.a_id) == registration_id, col(RegistrationOverlap.b_id) == registration_id)
    return _pairs(session, where)


def live_pairs(session: Session, user: User, *, limit: int = 500) -> list[OverlapPair]:
    """Pairs of live overlapping registrations, newest first (GET /api/overlaps): all of them for
    mediators, executives, auditors and admins, those touching their own registrations for a rep."""
    a, b = aliased(RegistrationRow), aliased(RegistrationRow)
    live = sorted(LIVE)
    where = and_(col(a.status).in_(live), col(b.status).in_(live))
    if Role(user.role) == Role.rep:
        where = and_(where, or_(col(a.owner_email) == user.email, col(b.owner_email) == user.email))
    return _pairs(session, where, (a, b), limit)


def _pairs(session: Session, where: ColumnElement[bool], sides: tuple[type[RegistrationRow], type[RegistrationRow]]
           | None = None, limit: int | None = None) -> list[OverlapPair]:
    a, b = sides or (aliased(RegistrationRow), aliased(RegistrationRow))
    query = (select(RegistrationOverlap, a, b)
             .join(a, col(a.id) == RegistrationOverlap.a_id).join(b, col(b.id) == RegistrationOverlap.b_id)
             .where(where).order_by(col(RegistrationOverlap.found_at).desc(), col(RegistrationOverlap.id).desc()))
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    disputes = _disputes_by_pair(session, {r for overlap, ra, rb in rows for r in (ra.id, rb.id)})
    return [OverlapPair(id=overlap.id or 0, a=_side(ra), b=_side(rb), score=overlap.score, reason=overlap.reason,
                        found_at=overlap.found_at, dispute_ids=disputes(ra.id, rb.id))
            for overlap, ra, rb in rows]


def _side(row: RegistrationRow) -> Side:
    return Side(row.id, row.account, row.account_domain, row.channel, row.partner_org, row.owner_email, row.status,
                row.title, row.submitted_at, row.approved_at, row.protected_until)


def _disputes_by_pair(session: Session, registration_ids: set[str]) -> Callable[[str, str], tuple[str, ...]]:
    """A function telling which disputes name both of two registrations."""
    by_registration: dict[str, set[str]] = {}
    if registration_ids:
        d = DISPUTE_REGISTRATIONS.c
        links = session.execute(select(d.dispute_id, d.registration_id)
                                .where(d.registration_id.in_(sorted(registration_ids))))
        for dispute_id, registration_id in links:
            by_registration.setdefault(registration_id, set()).add(dispute_id)

    def disputes(a_id: str, b_id: str) -> tuple[str, ...]:
        return tuple(sorted(by_registration.get(a_id, set()) & by_registration.get(b_id, set())))

    return disputes

