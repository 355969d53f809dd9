"""The moments the time-sensitive tests are pinned to, so that none depends on the day or the hour
it runs: a plain weekday, a weekend, the first minutes of a week, the last minute of one, a
daylight-saving change and New Year's Eve, all in the default charter's time zone (New York).

A suite that passed on Wednesday and failed on Sunday would block every landing on a weekend;
running each time-sensitive test at each of these moments proves it cannot.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

REFERENCE_TIMES: dict[str, datetime] = {
    "wednesday-noon": datetime(2026, 3, 11, 12, 0, tzinfo=NEW_YORK),
    "saturday": datetime(2026, 3, 14, 11, 0, tzinfo=NEW_YORK),
    "monday-00:30": datetime(2026, 3, 16, 0, 30, tzinfo=NEW_YORK),
    "friday-23:59": datetime(2026, 3, 13, 23, 59, tzinfo=NEW_YORK),
    "dst-change-day": datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK),  # clocks went 02:00 -> 03:00 today
    "new-years-eve-23:59": datetime(2026, 12, 31, 23, 59, tzinfo=NEW_YORK),
}


def upcoming(after: datetime) -> dict[str, datetime]:
    """The next instant after `after` with the character of each reference time, for the
    time-skipping server, whose clock only moves forward from the real "now"."""
    local = after.astimezone(NEW_YORK)

    def next_weekday_at(weekday: int, hour: int, minute: int) -> datetime:
        day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
        at = datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)
        return at if at > local else at + timedelta(days=7)

    day = local.date() + timedelta(days=1)
    while _offset(day, time(0)) == _offset(day, time(23, 59)):
        day += timedelta(days=1)
    new_years_eve = datetime(local.year, 12, 31, 23, 59, tzinfo=NEW_YORK)
    return {
        "wednesday-noon": next_weekday_at(2, 12, 0),
        "saturday": next_weekday_at(5, 11, 0),
        "monday-00:30": next_weekday_at(0, 0, 30),
        "friday-23:59": next_weekday_at(4, 23, 59),
        "dst-change-day": datetime.combine(day, time(3, 30), tzinfo=NEW_YORK),
        "new-years-eve-23:59": new_years_eve if new_years_eve > local else new_years_eve.replace(year=local.year + 1),
    }


def _offset(day: date, at: time) -> timedelta | None:
    return datetime.combine(day, at, tzinfo=NEW_YORK).utcoffset()
