"""Absences (DESIGN §8): who is away when, and who stands in for them. Every query about them lives here.

`stand_ins(session, at)` is what routing takes as `away` (the e-mail of someone away at `at` → who takes
their work, following a stand-in who is away too); `told(row)` is the absence as the dispute workflow is told it.

A filing asks both `stand_ins` and `absences_of` at the same moment in one session: the absences not over by
then are read once per session and moment (`current_and_future`), and read again after `save` or `clear`.
The statements are built once, with bound parameters (every filing asks them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, delete, select

from domain import away
from domain.model.away import Absence
from store.absence_tables import AbsenceRow
from store.columns import utcnow

__all__ = ["AbsenceRow", "absence_of", "absences_of", "away_at", "clear", "delegated_to", "overlapping", "save",
           "stand_ins", "told"]


_NOT_OVER = select(AbsenceRow).where(col(AbsenceRow.ends_at) > bindparam("at")).order_by(col(AbsenceRow.email))
_DELEGATED_TO = (select(AbsenceRow).where(col(AbsenceRow.delegate) == bindparam("delegate"),
                                          col(AbsenceRow.ends_at) > bindparam("at"))
                 .order_by(col(AbsenceRow.starts_at)))
_READ = "parley.absences_not_over"  # `session.info`: (the moment, the absences not over by then)


def absence_of(session: Session, email: str) -> AbsenceRow | None:
    return session.get(AbsenceRow, email.strip().lower())


def save(session: Session, *, email: str, starts_on: date, ends_on: date, time_zone: str, delegate: str,
         set_by: str) -> AbsenceRow:
    """Sets `email`'s absence (replacing the one they had); the caller commits."""
    starts_at, ends_at = away.instants(starts_on, ends_on, time_zone)
    row = absence_of(session, email) or AbsenceRow(email=email.strip().lower(), starts_on=starts_on,
                                                     ends_on=ends_on, time_zone=time_zone, starts_at=starts_at,
                                                     ends_at=ends_at, delegate=delegate, set_by=set_by)
    row.starts_on, row.ends_on, row.time_zone = starts_on, ends_on, time_zone
    row.starts_at, row.ends_at = starts_at, ends_at
    row.delegate, row.set_by, row.set_at = delegate.strip().lower(), set_by, utcnow()
    session.info.pop(_READ, None)
    session.add(row)
    session.flush()
    return row


def clear(session: Session, email: str) -> AbsenceRow | None:
    """Removes `email`'s absence; returns what it was (None: there was none). The caller commits."""
    row = absence_of(session, email)
    if row is not None:
        session.info.pop(_READ, None)
        session.exec(delete(AbsenceRow).where(col(AbsenceRow.email) == row.email))
    return row


def overlapping(session: Session, email: str, starts_at: datetime, ends_at: datetime) -> AbsenceRow | None:
    """`email`'s absence if it overlaps [starts_at, ends_at)."""
    row = absence_of(session, email)
    return row if row is not None and row.starts_at < ends_at and starts_at < row.ends_at else None


def current_and_future(session: Session, at: datetime) -> list[AbsenceRow]:
    """Every absence not over by `at`, by e-mail (read once per session and moment)."""
    read: tuple[datetime, list[AbsenceRow]] | None = session.info.get(_READ)
    if read is None or read[0] != at:
        read = at, list(session.exec(_NOT_OVER, params={"at": at}))
        session.info[_READ] = read
    return list(read[1])


def stand_ins(session: Session, at: datetime) -> dict[str, str]:
    """Everyone away at `at` → who takes their work then (routing's `away`). Told the absences to come as well,
    `domain.away.stand_ins` follows only those that cover `at`."""
    return away.stand_ins({r.email: told(r) for r in current_and_future(session, at)}, at)


def away_at(session: Session, email: str, at: datetime) -> tuple[AbsenceRow, str] | None:
    """`email`'s absence and who takes their work, when they are away at `at` (a stand-in away too is followed
    to their own, as routing does); None when they are not away then."""
    rows = {r.email: r for r in current_and_future(session, at)}
    row = rows.get(email.strip().lower())
    if row is None or not row.starts_at <= at < row.ends_at:
        return None
    stand_in = away.stand_in_for(row.email, {e: told(r) for e, r in rows.items()}, at)
    return row, stand_in or row.delegate


def absences_of(session: Session, emails: Iterable[str], at: datetime) -> list[Absence]:
    """The absences of `emails`, and of those who stand in for them, not over by `at`: what a new dispute's
    workflow is told at filing (its input)."""
    rows = {r.email: r for r in current_and_future(session, at)}
    wanted = [e.strip().lower() for e in emails if e]
    found: dict[str, Absence] = {}
    while wanted:
        email = wanted.pop()
        if email in found or email not in rows:
            continue
        found[email] = told(rows[email])
        wanted.append(rows[email].delegate)
    return [found[e] for e in sorted(found)]


def delegated_to(session: Session, email: str, at: datetime) -> list[AbsenceRow]:
    """The absences, not over by `at`, whose delegate is `email` ("people who delegated to me")."""
    return list(session.exec(_DELEGATED_TO, params={"delegate": email.strip().lower(), "at": at}))


def told(row: AbsenceRow, *, cleared: bool = False) -> Absence:
    return Absence(email=row.email, starts_at=row.starts_at, ends_at=row.ends_at, stand_in=row.delegate,
                   cleared=cleared)
