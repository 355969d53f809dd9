from __future__ import annotations

import time as wallclock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import MAX_WALK_DAYS, BusinessCalendar, CalendarSpec

H = 3600.0
M = 60.0
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def local(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


def cal(**kwargs: object) -> BusinessCalendar:
    return BusinessCalendar(CalendarSpec(**kwargs))  # type: ignore[arg-type]


DEFAULT = cal()

# 2026-01-09 is a Friday, 2026-01-12 a Monday.


# --------------------------------------------------------------------------- basics


def test_defaults() -> None:
    spec = CalendarSpec()
    assert spec.kind == "business"
    assert spec.timezone == "UTC"
    assert spec.working_days == ("mon", "tue", "wed", "thu", "fri")
    assert (spec.start, spec.end, spec.holidays) == ("09:00", "17:00", ())
    assert DEFAULT.day_seconds == 8 * H


def test_day_seconds() -> None:
    assert cal(start="08:30", end="18:00").day_seconds == 9.5 * H
    assert cal(start="00:00", end="24:00").day_seconds == 24 * H
    assert cal(kind="24x7").day_seconds == 86400.0


def test_add_within_a_day() -> None:
    assert DEFAULT.add(utc(2026, 1, 12, 9), 2 * H) == utc(2026, 1, 12, 11)
    assert DEFAULT.add(utc(2026, 1, 12, 10, 15), 90 * M) == utc(2026, 1, 12, 11, 45)


def test_add_exactly_to_closing_stays_on_that_day() -> None:
    assert DEFAULT.add(utc(2026, 1, 12, 9), 8 * H) == utc(2026, 1, 12, 17)
    assert DEFAULT.add(utc(2026, 1, 9, 16), 1 * H) == utc(2026, 1, 9, 17)


def test_add_rolls_to_next_day() -> None:
    assert DEFAULT.add(utc(2026, 1, 12, 16), 2 * H) == utc(2026, 1, 13, 10)


def test_friday_afternoon_lands_on_monday() -> None:
    assert DEFAULT.add(utc(2026, 1, 9, 16), 2 * H) == utc(2026, 1, 12, 10)


def test_weekends_skipped_for_multi_day_sla() -> None:
    # Mon 09:00 + 5 business days = Fri 17:00; + 6 days = next Mon 17:00
    assert DEFAULT.add(utc(2026, 1, 12, 9), 5 * 8 * H) == utc(2026, 1, 16, 17)
    assert DEFAULT.add(utc(2026, 1, 12, 9), 6 * 8 * H) == utc(2026, 1, 19, 17)
    # Wed 13:00 + 3 business days = Mon 13:00
    assert DEFAULT.add(utc(2026, 1, 14, 13), 3 * 8 * H) == utc(2026, 1, 19, 13)


def test_start_before_opening() -> None:
    assert DEFAULT.add(utc(2026, 1, 12, 6, 30), 1 * H) == utc(2026, 1, 12, 10)
    assert DEFAULT.add(utc(2026, 1, 12, 0, 0), 8 * H) == utc(2026, 1, 12, 17)


def test_start_after_closing() -> None:
    assert DEFAULT.add(utc(2026, 1, 12, 17), 1 * H) == utc(2026, 1, 13, 10)
    assert DEFAULT.add(utc(2026, 1, 12, 22, 45), 30 * M) == utc(2026, 1, 13, 9, 30)
    assert DEFAULT.add(utc(2026, 1, 9, 19), 1 * H) == utc(2026, 1, 12, 10)  # Friday evening


def test_start_on_weekend() -> None:
    assert DEFAULT.add(utc(2026, 1, 10, 12), 1 * H) == utc(2026, 1, 12, 10)  # Saturday
    assert DEFAULT.add(utc(2026, 1, 11, 23, 59), 8 * H) == utc(2026, 1, 12, 17)  # Sunday


def test_start_on_holiday() -> None:
    c = cal(holidays=("2026-01-12",))
    assert c.add(utc(2026, 1, 12, 10), 1 * H) == utc(2026, 1, 13, 10)
    assert c.add(utc(2026, 1, 9, 16), 2 * H) == utc(2026, 1, 13, 10)  # Fri -> skip weekend + Mon holiday


def test_consecutive_holidays() -> None:
    # Christmas week: Thu 24, Fri 25 and Mon 28 Dec off, plus the weekend.
    c = cal(holidays=("2026-12-24", "2026-12-25", "2026-12-28"))
    assert c.add(utc(2026, 12, 23, 16), 2 * H) == utc(2026, 12, 29, 10)
    assert c.between(utc(2026, 12, 23, 9), utc(2026, 12, 30, 9)) == 16 * H
    assert not c.is_open(utc(2026, 12, 24, 12))
    assert c.is_open(utc(2026, 12, 29, 12))


def test_holiday_on_weekend_changes_nothing() -> None:
    c = cal(holidays=("2026-01-10",))
    assert c.add(utc(2026, 1, 9, 16), 2 * H) == utc(2026, 1, 12, 10)


def test_holidays_accept_lists_and_date_objects() -> None:
    c = BusinessCalendar(CalendarSpec(holidays=[date(2026, 1, 12), "2026-01-13"]))  # type: ignore[arg-type]
    assert c.add(utc(2026, 1, 9, 16), 2 * H) == utc(2026, 1, 14, 10)


def test_zero_seconds_returns_start_unchanged_even_outside_hours() -> None:
    sat = utc(2026, 1, 10, 3, 4, 5)
    assert DEFAULT.add(sat, 0) == sat
    berlin = local("Europe/Berlin", 2026, 1, 10, 12)
    result = DEFAULT.add(berlin, 0)
    assert result == berlin and result.tzinfo is UTC and result.hour == 11


def test_result_is_utc_for_any_input_zone() -> None:
    c = cal(timezone="America/New_York")
    out = c.add(local("Asia/Tokyo", 2026, 1, 14, 0), 1 * H)  # = Tue 10:00 EST
    assert out.tzinfo is UTC
    assert out == utc(2026, 1, 13, 16)


def test_fractional_seconds() -> None:
    assert DEFAULT.add(utc(2026, 1, 12, 9), 1.5) == utc(2026, 1, 12, 9) + timedelta(seconds=1.5)
    assert DEFAULT.between(utc(2026, 1, 12, 9), utc(2026, 1, 12, 9, 0, 0, 250000)) == 0.25


def test_open_close_end_24() -> None:
    c = cal(start="00:00", end="24:00")
    assert c.add(utc(2026, 1, 9, 23), 2 * H) == utc(2026, 1, 12, 1)
    assert c.is_open(utc(2026, 1, 9, 23, 59))
    assert not c.is_open(utc(2026, 1, 10, 0, 0))
    assert c.between(utc(2026, 1, 5), utc(2026, 1, 12)) == 5 * 24 * H


# ----------------------------------------------------------------------- is_open


def test_is_open_boundaries() -> None:
    assert DEFAULT.is_open(utc(2026, 1, 12, 9))  # opening inclusive
    assert DEFAULT.is_open(utc(2026, 1, 12, 16, 59, 59))
    assert not DEFAULT.is_open(utc(2026, 1, 12, 17))  # closing exclusive
    assert not DEFAULT.is_open(utc(2026, 1, 12, 8, 59, 59))
    assert not DEFAULT.is_open(utc(2026, 1, 10, 12))  # Saturday


def test_is_open_in_local_zone() -> None:
    c = cal(timezone="Asia/Kolkata")
    assert c.is_open(utc(2026, 1, 12, 3, 30))  # 09:00 IST
    assert not c.is_open(utc(2026, 1, 12, 3, 29))
    assert c.is_open(utc(2026, 1, 12, 11, 29))
    assert not c.is_open(utc(2026, 1, 12, 11, 30))  # 17:00 IST
    # Sunday 22:00 UTC is Monday 03:30 IST: closed; Friday 20:00 UTC is Saturday IST: closed
    assert not c.is_open(utc(2026, 1, 11, 22))
    assert not c.is_open(utc(2026, 1, 9, 20))


def test_next_open() -> None:
    assert DEFAULT.next_open(utc(2026, 1, 9, 18)) == utc(2026, 1, 12, 9)
    assert DEFAULT.next_open(utc(2026, 1, 12, 10)) == utc(2026, 1, 12, 10)


# ------------------------------------------------------------------------ between


def test_between_basic() -> None:
    assert DEFAULT.between(utc(2026, 1, 12, 9), utc(2026, 1, 12, 17)) == 8 * H
    assert DEFAULT.between(utc(2026, 1, 12, 0), utc(2026, 1, 13, 0)) == 8 * H
    assert DEFAULT.between(utc(2026, 1, 9, 16), utc(2026, 1, 12, 10)) == 2 * H
    assert DEFAULT.between(utc(2026, 1, 5), utc(2026, 1, 12)) == 40 * H  # one full week
    assert DEFAULT.between(utc(2026, 1, 10), utc(2026, 1, 12)) == 0.0  # weekend


def test_between_empty_or_reversed() -> None:
    a = utc(2026, 1, 12, 10)
    assert DEFAULT.between(a, a) == 0.0
    assert DEFAULT.between(a, a - timedelta(hours=3)) == 0.0


def test_between_mixed_zones() -> None:
    a = local("America/New_York", 2026, 1, 12, 4)  # 09:00 UTC
    b = local("Asia/Kolkata", 2026, 1, 12, 20, 30)  # 15:00 UTC
    assert DEFAULT.between(a, b) == 6 * H


# --------------------------------------------------------------------- time zones


def test_new_york_winter() -> None:
    c = cal(timezone="America/New_York")  # EST = UTC-5
    assert c.add(local("America/New_York", 2026, 1, 13, 16), 2 * H) == utc(2026, 1, 14, 15)
    assert c.add(utc(2026, 1, 13, 12), 1 * H) == utc(2026, 1, 13, 15)  # 07:00 EST -> starts 09:00 EST
    # Friday 16:00 EST + 2h = Monday 10:00 EST
    assert c.add(utc(2026, 1, 9, 21), 2 * H) == utc(2026, 1, 12, 15)
    # Friday 23:00 UTC is still Friday (18:00) in New York: after closing.
    assert c.add(utc(2026, 1, 9, 23), 30 * M) == utc(2026, 1, 12, 14, 30)


def test_new_york_summer() -> None:
    c = cal(timezone="America/New_York")  # EDT = UTC-4
    assert c.add(utc(2026, 7, 14, 20), 2 * H) == utc(2026, 7, 15, 14)
    assert c.between(utc(2026, 7, 14, 0), utc(2026, 7, 15, 0)) == 8 * H


def test_berlin() -> None:
    c = cal(timezone="Europe/Berlin")  # CET = UTC+1
    # Fri 16:30 CET + 1h = Mon 09:30 CET
    assert c.add(utc(2026, 1, 16, 15, 30), 1 * H) == utc(2026, 1, 19, 8, 30)
    # Monday 07:30 UTC is 08:30 CET: before opening
    assert c.add(utc(2026, 1, 19, 7, 30), 8 * H) == utc(2026, 1, 19, 16)
    # Summer: CEST = UTC+2
    assert c.add(utc(2026, 7, 13, 7), 8 * H) == utc(2026, 7, 13, 15)


def test_kolkata_half_hour_offset() -> None:
    c = cal(timezone="Asia/Kolkata")  # IST = UTC+5:30, no DST
    # 00:00 UTC = 05:30 IST Monday: count from 09:00 IST (03:30 UTC)
    assert c.add(utc(2026, 1, 12, 0), 8 * H) == utc(2026, 1, 12, 11, 30)
    # 16:30 IST + 1h = Tue 09:30 IST = 04:00 UTC
    assert c.add(utc(2026, 1, 12, 11), 1 * H) == utc(2026, 1, 13, 4)
    # Friday 16:00 IST + 2h = Monday 10:00 IST
    assert c.add(local("Asia/Kolkata", 2026, 1, 9, 16), 2 * H) == utc(2026, 1, 12, 4, 30)
    # Sunday 23:00 UTC = Monday 04:30 IST: closed until 09:00 IST
    assert c.add(utc(2026, 1, 11, 23), 15 * M) == utc(2026, 1, 12, 3, 45)


def test_holiday_is_a_local_date() -> None:
    # 2026-01-12 is a holiday in Kolkata; 2026-01-11 20:00 UTC is already the 12th there.
    c = cal(timezone="Asia/Kolkata", holidays=("2026-01-12",))
    assert c.add(utc(2026, 1, 11, 20), 1 * H) == utc(2026, 1, 13, 4, 30)


# ----------------------------------------------------------------- DST change days

BERLIN_7 = cal(timezone="Europe/Berlin", working_days=ALL_DAYS)
NEW_YORK_7 = cal(timezone="America/New_York", working_days=ALL_DAYS)


def test_berlin_spring_forward() -> None:
    # Sun 2026-03-29: 02:00 CET -> 03:00 CEST (01:00 UTC).
    c = BERLIN_7
    # Sat 16:00 CET (15:00Z) + 2h -> Sun 10:00 CEST = 08:00Z
    assert c.add(utc(2026, 3, 28, 15), 2 * H) == utc(2026, 3, 29, 8)
    # The Sunday window is still 09:00-17:00 local = 07:00Z-15:00Z (8 hours).
    assert c.add(local("Europe/Berlin", 2026, 3, 29, 9), 8 * H) == utc(2026, 3, 29, 15)
    assert c.between(utc(2026, 3, 29, 0), utc(2026, 3, 30, 0)) == 8 * H
    assert c.is_open(utc(2026, 3, 29, 7)) and not c.is_open(utc(2026, 3, 29, 6, 59))
    # Sun 16:00 CEST (14:00Z) + 2h -> Mon 10:00 CEST = 08:00Z
    assert c.add(utc(2026, 3, 29, 14), 2 * H) == utc(2026, 3, 30, 8)
    # Sat 09:00 CET to Mon 09:00 CEST: two full days
    assert c.between(utc(2026, 3, 28, 8), utc(2026, 3, 30, 7)) == 16 * H
    # Sat 12:00 CET + 1 business day -> Sun 12:00 CEST (10:00Z), 23 wall hours later.
    assert c.add(utc(2026, 3, 28, 11), 8 * H) == utc(2026, 3, 29, 10)


def test_berlin_fall_back() -> None:
    # Sun 2026-10-25: 03:00 CEST -> 02:00 CET (01:00 UTC).
    c = BERLIN_7
    # Sat 16:00 CEST (14:00Z) + 2h -> Sun 10:00 CET = 09:00Z
    assert c.add(utc(2026, 10, 24, 14), 2 * H) == utc(2026, 10, 25, 9)
    assert c.add(local("Europe/Berlin", 2026, 10, 25, 9), 8 * H) == utc(2026, 10, 25, 16)
    assert c.between(utc(2026, 10, 25, 0), utc(2026, 10, 26, 0)) == 8 * H
    # Sun 16:00 CET (15:00Z) + 2h -> Mon 10:00 CET = 09:00Z
    assert c.add(utc(2026, 10, 25, 15), 2 * H) == utc(2026, 10, 26, 9)
    # Sat 12:00 CEST + 1 business day -> Sun 12:00 CET (11:00Z), 25 wall hours later.
    assert c.add(utc(2026, 10, 24, 10), 8 * H) == utc(2026, 10, 25, 11)


def test_new_york_spring_forward() -> None:
    # Sun 2026-03-08: 02:00 EST -> 03:00 EDT (07:00 UTC).
    c = NEW_YORK_7
    # Sat 16:00 EST (21:00Z) + 2h -> Sun 10:00 EDT = 14:00Z
    assert c.add(utc(2026, 3, 7, 21), 2 * H) == utc(2026, 3, 8, 14)
    assert c.add(local("America/New_York", 2026, 3, 8, 9), 8 * H) == utc(2026, 3, 8, 21)
    assert c.between(local("America/New_York", 2026, 3, 8), local("America/New_York", 2026, 3, 9)) == 8 * H
    # Sun 16:00 EDT (20:00Z) + 2h -> Mon 10:00 EDT = 14:00Z
    assert c.add(utc(2026, 3, 8, 20), 2 * H) == utc(2026, 3, 9, 14)


def test_new_york_fall_back() -> None:
    # Sun 2026-11-01: 02:00 EDT -> 01:00 EST (06:00 UTC).
    c = NEW_YORK_7
    # Sat 16:00 EDT (20:00Z) + 2h -> Sun 10:00 EST = 15:00Z
    assert c.add(utc(2026, 10, 31, 20), 2 * H) == utc(2026, 11, 1, 15)
    assert c.add(local("America/New_York", 2026, 11, 1, 9), 8 * H) == utc(2026, 11, 1, 22)
    assert c.between(local("America/New_York", 2026, 11, 1), local("America/New_York", 2026, 11, 2)) == 8 * H
    # Sun 16:00 EST (21:00Z) + 2h -> Mon 10:00 EST = 15:00Z
    assert c.add(utc(2026, 11, 1, 21), 2 * H) == utc(2026, 11, 2, 15)
    # Sat 16:00 EDT + 24h: Sat 1h, Sun 8h, Mon 8h, Tue 7h -> Tue 16:00 EST = 21:00Z
    assert c.add(utc(2026, 10, 31, 20), 3 * 8 * H) == utc(2026, 11, 3, 21)


def test_window_spanning_the_dst_change_counts_real_time() -> None:
    # A window that contains the transition itself is an hour shorter/longer in real time.
    berlin = cal(timezone="Europe/Berlin", working_days=ALL_DAYS, start="00:00", end="06:00")
    assert berlin.between(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == 5 * H  # 23:00Z - 04:00Z
    assert berlin.between(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == 7 * H  # 22:00Z - 05:00Z
    assert berlin.add(utc(2026, 3, 28, 23), 5 * H) == utc(2026, 3, 29, 4)
    ny = cal(timezone="America/New_York", working_days=ALL_DAYS, start="00:00", end="06:00")
    assert ny.between(utc(2026, 11, 1, 0), utc(2026, 11, 2, 0)) == 7 * H  # 04:00Z - 11:00Z
    assert ny.add(utc(2026, 11, 1, 4), 7 * H) == utc(2026, 11, 1, 11)
    # A 02:30 opening does not exist on the spring-forward night; the window still works.
    gap = cal(timezone="America/New_York", working_days=ALL_DAYS, start="02:30", end="04:00")
    assert gap.between(local("America/New_York", 2026, 3, 8), local("America/New_York", 2026, 3, 9)) > 0


# ------------------------------------------------------------------------- 24x7


def test_24x7_is_plain_arithmetic() -> None:
    c = cal(kind="24x7", timezone="Europe/Berlin", holidays=("2026-01-10",))
    start = utc(2026, 1, 9, 16)
    assert c.add(start, 2 * H) == utc(2026, 1, 9, 18)
    assert c.add(start, 3 * 86400) == utc(2026, 1, 12, 16)  # weekends and holidays ignored
    assert c.between(start, utc(2026, 1, 12, 16)) == 3 * 86400
    assert c.between(utc(2026, 1, 12), start) == 0.0
    assert c.is_open(utc(2026, 1, 10, 3))
    assert c.next_open(utc(2026, 1, 10, 3)) == utc(2026, 1, 10, 3)
    # across the Berlin spring change: 24 real hours
    assert c.add(local("Europe/Berlin", 2026, 3, 28, 12), 24 * H) == utc(2026, 3, 29, 11)
    out = c.add(local("Asia/Kolkata", 2026, 1, 1, 5, 30), 60)
    assert out == utc(2026, 1, 1, 0, 1) and out.tzinfo is UTC


# ------------------------------------------------------------ property-style checks

PROPERTY_CALENDARS = [
    DEFAULT,
    cal(timezone="America/New_York", holidays=("2026-03-09", "2026-03-10", "2026-11-02")),
    BERLIN_7,
    cal(
        timezone="Asia/Kolkata",
        working_days=("sun", "mon", "tue", "wed", "thu"),
        start="08:30",
        end="18:15",
    ),
    cal(timezone="Europe/Berlin", working_days=ALL_DAYS, start="00:00", end="06:00"),
    cal(timezone="Europe/Berlin", start="00:00", end="24:00", holidays=("2026-10-26",)),
    cal(kind="24x7", timezone="America/New_York"),
]
AMOUNTS = [1, 59, 30 * M, 1 * H, 7 * H + 59 * M, 8 * H, 8 * H + 1, 25 * H, 100_000, 5 * 8 * H, 60 * 8 * H]


def _starts() -> list[datetime]:
    # Irregular steps around both DST seasons so starts land inside, before and after hours.
    out: list[datetime] = []
    for anchor in (utc(2026, 3, 4), utc(2026, 10, 21)):
        t = anchor
        for _ in range(40):
            out.append(t)
            t += timedelta(hours=5, minutes=17, seconds=13)
    return out


@pytest.mark.parametrize("calendar", PROPERTY_CALENDARS, ids=lambda c: f"{c.spec.kind}-{c.spec.timezone}")
def test_between_inverts_add(calendar: BusinessCalendar) -> None:
    for start in _starts():
        previous = start
        for amount in AMOUNTS:
            due = calendar.add(start, amount)
            assert calendar.between(start, due) == amount, (start, amount, due)
            assert due >= previous  # monotone in the amount
            previous = due
            if amount >= 1:
                # the deadline itself is within (or at the closing edge of) business time
                assert calendar.is_open(due - timedelta(seconds=1)) or calendar.spec.kind == "24x7"


@pytest.mark.parametrize("calendar", PROPERTY_CALENDARS[:4], ids=lambda c: c.spec.timezone)
def test_add_is_additive_and_between_is_additive(calendar: BusinessCalendar) -> None:
    for start in _starts()[::3]:
        for x, y in ((1 * H, 2 * H), (8 * H, 1), (30 * M, 5 * 8 * H)):
            assert calendar.add(calendar.add(start, x), y) == calendar.add(start, x + y)
        end = start + timedelta(days=9, hours=7)
        mid = start + timedelta(days=4, hours=1, minutes=3)
        assert calendar.between(start, end) == calendar.between(start, mid) + calendar.between(mid, end)
        # add(between) reaches the last business instant at or before `end`
        back = calendar.add(start, calendar.between(start, end))
        assert back <= end or calendar.between(start, end) == 0
        assert calendar.between(back, end) == 0.0


def test_sixty_business_days_is_fast() -> None:
    c = cal(timezone="Europe/Berlin", holidays=tuple(f"2026-12-{d:02d}" for d in range(20, 32)))
    t0 = wallclock.perf_counter()
    for i in range(200):
        start = utc(2026, 9, 1) + timedelta(hours=i * 7)
        due = c.add(start, 60 * c.day_seconds)
        assert c.between(start, due) == 60 * c.day_seconds
    assert wallclock.perf_counter() - t0 < 2.0


# ------------------------------------------------------------- pause and resume


def test_pause_over_a_weekend_then_resume() -> None:
    c = DEFAULT
    sla = 16 * H  # "2d"
    start = utc(2026, 1, 15, 10)  # Thursday 10:00
    assert c.add(start, sla) == utc(2026, 1, 19, 10)  # no pause: Monday 10:00
    pause = utc(2026, 1, 16, 12)  # Friday 12:00: 7h (Thu) + 3h (Fri) consumed
    consumed = c.between(start, pause)
    assert consumed == 10 * H
    resume = utc(2026, 1, 19, 11)  # Monday 11:00 (Fri 12-17 and Mon 9-11 were paused)
    remaining = sla - consumed
    assert c.add(resume, remaining) == utc(2026, 1, 19, 17)


def test_resume_outside_hours_waits_for_opening() -> None:
    c = cal(timezone="America/New_York")
    sla = 8 * H
    start = local("America/New_York", 2026, 1, 16, 14)  # Friday 14:00 EST
    pause = local("America/New_York", 2026, 1, 16, 16)  # 2h consumed
    resume = local("America/New_York", 2026, 1, 18, 20)  # Sunday evening
    due = c.add(resume, sla - c.between(start, pause))
    assert due == utc(2026, 1, 19, 20)  # Monday 15:00 EST


def test_pause_resume_in_slices_matches_uninterrupted_when_pauses_are_off_hours() -> None:
    # Pausing only while the calendar is closed must not move the deadline.
    c = cal(timezone="Europe/Berlin")
    sla = 3 * 8 * H
    start = local("Europe/Berlin", 2026, 3, 25, 11)  # Wednesday, DST weekend ahead
    expected = c.add(start, sla)
    pause = local("Europe/Berlin", 2026, 3, 27, 18)  # Friday evening, closed
    resume = local("Europe/Berlin", 2026, 3, 30, 8)  # Monday before opening
    due = c.add(resume, sla - c.between(start, pause))
    assert due == expected == local("Europe/Berlin", 2026, 3, 30, 11)


# --------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "weekdays"}, "calendar.kind"),
        ({"timezone": "Mars/Olympus_Mons"}, "calendar.timezone"),
        ({"timezone": ""}, "calendar.timezone"),
        ({"timezone": "../../etc/passwd"}, "calendar.timezone"),
        ({"working_days": ("mon", "funday")}, "calendar.working_days"),
        ({"working_days": ()}, "calendar.working_days"),
        ({"working_days": "mon"}, "calendar.working_days"),
        ({"start": "9am"}, "calendar.start"),
        ({"start": "25:00"}, "calendar.start"),
        ({"start": "24:00", "end": "24:00"}, "calendar.start"),
        ({"end": "17:60"}, "calendar.end"),
        ({"start": "17:00", "end": "09:00"}, "calendar.end"),
        ({"start": "09:00", "end": "09:00"}, "calendar.end"),
        ({"holidays": ("2026-02-30",)}, "calendar.holidays"),
        ({"holidays": ("next friday",)}, "calendar.holidays"),
        ({"holidays": "2026-01-01"}, "calendar.holidays"),
    ],
)
def test_invalid_spec(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        cal(**kwargs)


def test_day_names_are_case_insensitive_and_may_be_spelled_out() -> None:
    c = cal(working_days=("Monday", "TUE"))
    assert c.add(utc(2026, 1, 13, 16), 2 * H) == utc(2026, 1, 19, 10)  # Tue -> next Mon


def test_naive_datetimes_rejected() -> None:
    naive = datetime(2026, 1, 12, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.add(naive, 60)
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.between(naive, utc(2026, 1, 13))
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.is_open(naive)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf")])
def test_bad_amounts_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        DEFAULT.add(utc(2026, 1, 12, 10), bad)


def test_calendar_that_never_opens_raises_instead_of_looping() -> None:
    mondays = []
    d = date(2026, 1, 5)
    while d.year < 2037:
        mondays.append(d.isoformat())
        d += timedelta(days=7)
    c = cal(working_days=("mon",), holidays=tuple(mondays))
    t0 = wallclock.perf_counter()
    with pytest.raises(ValueError, match=str(MAX_WALK_DAYS)):
        c.add(utc(2026, 1, 1), 1 * H)
    with pytest.raises(ValueError):
        c.next_open(utc(2026, 1, 1))
    assert c.between(utc(2026, 1, 1), utc(2030, 1, 1)) == 0.0
    assert wallclock.perf_counter() - t0 < 2.0


def test_amount_beyond_horizon_raises() -> None:
    with pytest.raises(ValueError, match="business seconds"):
        DEFAULT.add(utc(2026, 1, 1), 10_000 * 8 * H)
