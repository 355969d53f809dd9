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
- disputes by conflict type and by region;
- deviation from the recommendation per mediator and per executive: of the rulings (mediators) and
  executive decisions that had a recommendation, how many did not follow it (the `ruled` and `decided`
  audit events, so that a ruling later appealed still counts for the mediator who made it);
- outcomes and credit per partner organisation (the organisation's share is the partner share);
- median time to resolution (filing to resolution) per conflict type.

- precedent consistency per mediator and per executive: of their rulings and decisions that consulted
  precedents (`consistent_with_precedents` in the event), how many departed from most of them (decisions
  recorded before precedents were consulted carry no flag and are not counted).

`figures_by_org`, `deviations` and `medians_by` take any condition on the disputes: the partner review
(`store.partner_review`) computes one organisation's figures with them, the same way.
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
class Deviation:
    """One adjudicator's rulings (a mediator) or decisions (an executive) that had a recommendation."""

    role: str  # "mediator" | "executive"
    actor: str
    decisions: int
    departed: int
    consulted: int = 0  # of their rulings or decisions, those that consulted precedents
    inconsistent: int = 0  # … and departed from most of them

    @property
    def rate(self) -> float:
        return self.departed / self.decisions if self.decisions else 0.0

    @property
    def consistency(self) -> float | None:
        """The share of the decisions that consulted precedents and went their way; None when none did."""
        return (self.consulted - self.inconsistent) / self.consulted if self.consulted else None


@dataclass
class PartnerFigures:
    """A partner organisation's disputes: how many, how they ended, the credit each side got."""

    org: str
    filed: int = 0
    still_open: int = 0
    resolved: int = 0
    withdrawn: int = 0
    owners: dict[str, int] = field(default_factory=lambda: {"direct": 0, "partner": 0, "co_sell": 0})
    credit_deals: dict[str, float] = field(default_factory=lambda: {"direct": 0.0, "partner": 0.0})
    credit_value: list[tuple[str, float, float]] = field(default_factory=list)  # currency, direct, partner


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
    deviations: list[Deviation] = field(default_factory=list)
    partners: list[PartnerFigures] = field(default_factory=list)
    resolution_by_type: dict[str, tuple[float | None, int]] = field(default_factory=dict)  # type -> (median, n)


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

    by_org = figures_by_org(session, cohort, dialect)  # the totals and the outcomes, per partner organisation
    _totals(board, list(by_org.values()))
    board.partners = sorted((f for org, f in by_org.items() if org is not None), key=lambda f: (-f.filed, f.org))
    _open_age(session, board, now)
    _breaches(session, board, cohort)
    _medians(session, board, cohort, dialect)
    board.by_type = [(t, int(n)) for t, n in session.execute(
        select(D.conflict_type, func.count()).where(*cohort).group_by(D.conflict_type)
        .order_by(func.count().desc(), D.conflict_type))]
    board.by_region = [(r, int(n)) for r, n in session.execute(
        select(D.region, func.count()).where(*cohort).group_by(D.region)
        .order_by(func.count().desc(), D.region).limit(12))]
    board.deviations = deviations(session, cohort, dialect)
    resolved = and_(D.status == Status.resolved.value, D.closed_at.is_not(None))
    board.resolution_by_type = medians_by(session, D.conflict_type, seconds_between(dialect, D.closed_at, D.created_at),
                                          cohort, resolved)
    return board


def count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _totals(board: Dashboard, groups: list[PartnerFigures]) -> None:
    """The figures of every dispute: those of each partner organisation and of the disputes without one."""
    board.filed = sum(g.filed for g in groups)
    board.still_open = sum(g.still_open for g in groups)
    board.resolved = sum(g.resolved for g in groups)
    board.withdrawn = sum(g.withdrawn for g in groups)
    board.owners = {"direct": 0, "partner": 0, "co_sell": 0}
    board.credit_deals = {"direct": 0.0, "partner": 0.0}
    value: dict[str, list[float]] = {}
    for g in groups:
        for owner, n in g.owners.items():
            board.owners[owner] = board.owners.get(owner, 0) + n
        for side in ("direct", "partner"):
            board.credit_deals[side] += g.credit_deals.get(side, 0.0)
        for currency, direct, partner in g.credit_value:
            totals = value.setdefault(currency, [0.0, 0.0])
            totals[0] += direct
            totals[1] += partner
    board.credit_value = _by_value(value)


def _by_value(value: dict[str, list[float]]) -> list[tuple[str, float, float]]:
    return sorted(((c, v[0], v[1]) for c, v in value.items()), key=lambda t: (-(t[1] + t[2]), t[0]))


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


def seconds_between(dialect: str, later: Any, earlier: Any) -> Any:
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
    stays = select(t.tier, seconds_between(dialect, left, t.entered).label("spent")).subquery("stays")
    ranked = select(
        stays.c.tier, stays.c.spent,
        func.row_number().over(partition_by=stays.c.tier, order_by=stays.c.spent).label("rn"),
        func.count().over(partition_by=stays.c.tier).label("n"),
    ).subquery("ranked")
    r = ranked.c
    middle = or_(r.rn == (r.n + 1) // 2, r.rn == (r.n + 2) // 2)  # integer division: one or two middle rows
    query = select(r.tier, func.avg(r.spent), func.max(r.n)).where(middle).group_by(r.tier)
    board.median_s = {tier: (None, 0) for tier in TIERS}
    for tier, median, n in session.execute(query):
        board.median_s[int(tier)] = (float(median), int(n))


def json_number(dialect: str, column: Any, *path: str) -> Any:
    if dialect == "sqlite":
        return func.json_extract(column, "$." + ".".join(path))
    return cast(func.json_extract_path_text(cast(column, JSON), *path), Float)


def json_flag(dialect: str, column: Any, *path: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Whether a JSON boolean at `path` is there (not absent, not null), and whether it is false."""
    if dialect == "sqlite":
        value = func.json_extract(column, "$." + ".".join(path))  # 1, 0 or NULL
        return value.is_not(None), value == 0
    text = func.json_extract_path_text(cast(column, JSON), *path)  # 'true', 'false' or NULL
    return text.is_not(None), text == "false"


# --- consistency, partners, resolution ------------------------------------------------------------

ADJUDICATING = {"ruled": "mediator", "decided": "executive"}  # the audit action -> who takes it


def deviations(session: Session, where: list[ColumnElement[bool]], dialect: str) -> list[Deviation]:
    """Per adjudicator, the rulings and executive decisions (of the disputes matching `where`) that had a
    recommendation, and how many did not follow it; the highest rate first."""
    had, departed = json_flag(dialect, E.payload, "follows_recommendation")  # the decision's own record
    consulted, inconsistent = json_flag(dialect, E.payload, "consistent_with_precedents")
    query = (select(E.action, E.actor, count_if(had), count_if(and_(had, departed)), count_if(consulted),
                    count_if(and_(consulted, inconsistent)))
             .select_from(_events(where)).where(E.action.in_(tuple(ADJUDICATING)), or_(had, consulted))
             .group_by(E.action, E.actor))
    found = [Deviation(role=ADJUDICATING[action], actor=actor, decisions=int(n), departed=int(d),
                       consulted=int(c), inconsistent=int(i))
             for action, actor, n, d, c, i in session.execute(query)]
    return sorted(found, key=lambda v: (v.role != "mediator", -v.rate, -v.decisions, v.actor))


def figures_by_org(session: Session, where: list[ColumnElement[bool]], dialect: str
                   ) -> dict[str | None, PartnerFigures]:
    """Per partner organisation (None: the disputes without one), of the disputes matching `where`: counts by
    status, who got ownership of the resolved ones and the credit each side got, in deals (one deal = 1) and
    in money per currency (a deal's value times each side's share). Two passes over the disputes, whatever
    the number of organisations: the dashboard's totals are these groups added up."""
    orgs: dict[str | None, PartnerFigures] = {}
    # Grouped by an expression, not the bare column: grouping by `partner_org` itself makes SQLite walk the
    # whole partner_org index (reading every row) instead of the period's rows through `created_at`.
    org_key = func.coalesce(D.partner_org, "")
    counts = select(org_key, func.count(), count_if(D.status.in_(OPEN_STATUSES)),
                    count_if(D.status == Status.resolved.value), count_if(D.status == Status.withdrawn.value),
                    ).where(*where).group_by(org_key)
    for org, filed, still_open, resolved, withdrawn in session.execute(counts):
        orgs[org or None] = PartnerFigures(org=org, filed=int(filed), still_open=int(still_open),
                                           resolved=int(resolved), withdrawn=int(withdrawn))
    # The decided credit split is read from each resolved dispute's view once, in a materialized CTE: used
    # directly in the sums, the JSON would be parsed once per sum (four times as slow on PostgreSQL). The CTE
    # reads the rows of `where` (the period's, through `created_at`); "resolved" is applied after it, so
    # that SQLite does not read every resolved dispute through the status index instead.
    resolved = and_(D.status == Status.resolved.value, D.outcome_owner.is_not(None))
    decided = select(
        D.partner_org.label("org"), D.outcome_owner.label("owner"), D.currency.label("currency"),
        D.deal_value.label("value"), case((resolved, 1), else_=0).label("resolved"),
        case((resolved, json_number(dialect, D.view_json, "decision", "outcome", "credit_split", "direct")),
             else_=None).label("direct"),
    ).where(*where).cte("decided")
    c = decided.prefix_with("MATERIALIZED").c  # PostgreSQL 12+, SQLite 3.35+
    split = c.direct.is_not(None)  # always, for a decided outcome; a row without one adds no credit
    outcomes = (select(c.org, c.owner, c.currency, func.count(), func.count(c.direct), func.sum(c.direct),
                       func.sum(case((split, c.value), else_=0.0)), func.sum(c.value * c.direct / 100.0))
                .where(c.resolved == 1).group_by(c.org, c.owner, c.currency))
    values: dict[str | None, dict[str, list[float]]] = {}
    for org, owner, currency, n, n_split, d_pct, value, d_value in session.execute(outcomes):
        figures = orgs.setdefault(org, PartnerFigures(org=org or ""))
        figures.owners[owner] = figures.owners.get(owner, 0) + int(n)
        d_share, d_value = float(d_pct or 0) / 100, float(d_value or 0)
        figures.credit_deals["direct"] += d_share
        figures.credit_deals["partner"] += int(n_split) - d_share  # each split adds up to 100
        totals = values.setdefault(org, {}).setdefault(currency, [0.0, 0.0])
        totals[0] += d_value
        totals[1] += float(value or 0) - d_value
    for org, per_currency in values.items():
        orgs[org].credit_value = _by_value(per_currency)
    return orgs


def medians_by(session: Session, key: Any, spent: Any, where: list[ColumnElement[bool]],
               among: ColumnElement[bool]) -> dict[Any, tuple[float | None, int]]:
    """The median of `spent` (seconds) per value of `key`, over the disputes matching `where` and `among`, with
    the number of disputes it is taken over (the middle row, or the mean of the two middle rows). The rows
    are read by `where` (the period's, through `created_at`) and `among` sorts them after, so that SQLite
    does not read every dispute `among` matches (say, every resolved one) through another index."""
    counted = case((among, 1), else_=0)
    ranked = select(
        key.label("k"), spent.label("spent"), counted.label("counted"),
        func.row_number().over(partition_by=(key, counted), order_by=spent).label("rn"),
        func.count().over(partition_by=(key, counted)).label("n"),
    ).select_from(DISPUTES).where(*where).subquery("ranked")
    r = ranked.c
    middle = or_(r.rn == (r.n + 1) // 2, r.rn == (r.n + 2) // 2)  # integer division: one or two middle rows
    query = (select(r.k, func.avg(r.spent), func.max(r.n)).where(r.counted == 1, middle)
             .group_by(r.k).order_by(r.k))
    return {k: (float(median) if median is not None else None, int(n)) for k, median, n in session.execute(query)}
