"""Registrations as the surfaces show them (DESIGN §6's `GET /api/registrations/{id}`), the lists and
the overlaps queue, read from the store with the visibility rule of `store.registrations`.

A partner user never learns which other partner organisation claims the same deal: an overlap with
another organisation's registration shows it as a partner registration with no organisation.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, or_, select

from domain import registration_rules as rules
from domain.charter import Charter
from domain.errors import InvalidInput, NotFound, ParleyError
from domain.model import Role
from domain.registrations import LIVE
from render import slack_modals
from service.disputes import actor_for
from service.paging import Page, page_of
from service.registration_workflows import pinned_charter
from service.visibility import visible_to as disputes_visible_to
from store import overlaps, registrations
from store.audit import events_for
from store.overlaps import OverlapPair, Side
from store.tables import DisputeRow, RegistrationOverlap, RegistrationRow, User


def visible_row(session: Session, user: User, registration_id: str) -> RegistrationRow:
    row = registrations.get(session, registration_id)
    if row is None or not registrations.may_see(session, user, registration_id):
        raise NotFound(f"no registration {registration_id} that you can see")
    return row


def summary(row: RegistrationRow) -> dict[str, Any]:
    """A registration without its overlaps and disputes (the lists)."""
    return {
        "id": row.id, "ref": row.external_ref, "channel": row.channel, "partner_org": row.partner_org,
        "owner": row.owner_email, "account": row.account, "account_domain": row.account_domain, "title": row.title,
        "deal_value": row.deal_value, "currency": row.currency, "region": row.region, "segment": row.segment,
        "expected_close": row.expected_close.isoformat() if row.expected_close else None,
        "products": json.loads(row.products or "[]"), "status": row.status,
        "submitted_at": row.submitted_at, "approved_at": row.approved_at, "protected_until": row.protected_until,
        "decided_by": row.decided_by, "reason": row.reason, "won": row.won, "charter_version": row.charter_version,
        "last_seq": row.last_seq, "updated_at": row.updated_at,
    }


def read(session: Session, user: User, registration_id: str) -> dict[str, Any]:
    """The registration with the overlaps recorded for it and the disputes naming it."""
    row = visible_row(session, user, registration_id)
    found = [_overlap(pair, registration_id, user) for pair in overlaps.for_registration(session, registration_id)]
    dispute_ids = registrations.disputes_about(session, registration_id)
    statuses = dict(session.exec(select(DisputeRow.id, DisputeRow.status)
                                 .where(col(DisputeRow.id).in_(dispute_ids))).all()) if dispute_ids else {}
    return {**summary(row), "overlaps": found,
            "disputes": [{"id": d, "status": statuses.get(d)} for d in dispute_ids]}


def listing(session: Session, user: User, **filters: Any) -> list[dict[str, Any]]:
    return [summary(row) for row in registrations.listing(session, user, **filters)]


def listing_page(session: Session, user: User, *, limit: int, offset: int, **filters: Any) -> Page[dict[str, Any]]:
    """`GET /api/registrations`: a page of `listing`, with how many there are with these filters."""
    rows = [summary(row) for row in registrations.listing(session, user, limit=limit, offset=offset, **filters)]
    return page_of(rows, limit, offset, lambda: registrations.count(session, user, **filters))


def overlap_queue(session: Session, user: User, limit: int = 500) -> list[dict[str, Any]]:
    """Live overlapping pairs, newest first: everyone's for mediators, executives, auditors and admins;
    a rep's own (`store.overlaps.live_pairs` holds the rule)."""
    return [{
        "id": pair.id, "a": _side(pair.a, user), "b": _side(pair.b, user), "score": pair.score,
        "reason": pair.reason, "found_at": pair.found_at, "disputed": pair.disputed,
        "dispute_ids": list(pair.dispute_ids),
    } for pair in overlaps.live_pairs(session, user, limit=limit)]


def _overlap(pair: OverlapPair, registration_id: str, user: User) -> dict[str, Any]:
    other = pair.other(registration_id)
    return {"registration_id": other.registration_id, "channel": other.channel,
            "partner_org": _org_shown(other.partner_org, user), "account": other.account, "score": pair.score,
            "reason": pair.reason, "status": other.status, "disputed": pair.disputed}


def _side(side: Side, user: User) -> dict[str, Any]:
    return {"registration_id": side.registration_id, "channel": side.channel,
            "partner_org": _org_shown(side.partner_org, user), "account": side.account,
            "account_domain": side.account_domain, "title": side.title, "status": side.status,
            "owner": side.owner_email if _may_name_owner(side, user) else None,
            "submitted_at": side.submitted_at, "approved_at": side.approved_at,
            "protected_until": side.protected_until}


def _org_shown(org: str | None, user: User) -> str | None:
    if Role(user.role) == Role.rep and user.channel == "partner" and org != user.partner_org:
        return None
    return org


def _may_name_owner(side: Side, user: User) -> bool:
    if Role(user.role) != Role.rep:
        return True
    return side.owner_email == user.email or (user.channel == "partner" and side.partner_org == user.partner_org) \
        or (user.channel == "direct" and side.channel == "direct")


# --- what the web pages add: offers, the trail, marks and choices ------------------------------------

ACTIONS: tuple[str, ...] = ("approve", "reject", "extend", "withdraw", "close")
_SAMPLE_REASON = "sample"  # the rules look at who and when; a sample's content is never judged


def offers(session: Session, user: User, registration_id: str, current: Charter, now: datetime) -> list[str]:
    """The actions `user` may take on the registration now, asked of the rules the service and the
    workflow's validator apply (`domain.registration_rules.check`), so a form is offered exactly when
    it would be accepted. A sample extension that the rules find too short still counts: who and when
    allow it, the date is the user's to choose."""
    row = visible_row(session, user, registration_id)
    charter = pinned_charter(session, row, current)
    routed = rules.routed_mediators(charter.routing, row.region, row.segment)
    samples: dict[str, rules.Approve | rules.Reject | rules.Extend | rules.Withdraw | rules.Close] = {
        "approve": rules.Approve(), "reject": rules.Reject(reason=_SAMPLE_REASON), "extend": rules.Extend(until=now),
        "withdraw": rules.Withdraw(reason=_SAMPLE_REASON), "close": rules.Close(won=True),
    }
    open_now: list[str] = []
    for name in ACTIONS:
        try:
            rules.check(row, actor_for(user), samples[name], now, routed)
        except InvalidInput:
            open_now.append(name)
        except ParleyError:
            continue
        else:
            open_now.append(name)
    return open_now


def trail(session: Session, user: User, registration_id: str) -> list[dict[str, Any]]:
    """The registration's events from the audit chain, in order; a partner user never reads another
    partner organisation's name in them (an overlap records the other side's organisation)."""
    visible_row(session, user, registration_id)
    events = events_for(session, registration_id)
    for event in events:
        payload = event.get("payload")
        if event.get("action") == "overlap_found" and isinstance(payload, dict) and "partner_org" in payload:
            event["payload"] = {**payload, "partner_org": _org_shown(payload["partner_org"], user)}
    return events


def detail(session: Session, user: User, registration_id: str) -> dict[str, Any]:
    """`read`, with what a page needs besides: which overlapping registrations and disputes this user
    may open, and about which overlaps they may file a conflict."""
    shown = read(session, user, registration_id)
    other_ids = [o["registration_id"] for o in shown["overlaps"]]
    visible = visible_ids(session, user, [registration_id, *other_ids])
    open_disputes = _visible_disputes(session, user, [d["id"] for d in shown["disputes"]])
    mine = shown["owner"] == user.email and shown["status"] in LIVE
    shown["overlaps"] = [{**o, "visible": o["registration_id"] in visible,
                          "may_file": mine and o["status"] in LIVE
                          and may_file_about(user, shown["channel"], o["channel"], disputed=o["disputed"])}
                         for o in shown["overlaps"]]
    shown["disputes"] = [{**d, "visible": d["id"] in open_disputes} for d in shown["disputes"]]
    return shown


def visible_ids(session: Session, user: User, registration_ids: list[str]) -> set[str]:
    """Those of `registration_ids` that `user` may open."""
    if not registration_ids:
        return set()
    query = select(RegistrationRow.id).where(col(RegistrationRow.id).in_(sorted(set(registration_ids))),
                                             registrations.visible_to(user))
    return set(session.exec(query).all())


def _visible_disputes(session: Session, user: User, dispute_ids: list[str]) -> set[str]:
    if not dispute_ids:
        return set()
    query = select(DisputeRow.id).where(col(DisputeRow.id).in_(dispute_ids), disputes_visible_to(user))
    return set(session.exec(query).all())


def live_overlap_counts(session: Session, registration_ids: list[str]) -> dict[str, int]:
    """How many live registrations overlap each of these (live) ones: the lists' early-warning mark."""
    if not registration_ids:
        return {}
    a, b = aliased(RegistrationRow), aliased(RegistrationRow)
    wanted = sorted(set(registration_ids))
    query = (select(RegistrationOverlap.a_id, RegistrationOverlap.b_id)
             .join(a, col(a.id) == RegistrationOverlap.a_id).join(b, col(b.id) == RegistrationOverlap.b_id)
             .where(col(a.status).in_(sorted(LIVE)), col(b.status).in_(sorted(LIVE)),
                    or_(col(RegistrationOverlap.a_id).in_(wanted), col(RegistrationOverlap.b_id).in_(wanted))))
    counts: dict[str, int] = {}
    for a_id, b_id in session.exec(query).all():
        for registration_id in (a_id, b_id):
            if registration_id in wanted:
                counts[registration_id] = counts.get(registration_id, 0) + 1
    return counts


def overlap_queue_page(session: Session, user: User, limit: int = 500) -> list[dict[str, Any]]:
    """`overlap_queue` with, for each side, whether this user may open it and whether it came first, and
    for a pair, the linking disputes the user may open and which of its registrations is the user's when
    they may file a conflict about it (`own`)."""
    pairs = overlap_queue(session, user, limit)
    visible = visible_ids(session, user, [p[s]["registration_id"] for p in pairs for s in ("a", "b")])
    disputes = _visible_disputes(session, user, sorted({d for p in pairs for d in p["dispute_ids"]}))
    for pair in pairs:
        pair["visible_disputes"] = [d for d in pair["dispute_ids"] if d in disputes]
        a, b = pair["a"], pair["b"]
        first = a if (a["submitted_at"], a["registration_id"]) <= (b["submitted_at"], b["registration_id"]) else b
        for side in (a, b):
            side["visible"] = side["registration_id"] in visible
            side["first"] = side is first
        own = a if a["owner"] == user.email else b if b["owner"] == user.email else None
        may_file = own is not None and may_file_about(user, own["channel"], a["channel"] if own is b else b["channel"],
                                                      disputed=pair["disputed"])
        pair["own"] = own["registration_id"] if own is not None and may_file else None
    return pairs


def may_file_about(user: User, own_channel: str, other_channel: str, *, disputed: bool) -> bool:
    """Whether a rep may file a conflict about an overlap of their live registration: one with the other
    channel (a dispute is between a direct rep and a partner rep) that no dispute links yet."""
    return Role(user.role) == Role.rep and own_channel != other_channel and not disputed


def may_register(user: User) -> bool:
    """Reps register their own deals; an admin registers on a rep's behalf (`registration_rows.owner_of`)."""
    role = Role(user.role)
    return role == Role.admin or (role == Role.rep and user.channel in ("direct", "partner"))


def choices(charter: Charter) -> tuple[list[str], list[str]]:
    """The regions and the segments a register form offers: those the charter routes first, then the
    usual ones (the same as Slack's forms)."""
    return slack_modals.regions(charter), slack_modals.segments(charter)


def owners(session: Session) -> list[User]:
    """The reps an admin may register a deal for (`owner_email`): by channel, organisation and name."""
    query = select(User).where(col(User.role) == Role.rep.value, col(User.channel).in_(["direct", "partner"]))
    return list(session.exec(query.order_by(col(User.channel), col(User.partner_org), col(User.name))).all())


def names(session: Session, emails: set[str]) -> dict[str, str]:
    """The names of those of `emails` who are users."""
    if not emails:
        return {}
    return dict(session.exec(select(User.email, User.name).where(col(User.email).in_(sorted(emails)))).all())


def end_of_day(day: date, charter: Charter) -> datetime:
    """An extension to a day runs to the end of that day in the charter's time zone."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=charter.business_calendar().timezone)
