"""build_digest, the pure rules of who reads what in the digest: rows in, one person's digest out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.digest import (
    Breach,
    Deviation,
    DigestRows,
    ExpiringRegistration,
    GovernanceRows,
    OpenDispute,
    OverlapAwaiting,
    PriceProtection,
    Recipient,
    TierFigures,
    build_digest,
)
from domain.digest_runs import DigestReport, DigestSent, digest_key, manual_key
from tests.reference_times import REFERENCE_TIMES

AT = REFERENCE_TIMES["wednesday-noon"]
MIA = Recipient("mia@example.com", "Mia Mediator", "mediator")
EVE = Recipient("eve@example.com", "Eve Executive", "executive")
ADA = Recipient("ada@example.com", "Ada Admin", "admin")
PAT = Recipient("pat@resellers.example", "Pat Partner", "rep")


def open_dispute(dispute_id: str, due: timedelta | None, *, paused: bool = False, mediator: str = MIA.email,
                 status: str = "mediation", executive: str = EVE.email, backup: str | None = None) -> OpenDispute:
    return OpenDispute(id=dispute_id, title=f"Deal {dispute_id}", status=status, tier=3 if status == "executive" else 2,
                       account="Globex", deal_value=1000.0, currency="USD",
                       due_at=None if due is None else AT + due, paused=paused, mediator=mediator,
                       executive=executive, backup_executive=backup)


def breach(dispute_id: str, tier: int, ago: timedelta, mediator: str = MIA.email) -> Breach:
    return Breach(dispute_id=dispute_id, title="t", tier=tier, at=AT - ago, mediator=mediator, executive=EVE.email,
                  backup_executive="bob@example.com")


def test_open_disputes_come_nearest_deadline_first_past_ones_on_top_and_paused_last() -> None:
    rows = DigestRows(open_disputes=(
        open_dispute("PRL-PAUSED", None, paused=True), open_dispute("PRL-WEEK", timedelta(days=7)),
        open_dispute("PRL-LATE", -timedelta(hours=2)), open_dispute("PRL-VERY-LATE", -timedelta(days=2)),
        open_dispute("PRL-HOUR", timedelta(hours=1)), open_dispute("PRL-NONE", None),
        open_dispute("PRL-MAX", timedelta(minutes=1), mediator="max@example.com"),
    ))
    digest = build_digest(MIA, rows, AT)
    assert [d.id for d in digest.open_disputes] == ["PRL-VERY-LATE", "PRL-LATE", "PRL-HOUR", "PRL-WEEK",
                                                    "PRL-NONE", "PRL-PAUSED"]
    assert [digest.past_deadline(d) for d in digest.open_disputes] == [True, True, False, False, False, False]


def test_an_executive_gets_the_executive_tier_they_decide_or_back_up() -> None:
    rows = DigestRows(open_disputes=(
        open_dispute("PRL-MINE", timedelta(hours=5), status="executive"),
        open_dispute("PRL-BACKUP", timedelta(hours=1), status="executive", executive="other@example.com",
                     backup="EVE@example.com"),
        open_dispute("PRL-MEDIATION", timedelta(hours=1)),  # not theirs yet
        open_dispute("PRL-NOT-MINE", timedelta(hours=1), status="executive", executive="other@example.com"),
    ))
    assert [d.id for d in build_digest(EVE, rows, AT).open_disputes] == ["PRL-BACKUP", "PRL-MINE"]


def test_breaches_of_the_past_week_by_role_newest_first() -> None:
    rows = DigestRows(breaches=(
        breach("PRL-1", 1, timedelta(days=1)), breach("PRL-2", 2, timedelta(hours=1)),
        breach("PRL-OLD", 2, timedelta(days=8)), breach("PRL-3", 3, timedelta(hours=2)),
        breach("PRL-MAX", 2, timedelta(hours=1), mediator="max@example.com"),
        breach("PRL-LATER", 1, -timedelta(hours=1)),  # after the digest's moment
    ))
    assert [b.dispute_id for b in build_digest(MIA, rows, AT).breaches] == ["PRL-2", "PRL-1"]
    assert [b.dispute_id for b in build_digest(EVE, rows, AT).breaches] == ["PRL-3"]
    assert build_digest(ADA, rows, AT).breaches == ()


def test_overlaps_await_the_mediators_routed_for_either_side() -> None:
    def overlap(n: int, mediators: tuple[str, ...], days: int) -> OverlapAwaiting:
        return OverlapAwaiting(overlap_id=n, first=f"A{n}", second=f"B{n}", score=90,
                               found_at=AT - timedelta(days=days), mediators=mediators)

    rows = DigestRows(overlaps=(overlap(1, (MIA.email,), 3), overlap(2, ("max@example.com", MIA.email), 1),
                                overlap(3, ("max@example.com",), 2)))
    assert [o.overlap_id for o in build_digest(MIA, rows, AT).overlaps] == [2, 1]
    assert build_digest(EVE, rows, AT).overlaps == ()


def test_price_protection_ending_within_four_weeks_reaches_the_owning_channel() -> None:
    def protection(dispute_id: str, days: int, owners: tuple[str, ...], owner: str = "partner") -> PriceProtection:
        return PriceProtection(dispute_id=dispute_id, title="t", account="Globex",
                               until=AT.date() + timedelta(days=days), owner=owner, owners=owners)

    rows = DigestRows(price_protections=(
        protection("PRL-20", 20, (PAT.email,)), protection("PRL-TODAY", 0, (PAT.email,)),
        protection("PRL-28", 28, ("dana@corp.example", PAT.email), "co_sell"),
        protection("PRL-29", 29, (PAT.email,)), protection("PRL-ENDED", -1, (PAT.email,)),
        protection("PRL-DIRECT", 3, ("dana@corp.example",), "direct"),
    ))
    digest = build_digest(PAT, rows, AT)
    assert [p.dispute_id for p in digest.price_protections] == ["PRL-TODAY", "PRL-20", "PRL-28"]
    assert digest.worth_sending and "price_protections" in digest.sections
    assert not build_digest(PAT, DigestRows(), AT).worth_sending  # a rep hears only when something ends
    assert build_digest(MIA, DigestRows(), AT).worth_sending  # an empty week is news to a mediator


def test_admins_get_the_governance_figures() -> None:
    since = AT - timedelta(days=30)
    deviations = (Deviation("PRL-1", "t", "ruling", MIA.email, "direct", "partner", AT - timedelta(days=9)),
                  Deviation("PRL-2", "t", "decision", EVE.email, "co_sell", "partner", AT - timedelta(days=2)))
    expiring = (
        ExpiringRegistration("REG-LATE", "Initech", "pat@x", "Resellers", AT + timedelta(days=13)),
        ExpiringRegistration("REG-SOON", "Hooli", "pat@x", "Resellers", AT + timedelta(days=1)),
        ExpiringRegistration("REG-FAR", "Acme", "pat@x", None, AT + timedelta(days=15)),
        ExpiringRegistration("REG-GONE", "Acme", "pat@x", None, AT - timedelta(hours=1)),
    )
    tiers = (TierFigures(2, entered=4, breached=1, median_s=3600.0, closed=3),
             TierFigures(1, entered=10, breached=3, median_s=7200.0, closed=8),
             TierFigures(3, entered=0, breached=0, median_s=None, closed=0))
    rows = DigestRows(governance=GovernanceRows(since=since, tiers=tiers, decisions=8, deviations=deviations,
                                                expiring=expiring))
    governance = build_digest(ADA, rows, AT).governance
    assert governance is not None
    assert [(t.tier, t.breach_rate) for t in governance.tiers] == [(1, 0.3), (2, 0.25), (3, None)]
    assert [t.median_s for t in governance.tiers] == [7200.0, 3600.0, None]
    assert [d.dispute_id for d in governance.deviations] == ["PRL-2", "PRL-1"]
    assert governance.deviation_rate == 0.25
    assert [r.id for r in governance.expiring] == ["REG-SOON", "REG-LATE"]
    assert build_digest(MIA, rows, AT).governance is None


@pytest.mark.parametrize("name", list(REFERENCE_TIMES))
def test_a_scheduled_digest_is_keyed_by_its_date_in_the_charter_zone(name: str) -> None:
    at = REFERENCE_TIMES[name]
    assert digest_key(at, "America/New_York") == f"digest:{at.date().isoformat()}"
    assert digest_key(at.astimezone(UTC), "America/New_York") == f"digest:{at.date().isoformat()}"


def test_a_digest_sent_now_has_its_own_key_and_the_report_groups_by_medium() -> None:
    at = datetime(2026, 3, 16, 4, 30, 5, tzinfo=UTC)
    assert manual_key(at) == "digest:2026-03-16T04:30:05Z"
    report = DigestReport(key="k", at=at, sent=[DigestSent("a@x", ["slack", "email"]), DigestSent("b@x", ["email"]),
                                                DigestSent("c@x", ["outbox"]), DigestSent("d@x", [], "gave up")])
    assert report.by_medium() == {"slack": ["a@x"], "email": ["a@x", "b@x"], "outbox": ["c@x"], "not sent": ["d@x"]}
    assert date.fromisoformat(digest_key(at, "Asia/Tokyo").removeprefix("digest:")) == date(2026, 3, 16)
