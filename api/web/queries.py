"""Read-only queries behind the pages: queues, the auditor's list, the outbox and the people to pick.

Everything here reads the projection (`disputes`), the audit trail and the outbox; nothing writes.
Lists select only the columns they show, use the projection's indexes and a LIMIT; the dashboard's
figures are aggregated in SQL (`api.web.stats`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from api.visibility import mine, visible_to
from domain.model import ConflictType, Role, Status
from store.tables import AUDIT_EVENTS, DISPUTES, NOTIFICATIONS, USERS, User

D = DISPUTES.c
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

    SQL narrows to the states in which the user can be the one waited on; where that depends on more
    than the columns say, the row is checked against the stored view's `waiting_on` (computed by the
    workflow's `Dispute.waiting_on`): a frontline dispute waits on a party only while no proposal of
    theirs is open, and a paused mediation waits on the parties until one answers the mediator's
    question, then on the mediator.
    """
    me = user.email
    is_party = or_(D.filed_by == me, D.counterparty == me)
    cond = or_(
        and_(is_party, or_(D.status.in_((Status.frontline.value, Status.appeal_window.value)),
                           and_(D.status == Status.mediation.value, D.paused.is_(True)))),
        and_(D.mediator == me, D.status.in_((Status.awaiting_approval.value, Status.mediation.value))),
        and_(D.status == Status.executive.value,
             or_(D.executive == me, and_(D.backup_executive == me, D.breached.is_(True)))),
    )
    query = (select(*LIST_COLUMNS).where(cond, visible_to(user), *filters.where())
             .order_by(D.due_at.asc().nulls_last(), D.updated_at.asc(), D.id))
    out: list[ListRow] = []
    batch, offset = limit * 2, 0
    while len(out) < limit:
        rows = _rows(session, query.offset(offset).limit(batch))
        check = [r.id for r in rows if _depends_on_view(r)]
        waiting: set[str] = set()
        if check:
            for dispute_id, view_json in session.execute(select(D.id, D.view_json).where(D.id.in_(check))):
                if me in json.loads(view_json).get("waiting_on", []):
                    waiting.add(dispute_id)
        out += [r for r in rows if not _depends_on_view(r) or r.id in waiting]
        if len(rows) < batch:
            break
        offset += batch
    return out[:limit]


def _depends_on_view(row: ListRow) -> bool:
    """Whether the columns alone cannot say who the dispute waits on (see `waiting_on`)."""
    return row.status == Status.frontline.value or (row.status == Status.mediation.value and row.paused)


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


def names_of(session: Session, emails: set[str]) -> dict[str, str]:
    if not emails:
        return {}
    rows = session.execute(select(USERS.c.email, USERS.c.name).where(USERS.c.email.in_(sorted(emails))))
    return {email: name for email, name in rows}


# --- the dispute page ------------------------------------------------------------------------------

def last_seq(session: Session, user: User, dispute_id: str) -> int | None:
    """The dispute's latest event number, if the user may see it (the page polls this)."""
    value = session.execute(select(D.last_seq).where(D.id == dispute_id, visible_to(user))).scalar()
    return None if value is None else int(value)


# --- the outbox --------------------------------------------------------------------------------------

N = NOTIFICATIONS.c


@dataclass(frozen=True)
class OutboxRow:
    id: int
    dispute_id: str
    seq: int
    recipient: str
    kind: str
    text: str
    created_at: datetime
    status: str
    error: str | None


def outbox(session: Session, user: User, recipient: str | None, page: int) -> tuple[list[OutboxRow], bool]:
    """Notifications, newest first: auditors and admins see everyone's; others see their own direct
    messages and the case updates of the disputes they may see."""
    columns = (N.id, N.dispute_id, N.seq, N.recipient, N.kind, N.text, N.created_at, N.status, N.error)
    query = select(*columns)
    if Role(user.role) not in (Role.auditor, Role.admin):
        query = (query.join(DISPUTES, D.id == N.dispute_id)
                 .where(visible_to(user), or_(N.recipient == user.email, N.recipient == "channel")))
    if recipient:
        query = query.where(N.recipient == recipient)
    query = query.order_by(N.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows = [OutboxRow(**row._mapping) for row in session.execute(query)]
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def outbox_recipients(session: Session, user: User) -> list[str]:
    """Whom notifications go to, for the per-recipient links (auditors and admins: everyone).

    Taken from the users table (small) rather than grouping the whole outbox, which grows by several
    rows per event."""
    if Role(user.role) not in (Role.auditor, Role.admin):
        return []
    emails = session.execute(select(USERS.c.email).order_by(USERS.c.email)).scalars()
    return ["channel", *emails]
