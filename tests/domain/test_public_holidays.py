"""Public holidays named by country and subdivision (`calendar.holidays_from`, the `holidays` package):
parsed into dates when the charter is read, skipped by business-time deadlines, and pinned with the
charter a dispute carries. Every date here is fixed: nothing depends on the day the suite runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain import public_holidays
from domain.charter import Charter, CharterError, parse_charter
from domain.lifecycle import Dispute
from domain.model import DisputeStart, Party

CHARTERS = Path(__file__).resolve().parents[2] / "charters"
NY, LONDON = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")
H = 3600.0

BASE = """
name = "Holidays"
version = "h-1"

[calendar]
kind = "business"
timezone = "{timezone}"
{lines}

[tiers]
frontline = {{ sla = "2d" }}
mediation = {{ sla = "3d" }}
executive = {{ sla = "5d" }}

[routing]
default_mediator = "mediator@example.com"
executive = "exec@example.com"
"""


def charter(*lines: str, timezone: str = "America/New_York") -> Charter:
    return parse_charter(BASE.format(timezone=timezone, lines="\n".join(lines)))


def refusal(*lines: str) -> CharterError:
    with pytest.raises(CharterError) as caught:
        charter(*lines)
    return caught.value


# --- parsing -------------------------------------------------------------------------------------------

def test_countries_and_subdivisions_become_dates_beside_the_charters_own() -> None:
    c = charter('holidays_from = ["US", "GB-ENG"]', 'holidays = ["2026-12-24"]')
    public = set(c.calendar.public_holidays)
    assert {"2026-11-26", "2027-11-25"} <= public  # Thanksgiving (US)
    assert {"2026-08-31", "2026-12-28"} <= public  # Late Summer Bank Holiday, Boxing Day observed (England)
    assert "2026-03-17" not in public  # St Patrick's Day is Northern Ireland's, not England's
    assert c.calendar.holidays == ("2026-12-24",)  # the charter's own dates stay its own
    assert {"2026-11-26", "2026-12-24"} <= set(c.calendar.spec().holidays)  # both are days off
    assert all(int(day[:4]) in public_holidays.YEARS for day in public)
    dates = list(c.calendar.public_holidays)
    assert dates == sorted(public)  # sorted, each once


def test_no_holidays_from_adds_nothing() -> None:
    c = charter('holidays = ["2026-12-25"]')
    assert (c.calendar.holidays_from, c.calendar.public_holidays) == ((), ())
    assert c.calendar.spec().holidays == ("2026-12-25",)


@pytest.mark.parametrize(("value", "words"), [
    ('["XX"]', "'XX' is not a country the holidays package knows"),
    ('["us"]', "did you mean 'US'?"),
    ('["GB-XYZ"]', "GB has no subdivision 'XYZ'"),
    ('["US", "GB-eng"]', "did you mean GB-ENG?"),
    ('"US"', "must be a list of country codes"),
    ('[1]', "1 is not a country code"),
])
def test_an_unknown_code_is_refused_naming_the_key_and_the_code(value: str, words: str) -> None:
    error = refusal(f"holidays_from = {value}")
    assert "calendar.holidays_from" in str(error) and words in str(error)
    assert error.problems[0][0] == "calendar.holidays_from" and words in error.problems[0][1]


def test_every_problem_is_named_with_its_key() -> None:
    error = charter_error_of('holidays_from = ["XX"]', timezone="Mars/Base")
    keys = [key for key, _ in error.problems]
    assert keys == ["calendar.holidays_from", "calendar.timezone"]


def charter_error_of(*lines: str, timezone: str) -> CharterError:
    with pytest.raises(CharterError) as caught:
        charter(*lines, timezone=timezone)
    return caught.value


def test_the_dates_are_not_typed_in_the_charter() -> None:
    error = refusal('public_holidays = ["2026-01-02"]')
    assert error.problems[0][0] == "calendar.public_holidays"
    assert "calendar.holidays" in error.problems[0][1]


def test_names_for_people() -> None:
    names = public_holidays.names_in_year(["US", "GB-ENG"], 2026)
    assert names[datetime(2026, 11, 26).date()] == ["Thanksgiving Day (US)"]
    assert names[datetime(2026, 12, 25).date()] == ["Christmas Day (US)", "Christmas Day (GB-ENG)"]


# --- business time ---------------------------------------------------------------------------------

def test_a_deadline_skips_thanksgiving_2026() -> None:
    filed = datetime(2026, 11, 25, 10, 0, tzinfo=NY)  # Wednesday before Thanksgiving
    plain, us = charter(), charter('holidays_from = ["US"]')
    # 16 business hours: Wed 7 h, (Thu 26 Thanksgiving), Fri 8 h, Mon 1 h
    assert us.business_calendar().add(filed, us.seconds("2d")) == datetime(2026, 11, 30, 10, 0, tzinfo=NY)
    assert plain.business_calendar().add(filed, plain.seconds("2d")) == datetime(2026, 11, 27, 10, 0, tzinfo=NY)


def test_a_deadline_skips_an_english_bank_holiday() -> None:
    c = charter('holidays_from = ["GB-ENG"]', timezone="Europe/London")
    friday = datetime(2026, 8, 28, 15, 0, tzinfo=LONDON)
    # 8 business hours: Fri 2 h, (Mon 31 August, the Late Summer Bank Holiday), Tue 6 h
    assert c.business_calendar().add(friday, 8 * H) == datetime(2026, 9, 1, 15, 0, tzinfo=LONDON)
    assert not c.business_calendar().is_working_day(datetime(2026, 8, 31).date())
    scotland = charter('holidays_from = ["GB-SCT"]', timezone="Europe/London")  # Scotland's is on 3 August
    assert scotland.business_calendar().is_working_day(datetime(2026, 8, 31).date())


def test_the_shipped_us_charter_skips_federal_holidays_and_its_own_days() -> None:
    c = parse_charter((CHARTERS / "us_holidays.toml").read_text())
    cal = c.business_calendar()
    for day in ("2026-11-26", "2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01", "2027-02-15"):
        assert not cal.is_working_day(datetime.fromisoformat(day).date()), day
    assert cal.is_working_day(datetime(2026, 11, 27).date())


# --- pinned with the dispute -----------------------------------------------------------------------

def _start(c: Charter) -> dict[str, Any]:
    dana = Party(email="dana@corp.example", name="Dana Direct", channel="direct")
    pat = Party(email="pat@partner.example", name="Pat Partner", channel="partner", partner_org="Resellers Inc")
    return DisputeStart.model_validate({
        "id": "D-1", "filer": dana, "counterparty": pat, "mediator": "mediator@example.com",
        "executive": "exec@example.com", "backup_executive": None, "charter": c,
        "filing": {"title": "Overlap on Acme", "conflict_type": "account_ownership", "account": "Acme",
                   "deal_value": 120_000, "region": "AMER", "description": "Both sides claim it.",
                   "counterparty_email": pat.email, "partner_org": "Resellers Inc"},
    }).model_dump(mode="json")  # as it crosses Temporal


def test_a_dispute_counts_on_the_dates_its_charter_carries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow rebuilds the charter from its input: it uses the dates carried there and never
    runs the package (so a later release of it cannot move a running dispute's deadline)."""
    dumped = _start(charter('holidays_from = ["US"]'))

    def no_package(codes: object) -> tuple[str, ...]:
        raise AssertionError("the holidays package ran inside the workflow's code")

    monkeypatch.setattr(public_holidays, "expand", no_package)
    filed = datetime(2026, 11, 25, 10, 0, tzinfo=NY)
    d = Dispute(DisputeStart.model_validate(dumped), filed)
    assert d.clock is not None and d.clock.due_at(d.cal) == datetime(2026, 11, 30, 10, 0, tzinfo=NY)

    dumped["charter"]["calendar"]["public_holidays"] = ["2026-11-25"]  # other dates than today's package gives
    d = Dispute(DisputeStart.model_validate(dumped), filed)
    # counting starts on Thursday (a working day for this dispute's charter): Thu 8 h, Fri 8 h
    assert d.clock is not None and d.clock.due_at(d.cal) == datetime(2026, 11, 27, 17, 0, tzinfo=NY)


def test_charters_from_older_histories_have_no_public_holidays() -> None:
    dumped = charter().model_dump(mode="json")
    del dumped["calendar"]["holidays_from"], dumped["calendar"]["public_holidays"]
    again = Charter.model_validate(dumped)
    assert (again.calendar.holidays_from, again.calendar.public_holidays) == ((), ())
