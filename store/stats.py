"""The dashboard's figures, aggregated in SQL over the projection and the audit trail (read-only).

Except for "open now", every figure is about the disputes *filed* in the chosen period (a cohort), so
that the charts of one period describe the same disputes:

- open disputes by tier and age (now, whatever the period);
- SLA breach rate per tier: of the disputes that entered a tier, how many breached its SLA there
  (an escalation by `system:sla` out of tiers 1 and 2, an `sla_breached` event at tier 3);
- median time in each tier, over the disputes that have closed (the time from entering a tier to
  leaving it, summed when a dispute came back to it; the audit events' times);
- outcomes by channel (who got ownership) and the credit split totals, in deals and in money per
  currency (a deal's value times each side's share);
- disputes by conflict type and by region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Float, and_, case, cast, extract, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from domain.model import Status
from store.queries import OPEN_STATUSES
from store.tables import AUDIT_EVENTS, DISPUTES

D = DISPUTES.c
E = AUDIT_EVENTS.c
PERIODS: dict[str, tuple[str, int | None]] = {
    "7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30), "90d": ("Last 90 days", 90),
    "365d": ("Last 12 months", 365), "all": ("All time", None),
}
DEFAULT_PERIOD = "30d"
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under 1 day", timedelta(days=1)), ("1–3 days", timedelta(days=3)), ("3–7 days", timedelta(days=7)),
    ("1–4 weeks", timedelta(days=28)), ("over 4 weeks", None),
)
TIERS = (1, 2, 3)
ENTERING = ("filed", "escalated", "appealed")  # the events that put a dispute in a (new) tier


@dataclass
class Dashboard:
    period: str
    since: datetime | None
    now: datetime
    filed: int = 0
    still_open: int = 0
    resolved: int = 0
    withdrawn: int = 0
    open_age: dict[int, list[int]] = field(default_factory=dict)  # tier -> count per AGE_BUCKETS
    breach: dict[int, tuple[int, int]] = field(default_factory=dict)  # tier -> (breached, entered)
    median_s: dict[int, tuple[float | None, int]] = field(default_factory=dict)  # tier -> (median, disputes)
    owners: dict[str, int] = field(default_factory=dict)
    credit_deals: dict[str, float] = field(default_factory=dict)  # channel -> sum of shares (in deals)
    credit_value: list[tuple[str, float, float]] = field(default_factory=list)  # currency, direct, partner
    by_type: list[tuple[str, int]] = field(default_factory=list)
    by_region: list[tuple[str, int]] = field(default_factory=list)


def period_of(value: str | None) -> str:
    return value if value in PERIODS else DEFAULT_PERIOD


_CACHE: dict[tuple[str, str, int, int], Dashboard] = {}


def dashboard(session: Session, period: str, now: datetime | None = None) -> Dashboard:
    """The figures for `period`, computed at most once per minute and per new audit event: every
    change to a dispute adds an event, so the latest event id says whether anything changed."""
    now = now or datetime.now(UTC)
    latest = int(session.execute(select(func.coalesce(func.max(E.id), 0))).scalar_one())
    key = (str(session.get_bind().engine.url), period, latest, int(now.timestamp()) // 60)
    if (cached := _CACHE.get(key)) is not None:
        return cached
    board = compute(session, period, now)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = board
    return board


def clear_cache() -> None:
    _CACHE.clear()


def compute(session: Session, period: str, now: datetime) -> Dashboard:
    days = PERIODS[period][1]
    since = now - timedelta(days=days) if days is not None else None
    board = Dashboard(period=period, since=since, now=now)
    cohort: list[ColumnElement[bool]] = [D.created_at >= since] if since is not None else []
    dialect = session.get_bind().dialect.name

    _totals(session, board, cohort)
    _open_age(session, board, now)
    _breaches(session, board, cohort)
    _medians(session, board, cohort, dialect)
    _outcomes(session, board, cohort, dialect)
    board.by_type = [(t, int(n)) for t, n in session.execute(
        select(D.conflict_type, func.count()).where(*cohort).group_by(D.conflict_type)
        .order_by(func.count().desc(), D.conflict_type))]
    board.by_region = [(r, int(n)) for r, n in session.execute(
        select(D.region, func.count()).where(*cohort).group_by(D.region)
        .order_by(func.count().desc(), D.region).limit(12))]
    return board


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _totals(session: Session, board: Dashboard, cohort: list[ColumnElement[bool]]) -> None:
    row = session.execute(select(
        func.count(), _count_if(D.status.in_(OPEN_STATUSES)), _count_if(D.status == Status.resolved.value),
        _count_if(D.status == Status.withdrawn.value),
    ).select_from(DISPUTES).where(*cohort)).one()
    board.filed, board.still_open, board.resolved, board.withdrawn = (int(v) for v in row)


def _open_age(session: Session, board: Dashboard, now: datetime) -> None:
    whens = [(D.created_at >= now - span, literal(i)) for i, (_, span) in enumerate(AGE_BUCKETS) if span]
    bucket = case(*whens, else_=literal(len(AGE_BUCKETS) - 1))
    board.open_age = {tier: [0] * len(AGE_BUCKETS) for tier in TIERS}
    rows = session.execute(select(D.tier, bucket, func.count()).where(D.status.in_(OPEN_STATUSES))
                           .group_by(D.tier, bucket))
    for tier, index, count in rows:
        board.open_age.setdefault(int(tier), [0] * len(AGE_BUCKETS))[int(index)] += int(count)


def _events(cohort: list[ColumnElement[bool]]) -> Any:
    """The audit events of the cohort's disputes."""
    if not cohort:
        return AUDIT_EVENTS
    return AUDIT_EVENTS.join(DISPUTES, and_(D.id == E.dispute_id, *cohort))


def _breaches(session: Session, board: Dashboard, cohort: list[ColumnElement[bool]]) -> None:
    entered = E.action.in_(ENTERING)
    sla_escalation = and_(E.action == "escalated", E.actor == "system:sla")  # breached the tier below
    query = select(
        E.tier,
        func.count(func.distinct(case((entered, E.dispute_id)))),
        func.count(func.distinct(case((sla_escalation, E.dispute_id)))),
        func.count(func.distinct(case((E.action == "sla_breached", E.dispute_id)))),
    ).select_from(_events(cohort)).where(or_(entered, E.action == "sla_breached")).group_by(E.tier)
    counts = {tier: [0, 0] for tier in TIERS}  # tier -> [breached, entered]
    for tier, n_entered, n_escalated_by_sla, n_breached_here in session.execute(query):
        tier = int(tier)
        counts.setdefault(tier, [0, 0])[1] += int(n_entered)
        counts[tier][0] += int(n_breached_here)
        if tier > 1 and n_escalated_by_sla:
            counts.setdefault(tier - 1, [0, 0])[0] += int(n_escalated_by_sla)
    board.breach = {tier: (b, e) for tier, (b, e) in sorted(counts.items())}


def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return extract("epoch", later - earlier)


def _medians(session: Session, board: Dashboard, cohort: list[ColumnElement[bool]], dialect: str) -> None:
    """Tiers only ever go up in a dispute's trail (a rejected agreement returns to frontline, which is
    tier 1 still), so the time spent in tier t runs from the event that entered it (filed, escalated,
    appealed) to the one that entered the next tier, or to the dispute's closing when it closed in t."""
    closed = [D.status.in_((Status.resolved.value, Status.withdrawn.value)), *cohort]
    entries = (
        select(E.dispute_id, E.tier, func.min(E.at).label("entered"), func.max(D.closed_at).label("closed_at"))
        .select_from(AUDIT_EVENTS.join(DISPUTES, and_(D.id == E.dispute_id, *closed)))
        .where(E.action.in_(ENTERING)).group_by(E.dispute_id, E.tier).subquery("entries")
    )
    t = entries.c
    left = func.coalesce(func.lead(t.entered).over(partition_by=t.dispute_id, order_by=t.tier), t.closed_at)
    stays = select(t.tier, _seconds(dialect, left, t.entered).label("spent")).subquery("stays")
    ranked = select(
        stays.c.tier, stays.c.spent,
        func.row_number().over(partition_by=stays.c.tier, order_by=stays.c.spent).label("rn"),
        func.count().over(partition_by=stays.c.tier).label("n"),
    ).subquery("ranked")
    r = ranked.c
    middle = or_(r.rn == (r.n + 1) / 2, r.rn == (r.n + 2) / 2)  # integer division: one or two middle rows
    query = select(r.tier, func.avg(r.spent), func.max(r.n)).where(middle).group_by(r.tier)
    board.median_s = {tier: (None, 0) for tier in TIERS}
    for tier, median, n in session.execute(query):
        board.median_s[int(tier)] = (float(median), int(n))


def _json_number(dialect: str, column: Any, *path: str) -> Any:
    if dialect == "sqlite":
        return func.json_extract(column, "$." + ".".join(path))
    return cast(func.json_extract_path_text(cast(column, JSON), *path), Float)


def _outcomes(session: Session, board: Dashboard, cohort: list[ColumnElement[bool]], dialect: str) -> None:
    direct = _json_number(dialect, D.view_json, "decision", "outcome", "credit_split", "direct")
    partner = 100 - direct  # the split adds up to 100
    query = (select(D.outcome_owner, D.currency, func.count(), func.sum(direct), func.sum(partner),
                    func.sum(D.deal_value * direct / 100.0), func.sum(D.deal_value * partner / 100.0))
             .where(D.status == Status.resolved.value, D.outcome_owner.is_not(None), *cohort)
             .group_by(D.outcome_owner, D.currency))
    owners = {"direct": 0, "partner": 0, "co_sell": 0}
    deals = {"direct": 0.0, "partner": 0.0}
    value: dict[str, list[float]] = {}
    for owner, currency, count, d_pct, p_pct, d_value, p_value in session.execute(query):
        owners[owner] = owners.get(owner, 0) + int(count)
        deals["direct"] += float(d_pct or 0) / 100
        deals["partner"] += float(p_pct or 0) / 100
        totals = value.setdefault(currency, [0.0, 0.0])
        totals[0] += float(d_value or 0)
        totals[1] += float(p_value or 0)
    board.owners, board.credit_deals = owners, deals
    board.credit_value = sorted(((c, v[0], v[1]) for c, v in value.items()), key=lambda t: -(t[1] + t[2]))
