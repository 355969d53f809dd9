"""One partner organisation's figures for a period, for its quarterly business review (read-only).

The disputes are those the organisation was party to (`disputes.partner_org`) *filed* in the period, as on
the dashboard (a cohort): counts, outcomes, the credit each side got, the median time from filing to
resolution, and how often a ruling or executive decision departed from the charter's recommendation
(`store.stats`, the dashboard's own queries, narrowed to the organisation). Beside them, the registrations
the organisation submitted in the period and the overlaps found in it that involve one of its
registrations. Every query starts from an index on the organisation (`disputes.partner_org`,
`registrations.partner_org`) and the period.

The list of disputes is filtered by what the viewer may see (`store.visibility`); the figures are not, as
the dashboard's are not: they are for the leaders who may see the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, union
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from domain.model import Status
from store import stats
from store.tables import (
    DISPUTE_REGISTRATIONS,
    DISPUTES,
    REGISTRATION_OVERLAPS,
    REGISTRATIONS,
    USERS,
    User,
)
from store.visibility import visible_to

D = DISPUTES.c
R = REGISTRATIONS.c
O = REGISTRATION_OVERLAPS.c  # noqa: E741
ROW_LIMIT = 1000  # disputes listed on the page; the CSV has them all


@dataclass(frozen=True)
class ReviewRow:
    """One dispute of the organisation, as the review lists it."""

    id: str
    title: str
    conflict_type: str
    region: str
    account: str
    status: str
    deal_value: float
    currency: str
    created_at: datetime
    closed_at: datetime | None
    outcome_owner: str | None
    direct_pct: float | None  # the decided credit split; None while open or withdrawn
    follows_recommendation: bool | None

    @property
    def partner_pct(self) -> float | None:
        return None if self.direct_pct is None else 100 - self.direct_pct

    @property
    def resolution_s(self) -> float | None:
        if self.status != Status.resolved.value or self.closed_at is None:
            return None
        return (self.closed_at - self.created_at).total_seconds()


@dataclass
class Review:
    org: str
    start: datetime  # the period, in UTC: [start, end)
    end: datetime
    disputes: stats.PartnerFigures
    median_resolution_s: float | None = None
    resolved_timed: int = 0
    decisions: int = 0  # rulings and executive decisions with a recommendation
    departed: int = 0  # of those, how many did not follow it
    registrations: dict[str, int] = field(default_factory=dict)  # status -> count
    registrations_won: int = 0
    registrations_lost: int = 0
    overlaps: int = 0
    overlaps_disputed: int = 0  # of those, how many a dispute names

    @property
    def deviation_rate(self) -> float | None:
        return self.departed / self.decisions if self.decisions else None

    @property
    def registrations_submitted(self) -> int:
        return sum(self.registrations.values())


def known_org(session: Session, org: str) -> str | None:
    """The organisation as Parley spells it (a user's, a dispute's or a registration's `partner_org`),
    matched exactly or else case-insensitively; None when Parley knows no such organisation."""
    wanted = org.strip()
    if not wanted:
        return None
    columns = (USERS.c.partner_org, D.partner_org, R.partner_org)
    for column in columns:  # the usual case: an index lookup
        if session.execute(select(column).where(column == wanted).limit(1)).first() is not None:
            return wanted
    names = union(*(select(c.label("org")).where(c.is_not(None)).distinct() for c in columns)).subquery()
    folded = wanted.casefold()
    matches = sorted(name for (name,) in session.execute(select(names.c.org)) if name.casefold() == folded)
    return matches[0] if matches else None


def _cohort(org: str, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [D.partner_org == org, D.created_at >= start, D.created_at < end]


def review(session: Session, org: str, start: datetime, end: datetime) -> Review:
    dialect = session.get_bind().dialect.name
    cohort = _cohort(org, start, end)
    found = stats.figures_by_org(session, cohort, dialect).get(org) or stats.PartnerFigures(org=org)
    result = Review(org=org, start=start, end=end, disputes=found)
    resolved = and_(D.status == Status.resolved.value, D.closed_at.is_not(None))
    medians = stats.medians_by(session, D.partner_org, stats.seconds_between(dialect, D.closed_at, D.created_at),
                               cohort, resolved)
    result.median_resolution_s, result.resolved_timed = medians.get(org, (None, 0))
    for deviation in stats.deviations(session, cohort, dialect):
        result.decisions += deviation.decisions
        result.departed += deviation.departed
    _registrations(session, result)
    _overlaps(session, result)
    return result


def _registrations(session: Session, result: Review) -> None:
    period = [R.partner_org == result.org, R.submitted_at >= result.start, R.submitted_at < result.end]
    query = select(R.status, func.count(), stats.count_if(R.won.is_(True)), stats.count_if(R.won.is_(False))
                   ).where(*period).group_by(R.status)
    for status, n, won, lost in session.execute(query):
        result.registrations[status] = int(n)
        result.registrations_won += int(won)
        result.registrations_lost += int(lost)


def _overlaps(session: Session, result: Review) -> None:
    a, b = REGISTRATIONS.alias("a"), REGISTRATIONS.alias("b")
    first, second = DISPUTE_REGISTRATIONS.alias("first"), DISPUTE_REGISTRATIONS.alias("second")
    disputed = exists(select(first.c.dispute_id).select_from(
        first.join(second, first.c.dispute_id == second.c.dispute_id)
    ).where(first.c.registration_id == O.a_id, second.c.registration_id == O.b_id))
    query = (select(func.count(), stats.count_if(disputed))
             .select_from(REGISTRATION_OVERLAPS.join(a, a.c.id == O.a_id).join(b, b.c.id == O.b_id))
             .where(or_(a.c.partner_org == result.org, b.c.partner_org == result.org),
                    O.found_at >= result.start, O.found_at < result.end))
    found, with_dispute = session.execute(query).one()
    result.overlaps, result.overlaps_disputed = int(found), int(with_dispute)


# --- the disputes listed -----------------------------------------------------------------------------

def _row_query(dialect: str, org: str, start: datetime, end: datetime, user: User) -> Any:
    direct = stats.json_number(dialect, D.view_json, "decision", "outcome", "credit_split", "direct")
    had, departed = stats.json_flag(dialect, D.view_json, "decision", "follows_recommendation")
    decided = D.status == Status.resolved.value
    return (select(D.id, D.title, D.conflict_type, D.region, D.account, D.status, D.deal_value, D.currency,
                   D.created_at, D.closed_at, D.outcome_owner,
                   case((decided, direct), else_=None).label("direct_pct"),
                   case((and_(decided, had), case((departed, 0), else_=1)), else_=None).label("follows"))
            .where(*_cohort(org, start, end), visible_to(user))
            .order_by(D.created_at, D.id))


def _row(values: Any) -> ReviewRow:
    m = dict(values._mapping)
    follows, direct = m.pop("follows"), m.pop("direct_pct")
    return ReviewRow(**m, direct_pct=float(direct) if direct is not None else None,
                     follows_recommendation=None if follows is None else bool(follows))


def rows(session: Session, org: str, start: datetime, end: datetime, user: User,
         limit: int | None = ROW_LIMIT) -> list[ReviewRow]:
    """The organisation's disputes of the period that `user` may see, oldest first."""
    query = _row_query(session.get_bind().dialect.name, org, start, end, user)
    if limit is not None:
        query = query.limit(limit)
    return [_row(values) for values in session.execute(query)]


def iter_rows(session: Session, org: str, start: datetime, end: datetime, user: User) -> Iterator[ReviewRow]:
    """All of them, read as they are written out (the CSV)."""
    query = _row_query(session.get_bind().dialect.name, org, start, end, user)
    for values in session.execute(query.execution_options(yield_per=500)):
        yield _row(values)


def visible_count(session: Session, org: str, start: datetime, end: datetime, user: User) -> int:
    query = select(func.count()).select_from(DISPUTES).where(*_cohort(org, start, end), visible_to(user))
    return int(session.execute(query).scalar_one())
