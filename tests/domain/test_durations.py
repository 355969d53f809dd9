from __future__ import annotations

import pytest

from domain.calendar import BusinessCalendar, CalendarSpec
from domain.durations import format_duration, parse_duration

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
