"""The digest (DESIGN §7): what each person reads once a week, built from store rows by one pure function.

- A **mediator** gets the open disputes routed to them below the executive tier, nearest deadline first
  (those past it on top, paused clocks last), the deadlines missed on their disputes in the past week (frontline and
  mediation) and the overlapping registrations of their regions that no dispute is about yet.
- An **executive** gets the open disputes at the executive tier they decide (or back up), and the
  executive deadlines missed in the past week.
- An **admin** gets the governance summary: breach rate and median time per tier, the decisions that
  departed from the recommendation, and the approved registrations whose protection ends soon.
- Whoever's channel a resolved dispute granted **price protection** that ends within four weeks (a
  party of the owning channel; both parties of a co-sell) gets it in theirs, whatever their role.

`build_digest` takes rows that may concern others too and keeps the person's own: the store selects
broadly, the rules of who reads what live here. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

BREACH_WINDOW = timedelta(days=7)  # the breaches of the past week
PRICE_PROTECTION_AHEAD = timedelta(days=28)  # price protection ending within four weeks
REGISTRATIONS_AHEAD = timedelta(days=14)  # registrations whose protection ends within two weeks
GOVERNANCE_PERIOD = "30d"  # the dashboard period (store.stats) of the admins' figures
ROLES_WITH_A_DIGEST = ("mediator", "executive", "admin")  # everyone else only for price protection


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    role: str  # domain.model.Role


@dataclass(frozen=True)
class OpenDispute:
    id: str
    title: str
    status: str
    tier: int
    account: str
    deal_value: float
    currency: str
    due_at: datetime | None
    paused: bool
    mediator: str
    executive: str
    backup_executive: str | None = None
    waiting_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Breach:
    """A deadline missed: the tier whose SLA ran out, when, on which dispute."""

    dispute_id: str
    title: str
    tier: int
    at: datetime
    mediator: str
    executive: str
    backup_executive: str | None = None


@dataclass(frozen=True)
class OverlapAwaiting:
    """Two live registrations that claim one account, with no dispute about them yet."""

    overlap_id: int
    first: str  # "Globex Corp (partner Acme, REG-1A2B3C4D)"
    second: str
    score: int
    found_at: datetime
    mediators: tuple[str, ...]  # routed for either registration's region


@dataclass(frozen=True)
class PriceProtection:
    dispute_id: str
    title: str
    account: str
    until: date
    owner: str  # "direct" | "partner" | "co_sell"
    owners: tuple[str, ...]  # the e-mails of the parties of the owning channel


@dataclass(frozen=True)
class Deviation:
    """A decision whose outcome did not follow the charter's recommendation."""

    dispute_id: str
    title: str
    kind: str  # "ruling" | "decision" | "agreement"
    actor: str
    owner: str
    recommended: str
    at: datetime


@dataclass(frozen=True)
class ExpiringRegistration:
    id: str
    account: str
    owner_email: str
    partner_org: str | None
    protected_until: datetime


@dataclass(frozen=True)
class TierFigures:
    tier: int
    entered: int
    breached: int
    median_s: float | None  # time spent in the tier, over the disputes that closed
    closed: int

    @property
    def breach_rate(self) -> float | None:
        return self.breached / self.entered if self.entered else None


@dataclass(frozen=True)
class GovernanceRows:
    since: datetime
    tiers: tuple[TierFigures, ...]
    decisions: int  # decided in the period with a recommendation to follow or not
    deviations: tuple[Deviation, ...]
    expiring: tuple[ExpiringRegistration, ...]


@dataclass(frozen=True)
class DigestRows:
    open_disputes: tuple[OpenDispute, ...] = ()
    breaches: tuple[Breach, ...] = ()
    overlaps: tuple[OverlapAwaiting, ...] = ()
    price_protections: tuple[PriceProtection, ...] = ()
    governance: GovernanceRows | None = None


@dataclass(frozen=True)
class Governance:
    since: datetime
    tiers: tuple[TierFigures, ...]
    decisions: int
    deviations: tuple[Deviation, ...]  # newest first
    expiring: tuple[ExpiringRegistration, ...]  # soonest first

    @property
    def deviation_rate(self) -> float | None:
        return len(self.deviations) / self.decisions if self.decisions else None


@dataclass(frozen=True)
class Digest:
    recipient: Recipient
    at: datetime
    open_disputes: tuple[OpenDispute, ...] = ()
    breaches: tuple[Breach, ...] = ()
    overlaps: tuple[OverlapAwaiting, ...] = ()
    price_protections: tuple[PriceProtection, ...] = ()
    governance: Governance | None = None
    sections: tuple[str, ...] = field(default=())  # the sections this reader gets, even when empty

    def past_deadline(self, dispute: OpenDispute) -> bool:
        return not dispute.paused and dispute.due_at is not None and dispute.due_at <= self.at

    @property
    def worth_sending(self) -> bool:
        """A mediator, executive or admin always hears (an empty week is news too); others only when
        something concerns them."""
        return self.recipient.role in ROLES_WITH_A_DIGEST or bool(self.price_protections)


def build_digest(recipient: Recipient, rows: DigestRows, at: datetime) -> Digest:
    """What `recipient` reads in the digest as of `at`, from rows that may concern others too."""
    me, role = recipient.email.lower(), recipient.role
    sections: list[str] = []
    disputes: tuple[OpenDispute, ...] = ()
    breaches: tuple[Breach, ...] = ()
    overlaps: tuple[OverlapAwaiting, ...] = ()
    if role == "mediator":
        sections += ["open_disputes", "breaches", "overlaps"]
        disputes = tuple(d for d in rows.open_disputes if d.mediator.lower() == me and d.status != "executive")
        breaches = tuple(b for b in rows.breaches if b.tier in (1, 2) and b.mediator.lower() == me)
        overlaps = tuple(sorted((o for o in rows.overlaps if me in {m.lower() for m in o.mediators}),
                                key=lambda o: (o.found_at, o.overlap_id), reverse=True))
    elif role == "executive":
        sections += ["open_disputes", "breaches"]
        disputes = tuple(d for d in rows.open_disputes if d.status == "executive" and _decides(me, d))
        breaches = tuple(b for b in rows.breaches if b.tier == 3 and _decides(me, b))
    since = at - BREACH_WINDOW
    breaches = tuple(sorted((b for b in breaches if since < b.at <= at), key=lambda b: (b.at, b.dispute_id),
                            reverse=True))
    today = at.date()
    protections = tuple(sorted(
        (p for p in rows.price_protections
         if me in {o.lower() for o in p.owners} and today <= p.until <= today + PRICE_PROTECTION_AHEAD),
        key=lambda p: (p.until, p.dispute_id)))
    if protections:
        sections.append("price_protections")
    governance = None
    if role == "admin" and rows.governance is not None:
        sections.append("governance")
        governance = _governance(rows.governance, at)
    return Digest(recipient=recipient, at=at, open_disputes=tuple(sorted(disputes, key=nearest_deadline_first)),
                  breaches=breaches, overlaps=overlaps, price_protections=protections, governance=governance,
                  sections=tuple(sections))


def nearest_deadline_first(dispute: OpenDispute) -> tuple[int, datetime | None, str]:
    """Running clocks by deadline (those past it first, the most overdue on top); paused clocks and
    disputes without a deadline after them, by id."""
    if dispute.paused or dispute.due_at is None:
        return (1, None, dispute.id)
    return (0, dispute.due_at, dispute.id)


def _decides(me: str, item: OpenDispute | Breach) -> bool:
    return me in {item.executive.lower(), (item.backup_executive or "").lower()}


def _governance(rows: GovernanceRows, at: datetime) -> Governance:
    expiring = tuple(sorted((r for r in rows.expiring if at < r.protected_until <= at + REGISTRATIONS_AHEAD),
                            key=lambda r: (r.protected_until, r.id)))
    deviations = tuple(sorted(rows.deviations, key=lambda d: (d.at, d.dispute_id), reverse=True))
    return Governance(since=rows.since, tiers=tuple(sorted(rows.tiers, key=lambda t: t.tier)),
                      decisions=rows.decisions, deviations=deviations, expiring=expiring)
