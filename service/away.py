"""Away and delegation (DESIGN §8), for every surface: set, clear and show an absence, and tell the disputes
concerned.

An absence is a range of dates, `from` to `until`, both inclusive, in the charter calendar's time zone, with a
delegate who takes the person's work meanwhile: a mediator for a mediator; for an executive another executive,
the charter's backup executive unless they name one. Nothing here moves a dispute: the service tells each open
dispute of the person (as its mediator or executive, including those still at frontline) through the
workflow's `away` signal, and the workflow moves itself when the absence starts or when it enters their tier
(`workflows/dispute.py`). New disputes are routed around whoever is away at filing (`stand_ins`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError

from domain import away
from domain.charter import Charter
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.model import CLOSED, DisputeStart, DisputeView, Role
from domain.model.away import Absence
from domain.plain_words import a_role
from service import routing
from store import absences
from store.tables import DisputeRow, User
from store.users import user_by_email
from workflows.dispute import DisputeWorkflow

if TYPE_CHECKING:  # (service.disputes asks this module who stands in at filing)
    from service.disputes import Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AwayPeriod:
    """An absence as people read it."""

    email: str
    starts_on: date  # `from`
    ends_on: date  # `until`, inclusive
    delegate: str
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    away_now: bool
    set_by: str

    def as_json(self) -> dict[str, object]:
        return {"email": self.email, "from": self.starts_on.isoformat(), "until": self.ends_on.isoformat(),
                "delegate": self.delegate, "time_zone": self.time_zone, "starts_at": self.starts_at.isoformat(),
                "ends_at": self.ends_at.isoformat(), "away_now": self.away_now, "set_by": self.set_by}

    def sentence(self) -> str:
        """"Away 2026-12-21 to 2027-01-03 (America/New_York); Max takes their work." """
        when = "away now" if self.away_now else "away"
        return (f"{when} from {self.starts_on.isoformat()} to {self.ends_on.isoformat()} (inclusive, "
                f"{self.time_zone}); {self.delegate} takes the work")


@dataclass(frozen=True)
class AwayStatus:
    """Someone's absence (None: none set, or it is over) and the absences they stand in for."""

    email: str
    absence: AwayPeriod | None
    standing_in_for: list[AwayPeriod] = field(default_factory=list)


def period(row: absences.AbsenceRow, now: datetime) -> AwayPeriod:
    return AwayPeriod(email=row.email, starts_on=row.starts_on, ends_on=row.ends_on, delegate=row.delegate,
                      time_zone=row.time_zone, starts_at=row.starts_at, ends_at=row.ends_at,
                      away_now=row.starts_at <= now < row.ends_at, set_by=row.set_by)


def status_of(session: Session, email: str, now: datetime) -> AwayStatus:
    row = absences.absence_of(session, email)
    mine = period(row, now) if row is not None and row.ends_at > now else None
    return AwayStatus(email=email, absence=mine,
                      standing_in_for=[period(r, now) for r in absences.delegated_to(session, email, now)])


def stand_ins(session: Session, at: datetime) -> dict[str, str]:
    """Everyone away at `at` → who takes their work (the `away` of `service.routing`)."""
    return absences.stand_ins(session, at)


def absences_at_filing(session: Session, start: DisputeStart, parties: Sequence[User], charter: Charter,
                       now: datetime) -> list[Absence]:
    """What a new dispute's workflow is told (its input): the absences, current or to come, of its adjudicators
    and of their stand-ins, each naming who stands in *for this dispute*: the routing's choice with the person
    away (`service.routing`), so that a delegate conflicted on this dispute is passed over as at filing."""
    told = absences.absences_of(session, (start.mediator, start.executive, start.backup_executive or ""), now)
    out: list[Absence] = []
    for absence in told:
        if absence.email not in (start.mediator, start.executive):
            out.append(absence)
            continue
        routed = routing.route(session, charter, parties, partner_org=start.filing.partner_org,
                               region=start.filing.region, segment=start.filing.segment,
                               away={absence.email: absence.stand_in})
        stand_in = routed.mediator if absence.email == start.mediator else routed.executive
        out.append(absence.model_copy(update={"stand_in": stand_in}))
    return out


def today(charter: Charter, now: datetime) -> date:
    """Today's date in the charter calendar's time zone."""
    return now.astimezone(ZoneInfo(charter.calendar.timezone)).date()


def set_away(session: Session, actor: User, email: str, starts_on: date, ends_on: date, delegate: str | None,
             charter: Charter, now: datetime) -> tuple[AwayStatus, Absence]:
    """Sets `email`'s absence (replacing theirs) and commits; returns it and what the workflows are told.

    403 unless the actor is an admin or the person; 404 for nobody of that e-mail; 422 naming the field for a
    range that ends before it starts, is over already or reaches too far (`domain.away.reach_problem`), and for a
    delegate who does not exist, is the person, lacks the person's adjudicating role, is away too over the
    period, or may not adjudicate one of the open disputes that would move to them (a conflict of interest,
    DESIGN §8)."""
    person = _target(session, actor, email)
    role = away.adjudicating_role(person.role)
    if role is None:
        raise InvalidInput(f"email: only mediators and executives hand their work to a delegate; {person.email} "
                           f"is {a_role(person.role)}", field="email")
    if (problem := away.range_problem(starts_on, ends_on)) is not None:
        raise InvalidInput(f"until: {problem}", field="until")
    if ends_on < today(charter, now):
        raise InvalidInput(f"until: the absence is over already ({ends_on.isoformat()} is before today, "
                           f"{today(charter, now).isoformat()}, in {charter.calendar.timezone})", field="until")
    if (found := away.reach_problem(starts_on, ends_on, today(charter, now))) is not None:
        field, problem = found  # (before `instants`: 9999-12-31 has no end of day, nor 0001-01-01 a start east of UTC)
        raise InvalidInput(f"{field}: {problem}", field=field)
    delegate = (delegate or "").strip().lower() or _default_delegate(person, charter)
    stand_in = user_by_email(session, delegate)
    if stand_in is None:
        raise InvalidInput(f"delegate: no Parley user {delegate}", field="delegate")
    if stand_in.email == person.email:
        raise InvalidInput("delegate: someone away cannot stand in for themself", field="delegate")
    if stand_in.role != role:
        raise InvalidInput(f"delegate: {stand_in.email} is {a_role(stand_in.role)}; {a_role(role)}'s work goes to "
                           f"another {role}", field="delegate")
    tz = charter.calendar.timezone
    starts_at, ends_at = away.instants(starts_on, ends_on, tz)
    if (theirs := absences.overlapping(session, stand_in.email, starts_at, ends_at)) is not None:
        raise InvalidInput(f"delegate: {stand_in.email} is away too, from {theirs.starts_on.isoformat()} to "
                           f"{theirs.ends_on.isoformat()}", field="delegate")
    if conflicted := delegate_conflicts(session, person.email, stand_in.email):
        raise InvalidInput(f"delegate: {stand_in.email} may not take over {'; '.join(conflicted)}: name another "
                           "delegate, or reassign those disputes first", field="delegate")
    row = absences.save(session, email=person.email, starts_on=starts_on, ends_on=ends_on, time_zone=tz,
                        delegate=stand_in.email, set_by=actor.email)
    told = absences.told(row)
    session.commit()
    return status_of(session, person.email, now), told


def clear_away(session: Session, actor: User, email: str, now: datetime) -> tuple[AwayStatus, Absence | None]:
    """Clears `email`'s absence and commits; returns what the workflows are told (None: there was none)."""
    person = _target(session, actor, email)
    row = absences.clear(session, person.email)
    told = absences.told(row, cleared=True) if row is not None else None
    session.commit()
    return status_of(session, person.email, now), told


def disputes_concerned(session: Session, email: str) -> list[str]:
    """The open disputes `email` adjudicates or will (their mediator or executive, frontline included)."""
    rows = session.exec(select(DisputeRow.id).where(
        col(DisputeRow.status).not_in([s.value for s in CLOSED]),
        or_(col(DisputeRow.mediator) == email, col(DisputeRow.executive) == email),
    ).order_by(col(DisputeRow.id)))
    return list(rows)


def delegate_conflicts(session: Session, email: str, delegate: str) -> list[str]:
    """The open disputes of `email` that `delegate` may not adjudicate (a party, their organisation, a party's
    manager: `service.routing`), each with why: the absence would move them to a conflicted person."""
    found: list[str] = []
    for row in session.exec(select(DisputeRow).where(col(DisputeRow.id).in_(disputes_concerned(session, email)))):
        view = DisputeView.model_validate(json.loads(row.view_json))
        if why := routing.conflicts_of(session, view, delegate):
            found.append(f"{row.id} ({', '.join(why)})")
    return sorted(found)


async def tell_disputes(engine: Engine, client: Client, absence: Absence, now: datetime) -> list[str]:
    """Signals `absence` to each open dispute of its person, and of those whose work they are to take over (so
    that a stand-in away too is passed in turn); returns the ids told. A dispute that closed meanwhile is
    skipped; one that cannot be reached now is logged (its SLA and the filing-time routing go on)."""
    with Session(engine) as session:
        people = [absence.email, *(r.email for r in absences.delegated_to(session, absence.email, now))]
        ids = sorted({i for email in people for i in disputes_concerned(session, email)})
    told: list[str] = []
    for dispute_id in ids:
        try:
            await client.get_workflow_handle_for(DisputeWorkflow.run, dispute_id).signal(DisputeWorkflow.away,
                                                                                        absence)
        except RPCError as exc:
            log.warning("could not tell %s of %s's absence: %s", dispute_id, absence.email, exc.message)
            continue
        told.append(dispute_id)
    return told


def _target(session: Session, actor: User, email: str) -> User:
    if actor.role != Role.admin and actor.email != email.strip().lower():
        raise Forbidden(f"only an admin sets another person's absence; {actor.email} is {a_role(actor.role)}")
    person = user_by_email(session, email)
    if person is None:
        raise NotFound(f"no user {email}")
    return person


def _default_delegate(person: User, charter: Charter) -> str:
    """An executive's stand-in when they name none: the charter's backup executive (the sponsor, for the backup)."""
    routing = charter.routing
    if person.role == Role.executive:
        other = routing.backup_executive if person.email != routing.backup_executive else routing.executive
        if other:
            return other
    raise InvalidInput("delegate: name who takes your work while you are away", field="delegate")


async def put(service: Service, actor: User, email: str, starts_on: date, ends_on: date,
              delegate: str | None) -> AwayStatus:
    """`set_away` and tell the disputes concerned: what every surface calls."""
    now = service.clock()

    def store() -> tuple[AwayStatus, Absence]:
        with Session(service.engine) as session:
            return set_away(session, actor, email, starts_on, ends_on, delegate, service.charter(), now)

    status, told = await asyncio.to_thread(store)
    await _tell(service, told)
    return status


async def delete(service: Service, actor: User, email: str) -> AwayStatus:
    """`clear_away` and tell the disputes concerned."""
    now = service.clock()

    def store() -> tuple[AwayStatus, Absence | None]:
        with Session(service.engine) as session:
            return clear_away(session, actor, email, now)

    status, told = await asyncio.to_thread(store)
    if told is not None:
        await _tell(service, told)
    return status


async def _tell(service: Service, absence: Absence) -> None:
    """The absence is stored whatever happens here: a Temporal outage leaves running disputes untold (logged),
    while new ones are routed around it at filing."""
    try:
        client = await service.temporal()
        await tell_disputes(service.engine, client, absence, service.clock())
    except Exception as exc:  # noqa: BLE001  (Temporal unreachable: the stored absence stands)
        log.warning("could not tell the disputes of %s about their absence: %r", absence.email, exc)


def periods_of(session: Session, emails: list[str | None], now: datetime) -> dict[str, AwayPeriod]:
    """The absences, not over by `now`, of those of `emails` who have one (the web's people panel)."""
    found: dict[str, AwayPeriod] = {}
    for email in emails:
        row = absences.absence_of(session, email) if email else None
        if row is not None and row.ends_at > now:
            found[row.email] = period(row, now)
    return found
