"""Away and delegation (DESIGN §8): date-ranged absences and who stands in meanwhile. Pure: the API checks an
absence with these rules, the store keeps it, and the dispute workflow keeps the absences it was told about
(`Absence`, which crosses Temporal) to move its dispute to the stand-in on its own timer.

- An absence is a range of calendar dates, `starts_on` to `ends_on`, both **inclusive**, read in the charter
  calendar's time zone: away from 00:00 on `starts_on` until 24:00 on `ends_on` there (`instants`).
- The stand-in of a mediator is their delegate; of an executive, their delegate, which is the charter's backup
  executive unless they name another executive.
- Whoever stands in for someone away is followed, in turn, while they are away too (`stand_in_for`).
- An absence reaches from at most a year before today to at most two years after it (`reach_problem`): an
  out-of-office period further out is a typo, and every date within the reach is an instant in any time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.model.away import Absence

__all__ = ["AWAY_ACTOR", "YEARS_AHEAD", "YEARS_BACK", "Absence", "adjudicating_role", "instants", "next_start",
           "range_problem", "reach_problem", "stand_in_for", "stand_ins"]

AWAY_ACTOR = "system:away"  # the audit actor of the moves an absence makes
YEARS_BACK = 1  # an absence started at most this many years before today (the first day of a long leave)
YEARS_AHEAD = 2  # and ends at most this many years after it (a sabbatical planned well ahead)


def instants(starts_on: date, ends_on: date, timezone: str) -> tuple[datetime, datetime]:
    """The absence as UTC instants: from the start of `starts_on` to the end of `ends_on` (inclusive) in `timezone`."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(starts_on, time(0), zone)
    end = datetime.combine(ends_on + timedelta(days=1), time(0), zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def range_problem(starts_on: date, ends_on: date) -> str | None:
    """What is wrong with the range as given, in plain words, or None."""
    if ends_on < starts_on:
        return f"the absence ends ({ends_on.isoformat()}) before it starts ({starts_on.isoformat()})"
    return None


def reach_problem(starts_on: date, ends_on: date, today: date) -> tuple[str, str] | None:
    """(the field, what is wrong in plain words) when the absence starts more than `YEARS_BACK` before `today`
    or ends more than `YEARS_AHEAD` after it; None when it is within reach."""
    earliest, latest = _years_after(today, -YEARS_BACK), _years_after(today, YEARS_AHEAD)
    if starts_on < earliest:
        return "from", (f"an absence starts at most a year before today, {earliest.isoformat()} at the earliest "
                        f"(not {starts_on.isoformat()})")
    if ends_on > latest:
        return "until", (f"an absence ends at most two years after today, {latest.isoformat()} at the latest "
                         f"(not {ends_on.isoformat()})")
    return None


def _years_after(day: date, years: int) -> date:
    """The same day `years` later (or earlier); 29 February becomes the 28th in a year without one."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def adjudicating_role(role: str) -> str | None:
    """The role someone must have to stand in for a person of `role`: a mediator for a mediator, an executive
    for an executive; None for those who adjudicate nothing (reps, auditors, admins)."""
    return role if role in ("mediator", "executive") else None


def stand_in_for(email: str, absences: Mapping[str, Absence], at: datetime) -> str | None:
    """Who takes `email`'s work at `at`: None when they are not away; the chain of stand-ins is followed while
    each is away too, and stops before it comes back round to someone already on it."""
    seen = {email}
    current = email
    while (absence := absences.get(current)) is not None and absence.covers(at):
        if absence.stand_in in seen:
            break
        seen.add(absence.stand_in)
        current = absence.stand_in
    return None if current == email else current


def stand_ins(absences: Mapping[str, Absence], at: datetime) -> dict[str, str]:
    """Everyone away at `at` → who takes their work (the routing's `away` mapping)."""
    out: dict[str, str] = {}
    for email in absences:
        to = stand_in_for(email, absences, at)
        if to is not None:
            out[email] = to
    return out


def next_start(absences: Mapping[str, Absence], after: datetime) -> datetime | None:
    """When the next absence told starts, after `after` (the workflow's timer for moving its dispute)."""
    starts = [a.starts_at for a in absences.values() if not a.cleared and a.starts_at > after]
    return min(starts) if starts else None
