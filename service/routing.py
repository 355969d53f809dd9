"""Fair routing (DESIGN §8): who adjudicates a new dispute, and whether a `reassign` may go to someone.

The rules are `domain.eligibility`'s; this module reads what they need from the store (each person's
partner organisation and manager) and is the one place the surfaces reach them through: filing
(`service.disputes.prepare_filing`) and the `reassign` action (`Service.act`), whichever surface asked.
At filing, who is away now comes in as `away` (the e-mail of someone away → their stand-in's), read by the
caller; a `reassign` to someone away now is refused here (the dispute would go straight back to the stand-in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from domain import rules
from domain.charter import Charter
from domain.eligibility import Assignment, Case, Person, assign, conflicts
from domain.errors import ParleyError, WrongState
from domain.model import Action, Actor, DisputeView, Reassign, Status
from store import absences
from store.tables import User

NOBODY_AWAY: Mapping[str, str] = MappingProxyType({})
# Built once (every filing asks it): the three columns the conflict rules read, not whole users.
_PEOPLE = select(User.email, User.partner_org, User.manager_email).where(
    col(User.email).in_(bindparam("emails", expanding=True)))


def route(session: Session, charter: Charter, parties: Iterable[User], *, partner_org: str | None, region: str,
          segment: str | None, away: Mapping[str, str] = NOBODY_AWAY) -> Assignment:
    """The mediator and executives of a new dispute between `parties`: the first eligible on the charter's
    lists for the region, with the note that says who was passed over and why."""
    routing = charter.routing
    mediators, executives = routing.mediator_candidates(region, segment), routing.executive_candidates()
    case = Case(parties=tuple(_person(u) for u in parties), partner_org=partner_org)
    emails = {*mediators, *executives, *away.values()}
    return assign(mediators, executives, case, people(session, emails), away=away)


def check_reassign(session: Session, view: DisputeView, actor: Actor, action: Action, to: Actor,
                   now: datetime) -> None:
    """Raises WrongState (409) naming the conflict when `to` may not adjudicate the dispute in the tier it
    is in, or saying until when they are away and who stands in when they are away at `now` (the dispute
    would go straight back to the stand-in). Only for someone who may reassign at all: the others hear the
    workflow's own 403 or 422."""
    if not isinstance(action, Reassign):
        return
    try:
        rules.check(view, actor, action, to)
    except WrongState:
        pass  # (a 409 anyway; the conflict is the more useful one to name)
    except ParleyError:  # a 403 or a 422: the workflow's validator answers it, as for everyone
        return
    if (why := reassign_refusal(session, view, to.email, now)) is not None:
        raise WrongState(why, field="to")


def reassign_refusal(session: Session, view: DisputeView, email: str, now: datetime) -> str | None:
    """Why `view` may not be reassigned to `email` (the 409's words), or None: a conflict of interest in the
    tier it is in, or an absence at `now` (their stand-in named; the dispute would go straight back to them)."""
    if why := conflicts_of(session, view, email):
        return f"{email} cannot adjudicate this dispute: {'; '.join(why)}"
    if (away := absences.away_at(session, email, now)) is not None:
        row, stand_in = away
        return (f"{email} is away until {row.ends_on.isoformat()} (inclusive, {row.time_zone}); their stand-in is "
                f"{stand_in}")
    return None


def conflicts_of(session: Session, view: DisputeView, email: str) -> list[str]:
    """Why `email` may not adjudicate `view` in the tier it is in now, in plain words."""
    appeal = view.status == Status.executive
    ruled_by = view.decision.actor if appeal and view.decision and view.decision.kind == "ruling" else None
    known = people(session, [email, *(p.email for p in view.parties)])  # one query for them all
    person = known.get(email.strip().lower()) or Person(email=email)
    return conflicts(person, _case(view, known, ruled_by), adjudicating_appeal=appeal)


def case_of(session: Session, view: DisputeView, ruled_by: str | None = None) -> Case:
    """What the conflict rules read of a stored dispute: its parties (with their managers), its partner organisation."""
    return _case(view, people(session, [p.email for p in view.parties]), ruled_by)


def _case(view: DisputeView, known: Mapping[str, Person], ruled_by: str | None) -> Case:
    parties = tuple(known.get(p.email.lower()) or Person(email=p.email, partner_org=p.partner_org)
                    for p in view.parties)
    return Case(parties=parties, partner_org=view.partner_org, ruled_by=ruled_by)


def people(session: Session, emails: Iterable[str]) -> dict[str, Person]:
    """What the conflict rules need of each of `emails` who is a user, by lower-case e-mail."""
    wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
    if not wanted:
        return {}
    return {email: Person(email=email, partner_org=partner_org, manager_email=manager_email)
            for email, partner_org, manager_email in session.exec(_PEOPLE, params={"emails": wanted})}


def _person(user: User) -> Person:
    return Person(email=user.email, partner_org=user.partner_org, manager_email=user.manager_email)
