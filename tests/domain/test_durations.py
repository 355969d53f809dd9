from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.calendar import BusinessCalendar, CalendarSpec
from domain.durations import format_business_time, format_due, format_duration, parse_duration, plural

BUSINESS_DAY = 8 * 3600.0
FULL_DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", 90),
        ("15m", 15 * 60),
        ("4h", 4 * 3600),
        ("1d", BUSINESS_DAY),
        ("2d", 2 * BUSINESS_DAY),
        ("1.5d", 1.5 * BUSINESS_DAY),
        ("0.5h", 1800),
        (".5h", 1800),
        ("1d4h", BUSINESS_DAY + 4 * 3600),
        ("1d 4h", BUSINESS_DAY + 4 * 3600),
        ("2h30m", 2 * 3600 + 30 * 60),
        ("1h1m1s", 3661),
        ("1d2h3m4s", BUSINESS_DAY + 7384),
        ("  4H ", 4 * 3600),
        ("0d1s", 1),
        ("36h", 36 * 3600),
    ],
)
def test_parse(text: str, expected: float) -> None:
    assert parse_duration(text, BUSINESS_DAY) == pytest.approx(expected)


def test_day_unit_follows_the_calendar() -> None:
    nine_to_five = BusinessCalendar(CalendarSpec())
    always = BusinessCalendar(CalendarSpec(kind="24x7"))
    assert parse_duration("2d", nine_to_five.day_seconds) == 16 * 3600
    assert parse_duration("2d", always.day_seconds) == 48 * 3600
    long_day = BusinessCalendar(CalendarSpec(start="08:00", end="18:30"))
    assert parse_duration("1.5d", long_day.day_seconds) == 1.5 * 10.5 * 3600
    # h/m/s do not depend on the calendar
    assert parse_duration("4h", nine_to_five.day_seconds) == parse_duration("4h", always.day_seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "-4h",
        "-1d",
        "0h",
        "0d0h",
        "0",
        "4",
        "h",
        "4x",
        "4hours",
        "3w",
        "1y",
        "4h-1m",
        "1..5d",
        "4h 30",
        "4h4h",
        "30m2h",
        "1e3s",
        "+4h",
        "four hours",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration(text, BUSINESS_DAY)
    assert repr(text) in str(excinfo.value)


def test_parse_rejects_unknown_unit_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"unknown unit 'w'"):
        parse_duration("2w", BUSINESS_DAY)


def test_parse_rejects_bad_day_length() -> None:
    with pytest.raises(ValueError, match="day length"):
        parse_duration("1d", 0)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(ValueError):
        parse_duration(4, BUSINESS_DAY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (0.4, "0s"),
        (1, "1s"),
        (45, "45s"),
        (59.6, "1m"),
        (60, "1m"),
        (61, "1m 1s"),
        (150, "2m 30s"),
        (3600, "1h"),
        (9000, "2h 30m"),
        (8999, "2h 30m"),  # rounded to the smaller unit shown
        (7260, "2h 1m"),
        (86399, "1d"),
        (86400, "1d"),
        (90061, "1d 1h"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
        (3 * 86400 + 5, "3d"),
        (-150, "-2m 30s"),
        (28800, "8h"),
    ],
)
def test_format(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_format_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        format_duration(float("nan"))


def test_round_trip_on_a_24x7_day() -> None:
    for text in ("90s", "15m", "4h", "2d", "1d4h", "2h 30m"):
        seconds = parse_duration(text, FULL_DAY)
        assert parse_duration(format_duration(seconds).replace(" ", ""), FULL_DAY) == seconds


# --- business time as people read it ---------------------------------------------------------------

NINE_TO_FIVE = BusinessCalendar(CalendarSpec(timezone="America/New_York"))
HALF_PAST = BusinessCalendar(CalendarSpec(start="09:00", end="17:30"))
ALWAYS = BusinessCalendar(CalendarSpec(kind="24x7"))
H = 3600


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        # three 8-hour business days: once shown as "1d 0h of business time left"
        (3 * 8 * H, "3 business days"),
        (2 * 8 * H + 3 * H, "2 business days 3 h"),
        (8 * H, "1 business day"),
        (8 * H + 30 * 60, "1 business day 1 h"),  # rounded to the hour once days are shown
        (2 * 8 * H + 7.6 * H, "3 business days"),  # 7.6 h rounds up to a whole working day
        (7 * H + 59 * 60 + 50, "1 business day"),
        (5.5 * H, "5 h 30 min"),
        (H, "1 h"),
        (125, "2 min 5 s"),
        (59.6, "1 min"),
        (8, "8 s"),
        (0.2, "0 s"),
        (-(2 * 8 * H + 3 * H), "2 business days 3 h"),  # the magnitude: the caller says "over"
    ],
)
def test_business_time_counts_working_days(seconds: float, expected: str) -> None:
    assert format_business_time(seconds, NINE_TO_FIVE) == expected


def test_business_days_follow_the_calendar() -> None:
    assert format_business_time(17 * H, HALF_PAST) == "2 business days"  # 8.5 h a day
    assert format_business_time(24 * H, ALWAYS) == "1 day"  # round the clock: plain days of 24 h
    assert format_business_time(2 * 86400 + 3 * H, ALWAYS) == "2 days 3 h"
    assert format_business_time(23 * H, ALWAYS) == "23 h"
    with pytest.raises(ValueError):
        format_business_time(float("inf"), NINE_TO_FIVE)


def test_the_due_time_is_wall_clock_in_the_charters_zone() -> None:
    due = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    assert format_due(due, NINE_TO_FIVE) == "Tue 10 Mar 2026, 17:00 EDT"
    assert format_due(datetime(2026, 1, 6, 22, 0, tzinfo=UTC), NINE_TO_FIVE) == "Tue 6 Jan 2026, 17:00 EST"
    assert format_due(due, ALWAYS) == "Tue 10 Mar 2026, 21:00 UTC"


def test_plural() -> None:
    assert plural(1, "dispute") == "1 dispute"
    assert plural(12, "event") == "12 events"
    assert plural(0, "event") == "0 events"
    assert plural(1204, "event") == "1,204 events"
    assert plural(2, "business day") == "2 business days"
