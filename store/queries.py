"""The read-only queries behind the dispute lists: the filters of the query string, the queues,
the auditor's list, the regions to suggest, the people to pick and their names, and the number the
dispute page polls.

Everything here reads the projection (`disputes`, `dispute_waiting`) and the audit trail; nothing
writes. Lists select only the columns they show, use the projection's indexes and a LIMIT. The
outbox page reads `store.notifications`, the dashboard's figures `store.stats`.

`Filters.parse` reads the filters from a query string's mapping: pure and lenient (a bad value is
reported on the page, not a 422), it lives with `Filters.where`, which says what each filter means
in SQL, so that a filter is defined in one place.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from domain.model import ConflictType, Role, Status
from store.tables import AUDIT_EVENTS, DISPUTE_WAITING, DISPUTES, USERS, User
from store.visibility import mine, visible_to

D = DISPUTES.c
W = DISPUTE_WAITING.c
PAGE_SIZE = 50
OPEN_STATUSES = tuple(s.value for s in Status if s not in (Status.resolved, Status.withdrawn))
LIST_COLUMNS = (D.id, D.title, D.status, D.tier, D.conflict_type, D.region, D.account, D.deal_value, D.currency,
                D.filed_by, D.counterparty, D.partner_org, D.mediator, D.executive, D.due_at, D.paused,
                D.breached, D.created_at, D.updated_at, D.closed_at, D.outcome_owner)
OUTCOME_CHOICES = {"direct": "Owner: direct sales", "partner": "Owner: partner", "co_sell": "Owner: co-sell",
                   "withdrawn": "Withdrawn", "open": "Still open"}


@dataclass(frozen=True)
class ListRow:
    id: str
    title: str
    status: str
    tier: int
    conflict_type: str
    region: str
    account: str
    deal_value: float
    currency: str
    filed_by: str
    counterparty: str
    partner_org: str | None
    mediator: str
    executive: str
    due_at: datetime | None
    paused: bool
    breached: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    outcome_owner: str | None

    def overdue(self, now: datetime) -> bool:
        return self.breached or (self.due_at is not None and not self.paused and self.due_at <= now)


def _rows(session: Session, query: Select[Any]) -> list[ListRow]:
    return [ListRow(**row._mapping) for row in session.execute(query)]


# --- filters -------------------------------------------------------------------------------------

@dataclass
class Filters:
    """The list filters of the query string, read leniently: a bad value is reported, not a 422."""

    status: str | None = None
    tier: int | None = None
    region: str | None = None
    conflict_type: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    outcome: str | None = None
    actor: str | None = None
    scope: str | None = None  # "all": every dispute the user may see, not only their own
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        f = cls()

        def text(name: str) -> str | None:
            value = (params.get(name) or "").strip()
            return value[:200] or None

        if (status := text("status")) is not None:
            if status in {s.value for s in Status}:
                f.status = status
            else:
                f.errors["status"] = "Choose one of the statuses."
        if (tier := text("tier")) is not None:
            if tier in ("1", "2", "3"):
                f.tier = int(tier)
            else:
                f.errors["tier"] = "Choose tier 1, 2 or 3."
        f.region = text("region")
        if (kind := text("conflict_type")) is not None:
            if kind in {c.value for c in ConflictType}:
                f.conflict_type = kind
            else:
                f.errors["conflict_type"] = "Choose one of the conflict types."
        for name in ("date_from", "date_to"):
            if (value := text(name)) is not None:
                try:
                    setattr(f, name, date.fromisoformat(value))
                except ValueError:
                    f.errors[name] = "Enter a date as YYYY-MM-DD."
        if (outcome := text("outcome")) is not None:
            if outcome in OUTCOME_CHOICES:
                f.outcome = outcome
            else:
                f.errors["outcome"] = "Choose one of the outcomes."
        if (actor := text("actor")) is not None:
            f.actor = actor.lower()
        f.scope = "all" if text("scope") == "all" else None
        page = text("page")
        f.page = int(page) if page and page.isascii() and page.isdigit() and 0 < int(page) < 10_000 else 1
        return f

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.status:
            out.append(D.status == self.status)
        if self.tier:
            out.append(D.tier == self.tier)
        if self.region:
            out.append(func.lower(D.region) == self.region.lower())
        if self.conflict_type:
            out.append(D.conflict_type == self.conflict_type)
        if self.date_from:
            out.append(D.created_at >= datetime.combine(self.date_from, time(), UTC))
        if self.date_to:
            out.append(D.created_at < datetime.combine(self.date_to + timedelta(days=1), time(), UTC))
        if self.outcome == "open":
            out.append(D.status.in_(OPEN_STATUSES))
        elif self.outcome == "withdrawn":
            out.append(D.status == Status.withdrawn.value)
        elif self.outcome:
            out.append(and_(D.status == Status.resolved.value, D.outcome_owner == self.outcome))
        if self.actor:
            acted = select(AUDIT_EVENTS.c.dispute_id).where(AUDIT_EVENTS.c.actor == self.actor)
            out.append(D.id.in_(acted))
        return out

    def query_string(self, **overrides: Any) -> str:
        """The filters as a query string (for paging links)."""
        values = {"status": self.status, "tier": self.tier, "region": self.region,
                  "conflict_type": self.conflict_type, "date_from": self.date_from, "date_to": self.date_to,
                  "outcome": self.outcome, "actor": self.actor, "scope": self.scope, "page": self.page}
        values.update(overrides)
        return urlencode({k: v for k, v in values.items() if v not in (None, "") and not (k == "page" and v == 1)})

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


@dataclass
class Page:
    rows: list[ListRow]
    has_more: bool
    total: int | None = None


def _page(session: Session, query: Select[Any], filters: Filters) -> Page:
    rows = _rows(session, query.offset(filters.offset).limit(PAGE_SIZE + 1))
    return Page(rows=rows[:PAGE_SIZE], has_more=len(rows) > PAGE_SIZE)


# --- queues --------------------------------------------------------------------------------------

def waiting_on(session: Session, user: User, filters: Filters, limit: int = 100) -> list[ListRow]:
    """The open disputes whose next step is this user's, soonest deadline first (no deadline last).

    Whom a dispute waits on is the workflow's answer (`Dispute.waiting_on`), stored beside the
    projection row in `dispute_waiting`.
    """
    query = (select(*LIST_COLUMNS).select_from(DISPUTES.join(DISPUTE_WAITING, W.dispute_id == D.id))
             .where(W.email == user.email, visible_to(user), *filters.where())
             .order_by(D.due_at.asc().nulls_last(), D.updated_at.asc(), D.id).limit(limit))
    return _rows(session, query)


def my_disputes(session: Session, user: User, filters: Filters, everything: bool) -> Page:
    """The disputes the user is part of (or, with `everything`, all they may see), latest first."""
    query = select(*LIST_COLUMNS).where(visible_to(user), *filters.where())
    if not everything:
        query = query.where(mine(user))
    return _page(session, query.order_by(D.updated_at.desc(), D.id), filters)


def all_disputes(session: Session, filters: Filters) -> Page:
    """The auditor's list: every dispute, latest first, with the number that match."""
    where = filters.where()
    page = _page(session, select(*LIST_COLUMNS).where(*where).order_by(D.updated_at.desc(), D.id), filters)
    page.total = int(session.execute(select(func.count()).select_from(DISPUTES).where(*where)).scalar_one())
    return page


def regions(session: Session) -> list[str]:
    """The regions people work in (for the filters' suggestions)."""
    found = session.execute(select(USERS.c.region).where(USERS.c.region.is_not(None)).distinct()).scalars()
    return sorted({r for r in found if r})


# --- people --------------------------------------------------------------------------------------

def counterparties(session: Session, user: User) -> list[User]:
    """The reps of the other channel, whom `user` may file a dispute against."""
    other = "direct" if user.channel == "partner" else "partner"
    query = select(User).where(col(User.role) == Role.rep.value, col(User.channel) == other,
                               col(User.email) != user.email)
    return list(session.execute(query.order_by(col(User.partner_org), col(User.name))).scalars())


def people_with_role(session: Session, role: Role) -> list[User]:
    return list(session.execute(select(User).where(col(User.role) == role.value).order_by(col(User.name))).scalars())


def names_of(session: Session, emails: Collection[str]) -> dict[str, str]:
    """The names of those of `emails` who are users."""
    if not emails:
        return {}
    rows = session.execute(select(USERS.c.email, USERS.c.name).where(USERS.c.email.in_(sorted(emails))))
    return {email: name for email, name in rows}


# --- the dispute page ------------------------------------------------------------------------------

def last_seq(session: Session, user: User, dispute_id: str) -> int | None:
    """The dispute's latest event number, if the user may see it (the page polls this)."""
    value = session.execute(select(D.last_seq).where(D.id == dispute_id, visible_to(user))).scalar()
    return None if value is None else int(value)
