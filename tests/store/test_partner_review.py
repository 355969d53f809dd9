"""The partner review's figures and the dashboard's additions (deviation per adjudicator, outcomes and
credit per partner organisation, time to resolution per conflict type), on SQLite and on PostgreSQL (the
shared `engine` fixture), over the known disputes of tests/store/partner_samples.py; and the review's
rules (who, which organisation, which period) in `service.partner_review`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from domain.charter import Charter
from domain.errors import Forbidden, InvalidInput, NotFound
from service import partner_review
from store import stats
from store.charters import load_charter_file
from store.users import user_by_email
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.people import PEOPLE
from tests.reference_times import REFERENCE_TIMES
from tests.store.partner_samples import NOW, ORG_A, ORG_B, Samples, ny, seed

CHARTER: Charter = load_charter_file(DEFAULT_CHARTER)[0]


@pytest.fixture
def samples(engine: Engine) -> Samples:
    return seed(engine)


def _review(engine: Engine, who: str, org: str = ORG_A, date_from: str | None = None,
            date_to: str | None = None) -> partner_review.PartnerReview:
    with Session(engine) as session:
        user = user_by_email(session, PEOPLE[who].email)
        assert user is not None
        return partner_review.review(session, user, org, CHARTER, NOW, date_from, date_to)


def test_the_review_of_the_last_full_quarter(engine: Engine, samples: Samples) -> None:
    found = _review(engine, "auditor")
    r, d, p = found.review, found.review.disputes, found.period
    assert (p.first, p.last, p.default, p.label) == (date(2026, 1, 1), date(2026, 3, 31), True, "Q1 2026")
    assert (p.start, p.end) == (ny(1, 1, 0), ny(4, 1, 0))  # midnights in New York
    assert r.org == ORG_A
    # a1, a2, a3, a4 and a5 (31 March in New York); not `late` (1 April) nor `early` (2025)
    assert (d.filed, d.still_open, d.resolved, d.withdrawn) == (5, 1, 3, 1)
    assert [row.id for row in found.rows] == [samples.ids[k] for k in ("a1", "a2", "a3", "a4", "a5")]
    assert d.owners == {"direct": 1, "partner": 1, "co_sell": 1}
    assert d.credit_deals == pytest.approx({"partner": 0.7 + 0.4 + 0.2, "direct": 0.3 + 0.6 + 0.8})
    assert d.credit_value == [("EUR", 270_000.0, 130_000.0), ("USD", 120_000.0, 80_000.0)]  # currency, direct, partner
    assert r.resolved_timed == 3
    assert r.median_resolution_s == pytest.approx(samples.median_resolution("a1", "a2", "a3"), abs=0.01)
    # a1's ruling departs (30/70 against 45/55), a3's ruling follows (40/60), a3's decision departs (direct)
    assert (r.decisions, r.departed, r.deviation_rate) == (3, 2, pytest.approx(2 / 3))
    assert r.registrations == {"approved": 1, "closed": 2}
    assert (r.registrations_submitted, r.registrations_won, r.registrations_lost) == (3, 1, 1)
    assert (r.overlaps, r.overlaps_disputed) == (2, 1)  # the April one is outside; a1 names the first pair
    rows = {row.id: row for row in found.rows}
    a1, a2, a4 = rows[samples.ids["a1"]], rows[samples.ids["a2"]], rows[samples.ids["a4"]]
    assert (a1.outcome_owner, a1.direct_pct, a1.partner_pct, a1.follows_recommendation) == ("partner", 30, 70, False)
    assert a1.resolution_s == pytest.approx(samples.resolution_s["a1"], abs=0.01)
    assert (a2.direct_pct, a2.follows_recommendation) == (60, None)  # an agreement has no recommendation
    assert (a4.direct_pct, a4.follows_recommendation, a4.resolution_s) == (None, None, None)


def test_a_chosen_period_and_the_other_organisation(engine: Engine, samples: Samples) -> None:
    found = _review(engine, "mediator", date_from="2026-03-01", date_to="2026-04-30")
    assert [row.id for row in found.rows] == [samples.ids[k] for k in ("a3", "a4", "a5", "late")]
    assert (found.review.overlaps, found.review.registrations_submitted) == (1, 2)
    assert not found.period.default and found.period.label == "2026-03-01 – 2026-04-30"
    other = _review(engine, "admin", org=ORG_B)
    assert (other.review.disputes.filed, other.review.decisions, other.review.departed) == (1, 1, 0)
    assert (other.review.overlaps, other.review.overlaps_disputed) == (1, 0)
    assert other.review.registrations == {"approved": 1}


def test_the_organisation_is_matched_whatever_its_case(engine: Engine, samples: Samples) -> None:
    assert _review(engine, "exec", org="  RESELLERS inc ").org == ORG_A


def test_the_list_holds_what_the_viewer_may_see_and_the_figures_everything(engine: Engine, samples: Samples) -> None:
    executive = _review(engine, "exec")  # only what reached the executive: the appeal and the breached one
    assert {row.id for row in executive.rows} == {samples.ids["a3"], samples.ids["a4"]}
    assert (executive.review.disputes.filed, executive.visible, executive.not_visible) == (5, 2, 3)
    stranger = _review(engine, "mediator2")  # mediates none of them
    assert (stranger.rows, stranger.not_visible, stranger.review.disputes.filed) == ([], 5, 5)


@pytest.mark.parametrize("who", ["dana", "pat", "quinn"])
def test_reps_may_not_see_a_review_even_of_their_own_organisation(engine: Engine, who: str) -> None:
    seed(engine)
    with pytest.raises(Forbidden, match="mediators, executives, auditors and admins"):
        _review(engine, who)


def test_an_unknown_organisation_is_not_found(engine: Engine) -> None:
    seed(engine)
    with pytest.raises(NotFound, match="'Nobody Ltd'"):
        _review(engine, "auditor", org="Nobody Ltd")


def test_the_csv_has_a_row_per_listed_dispute(engine: Engine, samples: Samples) -> None:
    found = _review(engine, "auditor")
    with Session(engine) as session:
        user = user_by_email(session, PEOPLE["auditor"].email)
        assert user is not None
        lines = "".join(partner_review.csv_lines(session, user, found.org, found.period)).splitlines()
    assert lines[0].split(",") == list(partner_review.CSV_COLUMNS)
    assert len(lines) == 1 + 5
    a1 = next(line for line in lines if line.startswith(samples.ids["a1"]))
    assert ",partner,30,70,70000,30000,no," in a1 and ",2026-01-12T15:00:00Z," in a1
    name = partner_review.csv_filename(found.org, found.period)
    assert name == "parley-partner-resellers-inc-2026-01-01-2026-03-31.csv"


def test_the_dashboard_additions(engine: Engine, samples: Samples) -> None:
    with Session(engine) as session:
        board = stats.compute(session, "all", NOW)
    by_actor = {(d.role, d.actor): (d.departed, d.decisions) for d in board.deviations}
    # the mediator ruled a1 (departs), a3 (follows) and b1 (45/55: follows); the executive decided a3 (departs)
    assert by_actor == {("mediator", "mediator@example.com"): (1, 3), ("executive", "exec@example.com"): (1, 1)}
    assert [d.role for d in board.deviations] == ["mediator", "executive"]
    partners = {p.org: p for p in board.partners}
    assert [p.org for p in board.partners] == [ORG_A, ORG_B]  # most disputes first
    a = partners[ORG_A]
    assert (a.filed, a.still_open, a.resolved, a.withdrawn) == (7, 1, 3, 3)
    assert a.owners == {"direct": 1, "partner": 1, "co_sell": 1}
    assert a.credit_value == [("EUR", 270_000.0, 130_000.0), ("USD", 120_000.0, 80_000.0)]
    b = partners[ORG_B]
    assert (b.filed, b.resolved, b.owners["partner"]) == (1, 1, 1)
    assert b.credit_deals == pytest.approx({"direct": 0.45, "partner": 0.55})
    medians = board.resolution_by_type
    assert set(medians) == {"account_ownership", "discount_undercut"}
    median, n = medians["account_ownership"]
    assert n == 3 and median == pytest.approx(samples.median_resolution("a1", "a3", "b1"), abs=0.01)
    assert medians["discount_undercut"][1] == 1


def test_an_even_count_takes_the_mean_of_the_two_middle_values(engine: Engine, samples: Samples) -> None:
    """Two resolved disputes of one organisation in a period: the median is their mean, not the larger."""
    found = _review(engine, "auditor", date_from="2026-01-01", date_to="2026-02-28")
    assert found.review.resolved_timed == 2
    assert found.review.median_resolution_s == pytest.approx(samples.median_resolution("a1", "a2"), abs=0.01)


def test_the_dashboard_period_narrows_the_additions(engine: Engine, samples: Samples) -> None:
    with Session(engine) as session:
        board = stats.compute(session, "30d", NOW)  # since 16 March: a4, a5 and `late`
    assert board.deviations == [] and board.resolution_by_type == {}
    assert [(p.org, p.filed, p.resolved) for p in board.partners] == [(ORG_A, 3, 0)]


# --- the period (pure) -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("today", "quarter"), [
    (date(2026, 4, 15), (date(2026, 1, 1), date(2026, 3, 31))),
    (date(2026, 4, 1), (date(2026, 1, 1), date(2026, 3, 31))),
    (date(2026, 3, 31), (date(2025, 10, 1), date(2025, 12, 31))),
    (date(2026, 1, 1), (date(2025, 10, 1), date(2025, 12, 31))),
    (date(2026, 12, 31), (date(2026, 7, 1), date(2026, 9, 30))),
    (date(2026, 8, 9), (date(2026, 4, 1), date(2026, 6, 30))),
])
def test_the_last_full_quarter(today: date, quarter: tuple[date, date]) -> None:
    assert partner_review.last_full_quarter(today) == quarter


@pytest.mark.parametrize("name", list(REFERENCE_TIMES))
def test_the_default_period_is_the_last_full_quarter_in_the_charters_zone(name: str) -> None:
    now = REFERENCE_TIMES[name].astimezone(UTC)
    period = partner_review.period_of(CHARTER, now, None, None)
    local_today = REFERENCE_TIMES[name].date()  # the reference times are New York times, as the charter's
    assert (period.first, period.last) == partner_review.last_full_quarter(local_today)
    assert period.last < local_today and period.default
    if name == "new-years-eve-23:59":  # already 2027 in UTC: still Q3 2026 in New York
        assert (period.first, period.last) == (date(2026, 7, 1), date(2026, 9, 30))


def test_one_end_given() -> None:
    only_to = partner_review.period_of(CHARTER, NOW, None, "2026-02-10")
    assert (only_to.first, only_to.last) == (date(2026, 1, 1), date(2026, 2, 10))
    only_from = partner_review.period_of(CHARTER, NOW, "2026-02-10", "")
    assert (only_from.first, only_from.last) == (date(2026, 2, 10), date(2026, 4, 15))
    one_day = partner_review.period_of(CHARTER, NOW, "2026-03-08", "2026-03-08")  # the day clocks went forward
    assert one_day.end - one_day.start == datetime(2026, 3, 9, 4, tzinfo=UTC) - datetime(2026, 3, 8, 5, tzinfo=UTC)


@pytest.mark.parametrize(("date_from", "date_to", "field", "words"), [
    ("2026-13-01", None, "from", "is not a date"),
    ("yesterday", None, "from", "YYYY-MM-DD"),
    (None, "2026-02-30", "to", "is not a date"),
    (None, "20260301", "to", "YYYY-MM-DD"),
    ("2026-03-01", "2026-02-01", "to", "2026-02-01 is before from (2026-03-01)"),
    ("2027-01-01", None, "from", "is after today"),
    ("0001-01-01", "2026-01-01", "from", "must lie between"),
    (None, "9999-12-31", "to", "must lie between"),
])
def test_bad_dates_are_refused_naming_the_field(date_from: str | None, date_to: str | None, field: str,
                                                words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        partner_review.period_of(CHARTER, NOW, date_from, date_to)
    assert info.value.field == field and info.value.message.startswith(f"{field}: ") and words in info.value.message
