"""The registrations a dispute is about (DESIGN §6 "Linking"), for every surface: which two a rep may
name when filing, the one open dispute a pair may have, and both claims side by side.

- **Naming** (`check_pair`): exactly two registrations, each one the filer can see (or one found to
  overlap a registration of theirs), one of them the filer's own and the other the counterparty's,
  of different channels or different partner organisations. Every refusal is a 422 naming
  `registration_ids`.
- **One open dispute per pair** (`reserve`): the pair is claimed in the store before the workflow
  starts (`store.dispute_links`), so that a second filing, in any process, answers 409 with
  `existing`. A claim whose dispute never started (its process died before Temporal heard of it) is
  taken over once it is `STALE_AFTER` old.
- **Reading** (`for_viewer`): a party to the dispute, and anyone who is not a rep, sees both claims;
  another rep who may see the dispute sees the claims they may see as registrations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from domain.charter import Charter
from domain.claims import Claim, FilingPair, side_by_side
from domain.errors import InvalidInput, WrongState
from domain.model import ConflictType, DisputeView, Filing, Role
from service.registration_workflows import has_workflow
from store import dispute_links, registrations
from store.db import session
from store.tables import RegistrationRow, User

FIELD = "registration_ids"
STALE_AFTER = timedelta(minutes=5)


# --- naming the pair -------------------------------------------------------------------------------

def check_pair(s: Session, filer: User, counterparty: User, ids: Sequence[str]
               ) -> tuple[RegistrationRow, RegistrationRow]:
    """The filer's registration and the counterparty's, or InvalidInput naming `registration_ids`."""
    rows = [_seen_by_filer(s, filer, registration_id) for registration_id in ids]
    mine = next((r for r in rows if r.owner_email == filer.email), None)
    if mine is None:
        raise InvalidInput(f"{FIELD}: one of the two must be your own registration; {ids[0]} and {ids[1]} are "
                           "not yours", FIELD)
    theirs = rows[1] if mine is rows[0] else rows[0]
    if theirs.channel == mine.channel and (mine.channel == "direct" or theirs.partner_org == mine.partner_org):
        side = "direct sales" if mine.channel == "direct" else mine.partner_org or "the same partner"
        raise InvalidInput(f"{FIELD}: {mine.id} and {theirs.id} are both claims of {side}; a conflict is between "
                           "different channels or different partner organisations", FIELD)
    if theirs.owner_email != counterparty.email:
        raise InvalidInput(f"{FIELD}: {theirs.id} is not a registration of the counterparty {counterparty.email}; "
                           "name theirs, or file against its owner", FIELD)
    return mine, theirs


def _seen_by_filer(s: Session, filer: User, registration_id: str) -> RegistrationRow:
    row = registrations.get(s, registration_id)
    if row is None or not (registrations.may_see(s, filer, registration_id)
                           or dispute_links.overlaps_one_of(s, registration_id, filer.email)):
        raise InvalidInput(f"{FIELD}: no registration {registration_id} that you can see", FIELD)
    return row


def pair_refs(mine: RegistrationRow, theirs: RegistrationRow) -> dict[str, str]:
    """The references a filing about a partner registration and a direct opportunity carries."""
    partner, direct = (mine, theirs) if mine.channel == "partner" else (theirs, mine)
    if (partner.channel, direct.channel) != ("partner", "direct"):
        return {}
    return {"registration_ref": partner.id, "opportunity_ref": direct.external_ref or direct.id}


def with_refs(filing: Filing, mine: RegistrationRow, theirs: RegistrationRow) -> Filing:
    """The filing with the pair's references where it has none of its own."""
    refs = {k: v for k, v in pair_refs(mine, theirs).items() if not getattr(filing, k)}
    return filing.model_copy(update=refs) if refs else filing


# --- one open dispute per pair ---------------------------------------------------------------------

async def reserve(engine: Engine, temporal: Callable[[], Awaitable[Client]], ids: Sequence[str], dispute_id: str,
                  *, within: float) -> bool:
    """Claim the pair for the dispute about to be filed; True when newly claimed (give it up with
    `release` if the filing is refused). WrongState with `existing` while another dispute about the pair is open."""
    for attempt in range(2):
        claimed, holder = await asyncio.to_thread(dispute_links.claim_pair, engine, ids, dispute_id)
        if holder is None:
            return claimed
        stale = holder.status is None and datetime.now(UTC) - holder.claimed_at > STALE_AFTER
        if attempt or not stale or await has_workflow(await temporal(), holder.dispute_id, within=within):
            raise already_disputed(ids, holder.dispute_id)
        await asyncio.to_thread(dispute_links.release_pair, engine, ids, holder.dispute_id)  # it never started
    raise AssertionError("unreachable: the second attempt claims the pair or raises")


async def release(engine: Engine, ids: Sequence[str], dispute_id: str) -> None:
    await asyncio.to_thread(dispute_links.release_pair, engine, ids, dispute_id)


def already_disputed(ids: Sequence[str], existing: str) -> WrongState:
    return WrongState(f"{ids[0]} and {ids[1]} are already the subject of an open dispute, {existing}; add to "
                      "that one instead", extra={"existing": existing})


# --- reading ---------------------------------------------------------------------------------------

def for_viewer(s: Session, user: User, view: DisputeView, now: datetime) -> list[Claim]:
    """The claims the dispute is about, as `user` (who may see the dispute) may see them."""
    found = dispute_links.claims(s, view.id, view.created_at, now)
    if Role(user.role) != Role.rep or view.party(user.email) is not None:
        return found  # a party sees both claims: they are what the dispute is about
    return [c for c in found if registrations.may_see(s, user, c.id)]


def for_user(engine: Engine, user: User, view: DisputeView) -> list[Claim]:
    """`for_viewer` in a session of its own (Slack's `/conflict status`)."""
    with session(engine) as s:
        return for_viewer(s, user, view, datetime.now(UTC))


def for_those_involved(engine: Engine, view: DisputeView, now: datetime | None = None) -> list[Claim]:
    """Both claims, for the people a dispute involves (its parties, mediator and executives)."""
    with session(engine) as s:
        return dispute_links.claims(s, view.id, view.created_at, now or datetime.now(UTC))


def filing_pairs(s: Session, user: User, now: datetime | None = None) -> list[FilingPair]:
    """The pairs `user` may file about: each live registration of theirs with a live one of the other
    channel found to overlap it, newest overlap first."""
    if Role(user.role) != Role.rep:
        return []
    now = now or datetime.now(UTC)
    pairs: list[FilingPair] = []
    for a, b, score in dispute_links.live_overlaps_of(s, user.email):
        mine, theirs = (a, b) if a.owner_email == user.email else (b, a)
        if theirs.channel != mine.channel and theirs.owner_email != user.email:
            both = {c.id: c for c in side_by_side([dispute_links.claim_of(mine), dispute_links.claim_of(theirs)],
                                                  now, now)}
            pairs.append(FilingPair(mine=both[mine.id], theirs=both[theirs.id], score=score))
    return pairs


def pairs_for(engine: Engine, user: User) -> list[FilingPair]:
    """`filing_pairs` in a session of its own (the Slack filing modal)."""
    with session(engine) as s:
        return filing_pairs(s, user)


def prefill(s: Session, user: User, ids: Sequence[str], charter: Charter) -> dict[str, str]:
    """The filing form's values that a chosen pair suggests (the deal from the filer's registration,
    the counterparty from the other); InvalidInput naming `registration_ids` for a pair not on offer."""
    wanted = set(ids)
    if not any(set(p.ids) == wanted for p in filing_pairs(s, user)):
        raise InvalidInput(f"{FIELD}: choose one of your registrations and one overlapping it", FIELD)
    mine, theirs = (registrations.require(s, i) for i in ids)
    if mine.owner_email != user.email:
        mine, theirs = theirs, mine
    values = {
        FIELD: f"{mine.id},{theirs.id}", "title": f"Registration overlap: {mine.account}"[:200],
        "account": mine.account, "deal_value": f"{mine.deal_value:f}".rstrip("0").rstrip("."),
        "currency": mine.currency, "region": mine.region, "segment": mine.segment or "",
        "counterparty_email": theirs.owner_email,
    }
    if ConflictType.registration_overlap in charter.conflict_types:
        values["conflict_type"] = ConflictType.registration_overlap.value
    return values | pair_refs(mine, theirs)
