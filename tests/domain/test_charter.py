from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from domain.charter import Charter, CharterError, Routing, parse_charter
from domain.model import ConflictType

CHARTERS = Path(__file__).resolve().parents[2] / "charters"
BUSINESS_DAY = 8 * 3600.0

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


def load(name: str) -> Charter:
    return parse_charter((CHARTERS / name).read_text())


def with_lines(*extra: str, base: str = MINIMAL) -> str:
    """MINIMAL with TOML lines inserted at the top level, before any table."""
    head, sep, tail = base.partition("\n[tiers]")
    return head + "\n" + "\n".join(extra) + "\n" + sep + tail


# --------------------------------------------------------------------------- shipped charters


def test_default_charter_loads() -> None:
    text = (CHARTERS / "default.toml").read_text()
    charter = parse_charter(text)
    assert charter.version == "2026.1"
    assert charter.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert charter.version_id == f"2026.1+{charter.sha256[:8]}"
    assert charter.calendar.kind == "business"
    assert charter.calendar.timezone == "America/New_York"
    assert charter.seconds(charter.tiers.frontline.sla) == 2 * BUSINESS_DAY
    assert charter.seconds(charter.tiers.mediation.sla) == 3 * BUSINESS_DAY
    assert charter.seconds(charter.tiers.executive.sla) == 5 * BUSINESS_DAY
    assert charter.seconds(charter.tiers.appeal_window) == BUSINESS_DAY
    assert charter.reminder_fractions(1) == (0.5, 0.9)
    assert charter.tiers.executive.breach_repeats == 3
    assert charter.auto_approval.max_share_pct == 70
    assert charter.auto_approval.allow_discount_cap is False
    assert charter.routing.backup_executive == "exec.backup@example.com"
    assert set(charter.conflict_types) == set(ConflictType)


def test_fast_charter_loads() -> None:
    charter = load("fast.toml")
    assert charter.calendar.kind == "24x7"
    assert charter.business_calendar().day_seconds == 86400.0
    assert [charter.seconds(t.sla) for t in (charter.tiers.frontline, charter.tiers.mediation,
                                             charter.tiers.executive)] == [4, 8, 4]
    assert charter.seconds(charter.tiers.appeal_window) == 4
    assert charter.reminder_fractions(2) == (0.5,)
    assert charter.routing.mediator_for("APAC", None) == "mediator@example.com"
    assert charter.routing.executive == "exec@example.com"
    assert charter.routing.backup_executive == "exec.backup@example.com"


def test_version_id_changes_with_the_text() -> None:
    a = parse_charter(MINIMAL)
    b = parse_charter(MINIMAL + "\n# a comment changes the hash\n")
    assert a.version == b.version
    assert a.version_id != b.version_id


def test_minimal_charter_gets_defaults() -> None:
    charter = parse_charter(MINIMAL)
    assert charter.calendar.kind == "business" and charter.calendar.timezone == "UTC"
    assert charter.tiers.reminders == (0.5, 0.9)
    assert charter.seconds(charter.tiers.appeal_window) == BUSINESS_DAY
    assert charter.routing.backup_executive is None
    assert set(charter.conflict_types) == set(ConflictType)


def test_tier_reminders_override_the_default_and_are_sorted() -> None:
    text = MINIMAL.replace('mediation = { sla = "3d" }', 'mediation = { sla = "3d", reminders = [0.75, 0.25] }')
    charter = parse_charter(text)
    assert charter.reminder_fractions(1) == (0.5, 0.9)
    assert charter.reminder_fractions(2) == (0.25, 0.75)


def test_global_reminders_are_sorted() -> None:
    charter = parse_charter(MINIMAL.replace("[tiers]\n", "[tiers]\nreminders = [0.9, 0.5]\n"))
    assert charter.tiers.reminders == (0.5, 0.9)


# --------------------------------------------------------------------------- validation errors


def error_of(text: str) -> str:
    with pytest.raises(CharterError) as info:
        parse_charter(text)
    return str(info.value)


def test_bad_toml_is_refused() -> None:
    message = error_of(MINIMAL + "\nthis is = = not toml\n")
    assert "not valid TOML" in message


def test_bad_timezone_names_the_key() -> None:
    message = error_of(with_lines() + '\n[calendar]\ntimezone = "Mars/Olympus_Mons"\n')
    assert "calendar.timezone" in message
    assert "Mars/Olympus_Mons" in message


def test_bad_duration_names_the_key_and_text() -> None:
    message = error_of(MINIMAL.replace('frontline = { sla = "2d" }', 'frontline = { sla = "2 fortnights" }'))
    assert "tiers.frontline.sla" in message
    assert "2 fortnights" in message
    assert "invalid duration" in message


@pytest.mark.parametrize(("tier", "line"), [("mediation", 'mediation = { sla = "3d" }'),
                                            ("executive", 'executive = { sla = "5d" }')])
def test_zero_sla_names_the_tier(tier: str, line: str) -> None:
    message = error_of(MINIMAL.replace(line, f'{tier} = {{ sla = "0s" }}'))
    assert f"tiers.{tier}.sla" in message
    assert "greater than zero" in message


def test_bad_appeal_window_is_refused() -> None:
    message = error_of(MINIMAL.replace("[tiers]\n", '[tiers]\nappeal_window = "-1d"\n'))
    assert "tiers.appeal_window" in message
    assert "-1d" in message


@pytest.mark.parametrize("fractions", ["[0.5, 1.0]", "[0.0]", "[1.5]", "[-0.1]"])
def test_reminder_fraction_out_of_range_names_the_key(fractions: str) -> None:
    message = error_of(MINIMAL.replace("[tiers]\n", f"[tiers]\nreminders = {fractions}\n"))
    assert "tiers.reminders" in message
    assert "between 0 and 1" in message


def test_unknown_key_is_refused_by_name() -> None:
    message = error_of(MINIMAL.replace("[tiers]\n", "[tiers]\nescalate_on_friday = true\n"))
    assert "tiers.escalate_on_friday" in message


def test_missing_section_names_it() -> None:
    message = error_of(MINIMAL.split("[routing]")[0])
    assert "routing" in message


def test_auto_approval_share_below_half_is_refused() -> None:
    message = error_of(MINIMAL + "\n[auto_approval]\nmax_share_pct = 40\n")
    assert "auto_approval.max_share_pct" in message


def test_breach_repeats_is_bounded() -> None:
    message = error_of(MINIMAL.replace('executive = { sla = "5d" }', 'executive = { sla = "5d", breach_repeats = 99 }'))
    assert "tiers.executive.breach_repeats" in message


def test_bad_calendar_hours_are_refused() -> None:
    message = error_of(MINIMAL + '\n[calendar]\nstart = "17:00"\nend = "09:00"\n')
    assert "calendar.end" in message


def test_unknown_conflict_type_is_refused() -> None:
    message = error_of(MINIMAL + '\n[conflict_types]\nturf_war = { description = "x" }\n')
    assert "conflict_types.turf_war" in message


def test_all_zero_weights_are_refused() -> None:
    message = error_of(MINIMAL + "\n[weights]\nwin_probability = 0\nlifetime_value = 0\nstrategic_fit = 0\n")
    assert "weights" in message and "positive" in message


@pytest.mark.parametrize("value", ["-5", "101", '"ten"'])
def test_a_follows_tolerance_outside_0_to_100_is_refused_naming_the_key(value: str) -> None:
    with pytest.raises(CharterError) as info:
        parse_charter(MINIMAL + f"\n[weights]\nfollows_tolerance_pct = {value}\n")
    assert [key for key, _ in info.value.problems] == ["weights.follows_tolerance_pct"]


def test_the_follows_tolerance_defaults_to_10_and_the_shipped_charters_set_it() -> None:
    assert parse_charter(MINIMAL).weights.follows_tolerance_pct == 10
    assert parse_charter(MINIMAL + "\n[weights]\nfollows_tolerance_pct = 0\n").weights.follows_tolerance_pct == 0
    for name in ("default.toml", "fast.toml"):
        assert "follows_tolerance_pct" in (CHARTERS / name).read_text()
        assert load(name).weights.follows_tolerance_pct == 10


# --------------------------------------------------------------------------- routing


def routing(**kwargs: object) -> Routing:
    return Routing.model_validate({"default_mediator": "m@x.io", "executive": "e@x.io", **kwargs})


def test_mediator_routing_by_region_and_segment() -> None:
    r = routing(mediators=[
        {"region": "EMEA", "segment": "smb", "mediator": "emea.smb@x.io"},
        {"region": "EMEA", "mediator": "emea@x.io"},
        {"segment": "ent", "mediator": "ent@x.io"},
    ])
    assert r.mediator_for("EMEA", "smb") == "emea.smb@x.io"
    assert r.mediator_for("EMEA", None) == "emea@x.io"
    assert r.mediator_for("EMEA", "ent") == "emea@x.io"
    assert r.mediator_for("AMER", "ent") == "ent@x.io"
    assert r.mediator_for("AMER", None) == "m@x.io"


@pytest.mark.parametrize(
    ("account", "value", "tier"),
    [
        ("Acme", 1_000, 1),
        ("Acme", 500_000, 1),  # thresholds are strict: "over"
        ("Acme", 500_001, 2),
        ("Acme", 5_000_000, 2),
        ("Acme", 5_000_001, 3),
        ("Globex", 1_000, 2),  # priority account
        ("globex", 1_000, 2),  # case-insensitive
        ("Globex", 9_000_000, 3),  # the larger of the two wins
    ],
)
def test_default_charter_start_tier(account: str, value: float, tier: int) -> None:
    assert load("default.toml").routing.start_tier(account, value, "USD") == tier


def test_priority_tier_three() -> None:
    r = routing(priority_accounts=["Vip"], priority_tier=3)
    assert r.start_tier("VIP", 1.0, "USD") == 3
    assert r.start_tier("Other", 1.0, "USD") == 1


# --------------------------------------------------------------------------- deal values in other currencies

def in_euros(**kwargs: object) -> Routing:
    """Thresholds of 500,000 and 5,000,000 EUR; one GBP is 1.2 EUR, one JPY 0.006 EUR; no rate for USD."""
    return routing(currency="EUR", exchange_rates={"GBP": 1.2, "JPY": 0.006}, mediation_over=500_000,
                   executive_over=5_000_000, priority_accounts=["Globex"], **kwargs)


@pytest.mark.parametrize(
    ("value", "currency", "tier"),
    [
        (500_000, "EUR", 1), (500_001, "EUR", 2), (5_000_000, "EUR", 2), (5_000_001, "EUR", 3),  # as they are
        (416_000, "GBP", 1),  # 499,200 EUR
        (417_000, "GBP", 2),  # 500,400 EUR
        (4_166_000, "GBP", 2),  # 4,999,200 EUR
        (4_167_000, "GBP", 3),  # 5,000,400 EUR
        (83_000_000, "JPY", 1),  # 498,000 EUR
        (84_000_000, "JPY", 2),  # 504,000 EUR
        (833_000_000, "JPY", 2),  # 4,998,000 EUR
        (834_000_000, "JPY", 3),  # 5,004,000 EUR
    ],
)
def test_a_deal_value_is_compared_in_the_charters_currency(value: float, currency: str, tier: int) -> None:
    r = in_euros()
    assert r.start_tier("Acme", value, currency) == tier
    assert r.not_compared(currency) is None


@pytest.mark.parametrize("value", [1.0, 600_000, 6_000_000, 60_000_000_000])
def test_a_deal_value_in_a_currency_without_a_rate_is_not_compared(value: float) -> None:
    r = in_euros()
    assert r.in_charter_currency(value, "USD") is None
    assert r.start_tier("Acme", value, "USD") == 1
    assert r.start_tier("Acme", value, "IDR") == 1
    assert r.not_compared("IDR") == ("the charter has no exchange rate for IDR (routing.exchange_rates), so the deal "
                                     "value was not compared with its thresholds for skipping tiers (in EUR)")


@pytest.mark.parametrize("priority_tier", [2, 3])
def test_priority_accounts_apply_whatever_the_currency(priority_tier: int) -> None:
    r = in_euros(priority_tier=priority_tier)
    assert r.start_tier("globex", 1.0, "IDR") == priority_tier  # not compared, still a priority account
    assert r.start_tier("Globex", 1.0, "JPY") == priority_tier
    assert r.start_tier("Globex", 834_000_000, "JPY") == 3  # the larger of the two wins


def test_without_thresholds_there_is_nothing_left_uncompared() -> None:
    r = routing(exchange_rates={"EUR": 1.1})
    assert r.start_tier("Acme", 1e11, "IDR") == 1 and r.not_compared("IDR") is None


def test_the_currency_defaults_to_usd_with_no_rates() -> None:
    r = parse_charter(MINIMAL).routing
    assert (r.currency, r.exchange_rates) == ("USD", {})
    assert r.in_charter_currency(750_000, "USD") == 750_000 and r.in_charter_currency(750_000, "EUR") is None


@pytest.mark.parametrize("name", ["default.toml", "fast.toml", "us_holidays.toml"])
def test_the_shipped_charters_say_their_currency_and_rate_the_major_ones(name: str) -> None:
    r = load(name).routing
    assert r.currency == "USD"
    assert {"EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR"} <= set(r.exchange_rates)
    assert r.in_charter_currency(6_000_000, "JPY") == pytest.approx(40_800)  # 0.0068 USD a yen
    assert r.start_tier("Acme", 60_000_000, "IDR") == 1  # about US$3,700, and no rate: not compared


def routing_problems(*lines: str) -> list[tuple[str, str]]:
    with pytest.raises(CharterError) as info:
        parse_charter(MINIMAL + "\n".join(lines) + "\n")
    return list(info.value.problems)


@pytest.mark.parametrize(("line", "key", "words"), [
    ('currency = "usd"', "routing.currency", "three-letter ISO 4217 currency code in capitals"),
    ('currency = "ABC"', "routing.currency", "ABC is not an ISO 4217 currency code"),
    ("exchange_rates = { JPX = 0.0068 }", "routing.exchange_rates.JPX", "JPX is not an ISO 4217 currency code"),
    ("exchange_rates = { eur = 1.1 }", "routing.exchange_rates.eur", "three-letter ISO 4217 currency code"),
    ("exchange_rates = { EUR = 0 }", "routing.exchange_rates.EUR", "must be greater than 0"),
    ("exchange_rates = { EUR = -1.1 }", "routing.exchange_rates.EUR", "must be greater than 0"),
    ("exchange_rates = { EUR = inf }", "routing.exchange_rates.EUR", "finite"),
    ("exchange_rates = { EUR = nan }", "routing.exchange_rates.EUR", "finite"),
    ('exchange_rates = { EUR = "1.1" }', "routing.exchange_rates.EUR", "must be a number, not text"),
    ("exchange_rates = { USD = 1 }", "routing.exchange_rates.USD", "USD is the charter's own currency"),
    ("exchange_rates = [1.1]", "routing.exchange_rates", "must be an object"),
])
def test_a_bad_currency_or_rate_is_refused_naming_the_key(line: str, key: str, words: str) -> None:
    ((found, message),) = routing_problems(line)
    assert found == key and words in message


def test_the_charters_own_currency_is_the_one_it_names() -> None:
    ((key, message),) = routing_problems('currency = "EUR"', "exchange_rates = { USD = 0.91, EUR = 1 }")
    assert key == "routing.exchange_rates.EUR"
    assert message == ("EUR is the charter's own currency (routing.currency): a deal value in it is compared as "
                       "it is; leave it out")
    assert parse_charter(MINIMAL + 'currency = "EUR"\nexchange_rates = { USD = 0.91 }\n').routing.currency == "EUR"


def test_every_bad_rate_is_named() -> None:
    problems = routing_problems("exchange_rates = { EUR = 1.1, GBP = 0, JPX = 1, USD = 1 }")
    assert [key for key, _ in problems] == ["routing.exchange_rates.GBP", "routing.exchange_rates.JPX",
                                            "routing.exchange_rates.USD"]


# --------------------------------------------------------------------------- registrations


def test_registration_rules_default_to_design_values() -> None:
    rules = parse_charter(MINIMAL).registrations
    assert (rules.approval_sla, rules.protection, rules.reminders_before_expiry) == ("2d", "90d", ("14d", "3d"))
    assert (rules.match_threshold, rules.auto_file) == (85, False)


def test_default_charter_registrations() -> None:
    charter = load("default.toml")
    rules = charter.registrations
    assert charter.approval_sla_seconds() == 2 * BUSINESS_DAY  # business time
    assert rules.protection_period == timedelta(days=90)  # calendar time
    assert rules.reminder_offsets == (timedelta(days=14), timedelta(days=3))
    assert (rules.match_threshold, rules.auto_file) == (85, False)


def test_fast_charter_registrations() -> None:
    charter = load("fast.toml")
    rules = charter.registrations
    assert charter.approval_sla_seconds() == 4
    assert rules.protection_period == timedelta(seconds=12)
    assert rules.reminder_offsets == (timedelta(seconds=4),)
    assert (rules.match_threshold, rules.auto_file) == (85, False)


def test_reminder_offsets_are_earliest_first_and_unique() -> None:
    charter = parse_charter(MINIMAL + '\n[registrations]\nreminders_before_expiry = ["3d", "14d", "72h"]\n')
    assert charter.registrations.reminder_offsets == (timedelta(days=14), timedelta(days=3))
    none = parse_charter(MINIMAL + "\n[registrations]\nreminders_before_expiry = []\n")
    assert none.registrations.reminder_offsets == ()


@pytest.mark.parametrize(("lines", "key", "words"), [
    ("match_threshold = 101", "registrations.match_threshold", "less than or equal to 100"),
    ("match_threshold = -1", "registrations.match_threshold", "greater than or equal to 0"),
    ('match_threshold = "high"', "registrations.match_threshold", "integer"),
    ('approval_sla = "soon"', "registrations.approval_sla", "invalid duration"),
    ('approval_sla = "0s"', "registrations.approval_sla", "greater than zero"),
    ('protection = "-90d"', "registrations.protection", "negative"),
    ('reminders_before_expiry = ["1 week"]', "registrations.reminders_before_expiry", "invalid duration"),
    ('reminders_before_expiry = ["90d"]', "registrations.reminders_before_expiry", "not shorter than the protection"),
    ('auto_file = "yes please"', "registrations.auto_file", "boolean"),
    ("auto_approve = true", "registrations.auto_approve", "Extra inputs"),
])
def test_bad_registration_rules_name_the_key(lines: str, key: str, words: str) -> None:
    message = error_of(MINIMAL + f"\n[registrations]\n{lines}\n")
    assert key in message and words in message


def test_every_charter_in_the_repository_parses_and_round_trips() -> None:
    """Each charter file parses; the model a dispute or registration carries through Temporal (JSON)
    comes back equal, and the version stored (text and hash) parses to the same charter."""
    root = CHARTERS.parent
    paths = sorted(CHARTERS.glob("*.toml")) + sorted((root / "tests").rglob("charter*.toml"))
    assert len(paths) >= 3
    for path in paths:
        text = path.read_text()
        charter = parse_charter(text)
        assert Charter.model_validate_json(charter.model_dump_json()) == charter
        assert parse_charter(text).version_id == charter.version_id


def test_a_charter_without_the_section_travels_from_older_histories() -> None:
    dumped = parse_charter(MINIMAL).model_dump(mode="json")
    del dumped["registrations"]  # what workflows started before the section existed carry
    assert Charter.model_validate(dumped).registrations.match_threshold == 85
