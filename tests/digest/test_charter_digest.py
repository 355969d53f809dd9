"""The charter's `[digest] cron`: optional (08:00 on Mondays), checked at load, errors naming `digest.cron`."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.charter import Charter, CharterError, parse_charter
from domain.cron import check_cron, five_fields

CHARTERS = Path(__file__).resolve().parents[2] / "charters"
MINIMAL = """
name = "Minimal"
version = "m-1"

[tiers]
frontline = { sla = "2d" }
mediation = { sla = "3d" }
executive = { sla = "5d" }

[routing]
default_mediator = "mediator@example.com"
executive = "exec@example.com"
"""


def test_the_section_is_optional_and_defaults_to_monday_eight() -> None:
    assert parse_charter(MINIMAL).digest.cron == "0 8 * * MON"


@pytest.mark.parametrize("name", ["default.toml", "fast.toml", "us_holidays.toml"])
def test_the_shipped_charters_send_it_on_monday_morning(name: str) -> None:
    assert parse_charter((CHARTERS / name).read_text()).digest.cron == "0 8 * * MON"


def test_a_charter_from_before_the_section_still_travels() -> None:
    dumped = parse_charter(MINIMAL).model_dump(mode="json")
    del dumped["digest"]  # what workflows started before the section existed carry
    assert Charter.model_validate(dumped).digest.cron == "0 8 * * MON"


@pytest.mark.parametrize(("cron", "tidy"), [
    ("0 8 * * MON", "0 8 * * MON"), ("  30   7  *  *  1-5 ", "30 7 * * 1-5"), ("*/15 9-17/2 ? JAN-MAR SUN", None),
    ("0 8 1,15 * *", None), ("5/10 * * * 7", None), ("@weekly", None), ("@Daily", "@daily"),
])
def test_good_expressions(cron: str, tidy: str | None) -> None:
    assert parse_charter(MINIMAL + f'\n[digest]\ncron = "{cron}"\n').digest.cron == (tidy or cron)


@pytest.mark.parametrize(("cron", "words"), [
    ("", "is empty"), ("0 8 * *", "has 4 fields"), ("0 24 * * *", "hour 24 is outside 0-23"),
    ("0 8 * * FUNDAY", "day of the week 'FUNDAY' is not a number or a name (SUN-SAT)"),
    ("0 8 32 * *", "day of the month 32 is outside 1-31"), ("0 8 * 13 *", "month 13 is outside 1-12"),
    ("*/0 8 * * *", "step must be 1 or more"), ("0 17-9 * * *", "runs backwards"), ("? 8 * * *", "only for the day"),
    ("CRON_TZ=Europe/Paris 0 8 * * *", "time zone of the charter's calendar"), ("@every 1h", "is not one of"),
    ("0 8 * * MON!", "not a value, a range or a step"),
])
def test_a_bad_expression_names_the_key(cron: str, words: str) -> None:
    with pytest.raises(CharterError) as caught:
        parse_charter(MINIMAL + f'\n[digest]\ncron = "{cron}"\n')
    [(key, message)] = caught.value.problems
    assert key == "digest.cron" and words in message
    assert "digest.cron" in str(caught.value)


def test_unknown_keys_of_the_section_are_refused_by_name() -> None:
    with pytest.raises(CharterError, match="digest.when"):
        parse_charter(MINIMAL + '\n[digest]\nwhen = "mondays"\n')


def test_macros_are_spelt_out_for_the_schedule() -> None:
    assert five_fields(check_cron("@weekly")) == "0 0 * * 0"
    assert five_fields(check_cron("0 8 * * MON")) == "0 8 * * MON"
