"""domain.away: absence dates as instants in the charter's time zone (both ends inclusive), and who stands in."""

from __future__ import annotations

from datetime import UTC, date, datetime

from domain.away import instants, next_start, range_problem, reach_problem, stand_in_for, stand_ins
from domain.model.away import Absence

NY = "America/New_York"


def away(email: str, stand_in: str, first: date, last: date, *, cleared: bool = False) -> Absence:
    starts_at, ends_at = instants(first, last, NY)
    return Absence(email=email, starts_at=starts_at, ends_at=ends_at, stand_in=stand_in, cleared=cleared)


def test_dates_are_whole_days_in_the_charter_time_zone_until_inclusive() -> None:
    # the day clocks went forward in New York (2026-03-08) is 23 hours long
    assert instants(date(2026, 3, 8), date(2026, 3, 8), NY) == (
        datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC))
    assert instants(date(2026, 12, 31), date(2027, 1, 1), "UTC") == (
        datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
    assert range_problem(date(2026, 3, 9), date(2026, 3, 8)) is not None
    assert range_problem(date(2026, 3, 8), date(2026, 3, 8)) is None  # one day


def test_an_absence_reaches_at_most_a_year_back_and_two_years_ahead() -> None:
    today = date(2026, 12, 7)
    assert reach_problem(date(2025, 12, 7), date(2028, 12, 7), today) is None  # both ends included
    assert reach_problem(date(2025, 12, 6), date(2026, 12, 8), today) == (
        "from", "an absence starts at most a year before today, 2025-12-07 at the earliest (not 2025-12-06)")
    assert reach_problem(date(2026, 12, 7), date(2028, 12, 8), today) == (
        "until", "an absence ends at most two years after today, 2028-12-07 at the latest (not 2028-12-08)")
    # what QA sent: a last day whose end is past datetime.max; a first day that starts before datetime.min in UTC
    # when the charter is east of it (Asia/Tokyo)
    assert [(reach_problem(first, last, today) or ("", ""))[0] for first, last in [
        (date(2026, 12, 7), date(9999, 12, 31)), (date(1, 1, 1), date(2026, 12, 8))]] == ["until", "from"]
    # 29 February: a year before it and two after it are the 28th
    assert reach_problem(date(2027, 2, 28), date(2030, 2, 28), date(2028, 2, 29)) is None
    assert reach_problem(date(2027, 2, 27), date(2028, 3, 1), date(2028, 2, 29)) is not None


def test_stand_ins_follow_a_stand_in_who_is_away_too_and_stop_at_a_loop() -> None:
    told = {a.email: a for a in [
        away("a@x", "b@x", date(2026, 3, 10), date(2026, 3, 20)),
        away("b@x", "c@x", date(2026, 3, 12), date(2026, 3, 14)),
        away("c@x", "a@x", date(2026, 3, 13), date(2026, 3, 13)),
    ]}

    def at(day: int) -> datetime:
        return datetime(2026, 3, day, 12, tzinfo=UTC)

    assert stand_in_for("a@x", told, at(11)) == "b@x"
    assert stand_in_for("a@x", told, at(12)) == "c@x"  # b is away too: c takes it
    assert stand_in_for("a@x", told, at(13)) == "c@x"  # c is away as well, but back round to a: stop at c
    assert stand_in_for("a@x", told, at(21)) is None  # back
    assert stand_in_for("z@x", told, at(12)) is None
    assert stand_ins(told, at(12)) == {"a@x": "c@x", "b@x": "c@x"}
    assert next_start(told, at(11)) == datetime(2026, 3, 12, 4, tzinfo=UTC)
    cleared = {**told, "b@x": told["b@x"].model_copy(update={"cleared": True})}
    assert stand_in_for("a@x", cleared, at(12)) == "b@x" and next_start(cleared, at(11)) == told["c@x"].starts_at
