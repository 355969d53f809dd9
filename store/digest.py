"""The rows a digest is built from (domain.digest): the projection, the audit trail, the registrations and
the users, read as of a moment. Read-only; the rules of who reads what are `domain.digest.build_digest`'s,
so these select broadly (by person where an index helps) and leave the final choice to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import JSON, and_, cast, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from domain.charter import Routing
from domain.digest import (
    GOVERNANCE_PERIOD,
    PRICE_PROTECTION_AHEAD,
    REGISTRATIONS_AHEAD,
    ROLES_WITH_A_DIGEST,
    Breach,
    Deviation,
    ExpiringRegistration,
    GovernanceRows,
    OpenDispute,
    OverlapAwaiting,
    PriceProtection,
    Recipient,
    TierFigures,
)
from domain.model import DisputeView, Status
from domain.registration_rules import routed_mediators
from domain.registrations import LIVE
from store import stats
from store.queries import OPEN_STATUSES
from store.tables import (
    AUDIT_EVENTS,
    DISPUTE_REGISTRATIONS,
    DISPUTE_WAITING,
    DISPUTES,
    REGISTRATIONS,
    USERS,
    RegistrationOverlap,
    RegistrationRow,
)

D, E, U, W, R = DISPUTES.c, AUDIT_EVENTS.c, USERS.c, DISPUTE_WAITING.c, REGISTRATIONS.c
OVERLAPS_MAX = 500  # the newest live overlaps looked at


def people_with_a_digest(session: Session) -> list[Recipient]:
    """Every mediator, executive and admin, by e-mail."""
    rows = session.execute(select(U.email, U.name, U.role).where(U.role.in_(ROLES_WITH_A_DIGEST)).order_by(U.email))
    return [Recipient(email, name, role) for email, name, role in rows]


def person(session: Session, email: str) -> Recipient | None:
    row = session.execute(select(U.email, U.name, U.role).where(func.lower(U.email) == email.strip().lower())).first()
    return None if row is None else Recipient(row.email, row.name, row.role)


def people(session: Session, emails: Sequence[str]) -> list[Recipient]:
    """The users among `emails` (any case)."""
    wanted = sorted({e.lower() for e in emails})
    if not wanted:
        return []
    rows = session.execute(select(U.email, U.name, U.role).where(func.lower(U.email).in_(wanted)).order_by(U.email))
    return [Recipient(email, name, role) for email, name, role in rows]


# --- disputes ----------------------------------------------------------------------------------------

def open_disputes(session: Session, recipient: Recipient) -> list[OpenDispute]:
    """The open disputes routed to a mediator, or at the executive tier for an executive."""
    me = recipient.email.lower()
    mine: ColumnElement[bool]
    if recipient.role == "mediator":
        mine = func.lower(D.mediator) == me
    elif recipient.role == "executive":
        mine = and_(D.status == Status.executive.value,
                    or_(func.lower(D.executive) == me, func.lower(D.backup_executive) == me))
    else:
        return []
    rows = session.execute(select(
        D.id, D.title, D.status, D.tier, D.account, D.deal_value, D.currency, D.due_at, D.paused, D.mediator,
        D.executive, D.backup_executive).where(D.status.in_(OPEN_STATUSES), mine)).all()
    waiting: dict[str, list[str]] = {}
    if rows:
        for dispute_id, email in session.execute(select(W.dispute_id, W.email).where(
                W.dispute_id.in_([r.id for r in rows])).order_by(W.dispute_id, W.email)):
            waiting.setdefault(dispute_id, []).append(email)
    return [OpenDispute(**r._mapping, waiting_on=tuple(waiting.get(r.id, ()))) for r in rows]


def breaches(session: Session, recipient: Recipient, since: datetime, until: datetime) -> list[Breach]:
    """Deadlines missed in (since, until] on the disputes the person mediates or decides: an escalation
    by `system:sla` missed the tier below it, an `sla_breached` event the executive tier."""
    me = recipient.email.lower()
    by_sla = or_(and_(E.action == "escalated", E.actor == "system:sla"), E.action == "sla_breached")
    theirs = or_(func.lower(D.mediator) == me, func.lower(D.executive) == me, func.lower(D.backup_executive) == me)
    rows = session.execute(
        select(E.dispute_id, D.title, E.tier, E.action, E.at, D.mediator, D.executive, D.backup_executive)
        .select_from(AUDIT_EVENTS.join(DISPUTES, D.id == E.dispute_id))
        .where(by_sla, theirs, E.at > since, E.at <= until).order_by(E.at, E.dispute_id))
    return [Breach(dispute_id=r.dispute_id, title=r.title, tier=r.tier if r.action == "sla_breached" else r.tier - 1,
                   at=r.at, mediator=r.mediator, executive=r.executive, backup_executive=r.backup_executive)
            for r in rows]


def price_protections(session: Session, today: date, party: str | None = None) -> list[PriceProtection]:
    """Resolved disputes whose outcome's price protection ends from `today` to four weeks on (those of
    disputes `party` is a party to, when given)."""
    until = _json_text(session, D.view_json, "decision", "outcome", "price_protection_until")
    where = [D.status == Status.resolved.value, until >= today.isoformat(),
             until <= (today + PRICE_PROTECTION_AHEAD).isoformat()]
    if party is not None:
        where.append(or_(func.lower(D.filed_by) == party.lower(), func.lower(D.counterparty) == party.lower()))
    out: list[PriceProtection] = []
    for (view_json,) in session.execute(select(D.view_json).where(*where).order_by(D.id)):
        view = DisputeView.model_validate_json(view_json)
        outcome = view.decision.outcome if view.decision else None
        if outcome is None or outcome.price_protection_until is None:
            continue
        owners = tuple(p.email for p in view.parties if outcome.owner in ("co_sell", p.channel))
        out.append(PriceProtection(dispute_id=view.id, title=view.title, account=view.account,
                                   until=outcome.price_protection_until, owner=outcome.owner, owners=owners))
    return out


def _json_text(session: Session, column: ColumnElement[str], *path: str) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "sqlite":
        return func.json_extract(column, "$." + ".".join(path))
    return func.json_extract_path_text(cast(column, JSON), *path)


# --- registrations -------------------------------------------------------------------------------------

def overlaps_awaiting(session: Session, routing: Routing, at: datetime) -> list[OverlapAwaiting]:
    """Live overlapping registrations found by `at` that no dispute is about, newest first, with the
    mediators routed for each side's region (the charter in force's routing)."""
    a, b = aliased(RegistrationRow), aliased(RegistrationRow)
    live = sorted(LIVE)
    rows = session.execute(
        select(RegistrationOverlap, a, b)
        .join(a, col(a.id) == RegistrationOverlap.a_id).join(b, col(b.id) == RegistrationOverlap.b_id)
        .where(col(a.status).in_(live), col(b.status).in_(live), col(RegistrationOverlap.found_at) <= at)
        .order_by(col(RegistrationOverlap.found_at).desc(), col(RegistrationOverlap.id).desc())
        .limit(OVERLAPS_MAX)).all()
    ids = sorted({r.id for _, ra, rb in rows for r in (ra, rb)})
    disputes: dict[str, set[str]] = {}
    if ids:
        links = DISPUTE_REGISTRATIONS.c
        for dispute_id, registration_id in session.execute(
                select(links.dispute_id, links.registration_id).where(links.registration_id.in_(ids))):
            disputes.setdefault(registration_id, set()).add(dispute_id)
    out = []
    for overlap, ra, rb in rows:
        if disputes.get(ra.id, set()) & disputes.get(rb.id, set()):
            continue  # a dispute is about them already
        mediators = tuple(dict.fromkeys(routed_mediators(routing, r.region, r.segment)[0] for r in (ra, rb)))
        out.append(OverlapAwaiting(overlap_id=overlap.id or 0, first=_claim(ra), second=_claim(rb),
                                   score=overlap.score, found_at=overlap.found_at, mediators=mediators))
    return out


def _claim(row: RegistrationRow) -> str:
    who = f"partner {row.partner_org}" if row.channel == "partner" and row.partner_org else row.channel
    return f"{row.account} ({who}, {row.id}, {row.status})"


def expiring_registrations(session: Session, at: datetime) -> list[ExpiringRegistration]:
    """Approved registrations whose protection ends within two weeks of `at`."""
    rows = session.execute(select(R.id, R.account, R.owner_email, R.partner_org, R.protected_until).where(
        R.status == "approved", R.protected_until > at, R.protected_until <= at + REGISTRATIONS_AHEAD)
        .order_by(R.protected_until, R.id))
    return [ExpiringRegistration(**r._mapping) for r in rows]


# --- governance ----------------------------------------------------------------------------------------

def governance(session: Session, at: datetime) -> GovernanceRows:
    """The admins' figures: the dashboard's breach rates and medians per tier (disputes filed in the
    period), the decisions of the period and those that departed from the recommendation."""
    board = stats.compute(session, GOVERNANCE_PERIOD, at)
    since = board.since or at - timedelta(days=30)
    tiers = tuple(TierFigures(tier=t, entered=board.breach.get(t, (0, 0))[1], breached=board.breach.get(t, (0, 0))[0],
                              median_s=board.median_s.get(t, (None, 0))[0], closed=board.median_s.get(t, (None, 0))[1])
                  for t in stats.TIERS)
    decisions, deviations = 0, []
    closed = session.execute(select(D.view_json).where(
        D.status == Status.resolved.value, D.closed_at > since, D.closed_at <= at).order_by(D.id))
    for (view_json,) in closed:
        view = DisputeView.model_validate_json(view_json)
        decision = view.decision
        if decision is None or decision.recommendation is None or decision.follows_recommendation is None:
            continue
        decisions += 1
        if not decision.follows_recommendation:
            deviations.append(Deviation(dispute_id=view.id, title=view.title, kind=decision.kind, actor=decision.actor,
                                        owner=decision.outcome.owner, recommended=decision.recommendation.owner,
                                        at=decision.at))
    return GovernanceRows(since=since, tiers=tiers, decisions=decisions, deviations=tuple(deviations),
                          expiring=tuple(expiring_registrations(session, at)))
