"""The disputes about registrations (DESIGN §6 "Linking"): the claims a dispute names, linked in the
transaction that records its filing, and the one open dispute a pair of registrations may have.

A filing about a pair claims the pair before its workflow starts: a once-key "pair:<a>:<b>" (ids in
order) in `once_keys`, whose fingerprint is the dispute's id. The key is unique, so of two filings
about one pair, in any processes, one gets it and the other learns the holder (409 `existing`).
A claim frees itself: once its dispute is resolved or withdrawn it no longer counts, and the next
filing about the pair takes the key over (a conditional delete, then the insert, in one transaction).
The links themselves (`dispute_registrations`) are written by `link_filed`, in the transaction of the
dispute's "filed" event, so that the dispute row and its links exist together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from domain.claims import Claim, side_by_side
from domain.errors import Unavailable
from domain.model import CLOSED, Event
from domain.registrations import LIVE
from store.db import insert_or_ignore, session
from store.registrations import disputes_linking, link_dispute
from store.tables import (
    DISPUTES,
    ONCE_KEYS,
    DisputeRegistration,
    RegistrationOverlap,
    RegistrationRow,
    utcnow,
)

SCOPE = "dispute_pair"
TTL = timedelta(days=3660)  # a claim lives as long as its dispute is open; this only bounds forgotten rows
_O = ONCE_KEYS.c
_CLOSED = tuple(s.value for s in CLOSED)


@dataclass(frozen=True)
class Holder:
    """The open dispute about a pair, as a second filing finds it."""

    dispute_id: str
    claimed_at: datetime
    status: str | None  # in the projection; None until its filing is recorded (or if it never started)


def pair_key(ids: Sequence[str]) -> str:
    a, b = sorted(ids)
    return f"pair:{a}:{b}"


def claim_pair(engine: Engine, ids: Sequence[str], dispute_id: str, now: datetime | None = None
               ) -> tuple[bool, Holder | None]:
    """Claim the pair for `dispute_id`: (newly claimed, None), or (False, None) when it already holds it,
    or (False, the holder) when another open dispute does."""
    key, now = pair_key(ids), now or utcnow()
    with session(engine, write=True) as s:
        for _ in range(3):  # a closed holder is replaced; a concurrent filing may replace it first
            linked = _open_linking(s, ids, dispute_id)  # links made before pairs were claimed
            if linked is not None:
                return False, Holder(linked[0], now, linked[1])
            if insert_or_ignore(s, ONCE_KEYS, {"key": key, "scope": SCOPE, "fingerprint": dispute_id,
                                               "created_at": now, "expires_at": now + TTL}, ["key"]):
                return True, None
            held = s.execute(select(_O.fingerprint, _O.created_at).where(_O.key == key)).first()
            if held is None:
                continue
            if held.fingerprint == dispute_id:  # a retry of the same filing (an Idempotency-Key)
                return False, None
            status = s.execute(select(DISPUTES.c.status).where(DISPUTES.c.id == held.fingerprint)).scalar()
            if status not in _CLOSED:
                return False, Holder(held.fingerprint, held.created_at, status)
            s.execute(delete(ONCE_KEYS).where(_O.key == key, _O.fingerprint == held.fingerprint))
    raise Unavailable(f"the claim on {key} kept changing hands; retry the filing")  # three takeovers in a row


def release_pair(engine: Engine, ids: Sequence[str], dispute_id: str) -> None:
    """Give the pair up if `dispute_id` holds it (its filing failed, or it never started)."""
    with session(engine, write=True) as s:
        s.execute(delete(ONCE_KEYS).where(_O.key == pair_key(ids), _O.fingerprint == dispute_id))


def _open_linking(s: Session, ids: Sequence[str], dispute_id: str) -> tuple[str, str] | None:
    others = [d for d in disputes_linking(s, ids[0], ids[1]) if d != dispute_id]
    if not others:
        return None
    open_ = s.execute(select(DISPUTES.c.id, DISPUTES.c.status).where(
        DISPUTES.c.id.in_(others), DISPUTES.c.status.not_in(_CLOSED)).order_by(DISPUTES.c.id)).first()
    return (str(open_.id), str(open_.status)) if open_ is not None else None


# --- the links -------------------------------------------------------------------------------------

def link_filed(s: Session, event: Event) -> None:
    """Link a dispute to the registrations its filing names (with the "filed" event; again: no change)."""
    if event.action != "filed":
        return
    filing = event.payload.get("filing")
    ids = filing.get("registration_ids") if isinstance(filing, dict) else None
    if ids:
        link_dispute(s, event.dispute_id, [str(i) for i in ids])


def linked_rows(s: Session, dispute_id: str) -> list[RegistrationRow]:
    query = (select(RegistrationRow).join(DisputeRegistration,
                                          col(DisputeRegistration.registration_id) == RegistrationRow.id)
             .where(col(DisputeRegistration.dispute_id) == dispute_id).order_by(col(RegistrationRow.id)))
    return list(s.scalars(query).all())


def claim_of(row: RegistrationRow) -> Claim:
    return Claim(id=row.id, ref=row.external_ref, channel=row.channel, partner_org=row.partner_org,
                 owner=row.owner_email, account=row.account, title=row.title, deal_value=row.deal_value,
                 currency=row.currency, status=row.status, submitted_at=row.submitted_at,
                 approved_at=row.approved_at, protected_until=row.protected_until)


def claims(s: Session, dispute_id: str, filed_at: datetime, now: datetime) -> list[Claim]:
    """Every registration the dispute names, side by side (for those involved in it: see `service.dispute_claims`)."""
    return side_by_side([claim_of(r) for r in linked_rows(s, dispute_id)], filed_at, now)


# --- what a rep may link ------------------------------------------------------------------------------

def overlaps_one_of(s: Session, registration_id: str, owner_email: str) -> bool:
    """Whether a registration was found to overlap one owned by `owner_email`."""
    theirs = select(col(RegistrationRow.id)).where(col(RegistrationRow.owner_email) == owner_email)
    query = select(col(RegistrationOverlap.id)).where(or_(
        and_(col(RegistrationOverlap.a_id) == registration_id, col(RegistrationOverlap.b_id).in_(theirs)),
        and_(col(RegistrationOverlap.b_id) == registration_id, col(RegistrationOverlap.a_id).in_(theirs))))
    return s.execute(query.limit(1)).first() is not None


def live_overlaps_of(s: Session, owner_email: str, limit: int = 100
                     ) -> list[tuple[RegistrationRow, RegistrationRow, int]]:
    """(theirs-or-mine a, b, score) for each recorded overlap touching a live registration of `owner_email`
    whose other side is live too, newest first."""
    a, b = aliased(RegistrationRow), aliased(RegistrationRow)
    live = sorted(LIVE)
    query = (select(a, b, col(RegistrationOverlap.score))
             .join(a, col(a.id) == RegistrationOverlap.a_id).join(b, col(b.id) == RegistrationOverlap.b_id)
             .where(col(a.status).in_(live), col(b.status).in_(live),
                    or_(col(a.owner_email) == owner_email, col(b.owner_email) == owner_email))
             .order_by(col(RegistrationOverlap.found_at).desc(), col(RegistrationOverlap.id).desc()).limit(limit))
    return [(ra, rb, int(score)) for ra, rb, score in s.execute(query).all()]
