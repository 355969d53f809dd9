"""Known disputes, registrations and overlaps of two partner organisations around the first quarter of
2026 (New York time, the default charter's zone), for the partner review and the dashboard's additions.

Resellers Inc (pat) has, filed in Q1 2026: a ruling that gives it the deal with 30/70 (the charter
recommends the partner with 45/55 and allows 10 points: it departs), an agreed co-sell 60/40, a ruling
that follows the recommendation, appealed and decided for direct sales 80/20 (departs), one still open,
and one withdrawn, filed at 23:30 on 31 March in New York (already 1 April in UTC). Filed outside the
quarter: one at 00:30 on 1 April and one on New Year's Eve 2025. Other Partners Ltd (quinn) has one
ruling in Q1. Nothing here depends on the day the tests run: `NOW` is the moment they look from.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert
from sqlmodel import Session

from domain.model import Actor, Role
from domain.model.inputs import PrecedentRef
from store.charters import load_charter_file
from store.tables import DISPUTE_REGISTRATIONS, REGISTRATION_OVERLAPS, RegistrationRow
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.people import CRITERIA, ORG_A, ORG_B, PEOPLE, RATIONALE, seed_people
from tests.web import synthetic

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 4, 15, 12, 0, tzinfo=NY).astimezone(UTC)  # Q1 2026 is the last full quarter


def ny(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


@dataclass
class Samples:
    ids: dict[str, str]
    resolution_s: dict[str, float]  # key -> seconds from filing to resolution, for the resolved ones

    def median_resolution(self, *keys: str) -> float:
        return statistics.median(self.resolution_s[k] for k in keys)


def outcome(owner: str, direct: int) -> dict[str, Any]:
    return {"owner": owner, "credit_split": {"direct": direct, "partner": 100 - direct}}


def consulted(*owners: Literal["direct", "partner", "co_sell"]) -> list[PrecedentRef]:
    """Precedents as the service hands them to a ruling or decision (closest first)."""
    return [PrecedentRef(id=f"PRL-PAST{i}", score=0.9 - i / 10, owner=owner) for i, owner in enumerate(owners)]


def seed(engine: Engine, *, people: bool = True) -> Samples:
    if people:
        seed_people(engine)
    charter, text = load_charter_file(DEFAULT_CHARTER)
    p = {k: v.party() for k, v in PEOPLE.items() if v.role == Role.rep}
    actor = {k: Actor(email=v.email, role=v.role) for k, v in PEOPLE.items()}
    sims: dict[str, synthetic.Sim] = {}

    def new(key: str, filer: str, other: str, at: datetime, **filing: Any) -> synthetic.Sim:
        start = synthetic.start(f"PRL-PR{key.upper()}", charter, p[filer], p[other], title=f"Review dispute {key}",
                                **filing)
        sims[key] = sim = synthetic.begin(start, at)
        return sim

    s = new("a1", "dana", "pat", ny(1, 12), deal_value=100_000, currency="EUR", conflict_type="account_ownership")
    s.act(actor["dana"], "escalate", reason="We cannot agree")
    s.act(actor["mediator"], "rule", outcome=outcome("partner", 30), criteria=CRITERIA, rationale=RATIONALE,
          precedents=consulted("partner", "partner", "direct"))  # consistent with most of them
    s = new("a2", "pat", "dana", ny(2, 2), deal_value=200_000, currency="USD", conflict_type="discount_undercut",
            opportunity_ref="OPP-7")
    s.act(actor["pat"], "propose", outcome=outcome("co_sell", 60), note="Split it")
    s.act(actor["dana"], "accept")
    s = new("a3", "dana", "pat", ny(3, 4), deal_value=300_000, currency="EUR", conflict_type="account_ownership")
    s.act(actor["dana"], "escalate", reason="We cannot agree")
    s.act(actor["mediator"], "rule", outcome=outcome("partner", 40), criteria=CRITERIA, rationale=RATIONALE)
    s.act(actor["dana"], "appeal", reason="The ruling ignores our pipeline")
    s.act(actor["exec"], "decide", outcome=outcome("direct", 80), criteria=CRITERIA, rationale=RATIONALE,
          precedents=consulted("partner", "partner", "co_sell"))  # departs from most of them
    new("a4", "pat", "dana", ny(3, 20), deal_value=50_000)
    s = new("a5", "dana", "pat", ny(3, 31, 23, 30))  # 1 April in UTC, 31 March in New York
    s.act(actor["dana"], "withdraw", reason="Sorted out")
    s = new("late", "dana", "pat", ny(4, 1, 0, 30))  # the next quarter in New York, by half an hour
    s.act(actor["dana"], "withdraw", reason="Sorted out")
    s = new("early", "dana", "pat", ny(12, 31, 23, 0, year=2025))
    s.act(actor["dana"], "withdraw", reason="Sorted out")
    s = new("b1", "drew", "quinn", ny(2, 10), region="AMER", conflict_type="account_ownership")
    s.act(actor["drew"], "escalate", reason="We cannot agree")
    s.act(actor["mediator"], "rule", outcome=outcome("partner", 45), criteria=CRITERIA, rationale=RATIONALE)
    for sim in sims.values():
        sim.advance(NOW - sim.now)  # appeal windows close; the open one runs up its SLA timers
    synthetic.write(engine, list(sims.values()), charter, text)
    resolution = {k: (s.dispute.closed_at - s.dispute.created_at).total_seconds()
                  for k, s in sims.items() if s.dispute.status.value == "resolved" and s.dispute.closed_at}
    ids = {k: s.dispute.start.id for k, s in sims.items()}
    _registrations(engine, ids)
    return Samples(ids=ids, resolution_s=resolution)


def _registration(reg_id: str, who: str, submitted: datetime, status: str, won: bool | None = None) -> RegistrationRow:
    person = PEOPLE[who]
    return RegistrationRow(
        id=reg_id, channel=person.channel or "direct", partner_org=person.partner_org, owner_email=person.email,
        account="Acme GmbH", account_norm="acme", title=f"Acme deal {reg_id}", deal_value=100_000, currency="EUR",
        region="EMEA", status=status, submitted_at=submitted, won=won, charter_version="2026.1+test",
        approved_at=submitted + timedelta(hours=2) if status != "pending" else None,
    )


def _registrations(engine: Engine, ids: dict[str, str]) -> None:
    with Session(engine) as session:
        for row in (
            _registration("REG-A0000001", "pat", ny(1, 5), "approved"),
            _registration("REG-A0000002", "pia", ny(2, 5), "closed", won=True),
            _registration("REG-A0000003", "pat", ny(3, 5), "closed", won=False),
            _registration("REG-A0000004", "pat", ny(4, 2), "approved"),  # next quarter
            _registration("REG-D0000001", "dana", ny(1, 6), "approved"),
            _registration("REG-B0000001", "quinn", ny(2, 6), "approved"),
        ):
            session.add(row)
        session.commit()
        session.execute(insert(REGISTRATION_OVERLAPS), [
            {"a_id": "REG-A0000001", "b_id": "REG-D0000001", "score": 100, "reason": "domain", "found_at": ny(1, 6)},
            {"a_id": "REG-A0000002", "b_id": "REG-B0000001", "score": 90, "reason": "name", "found_at": ny(2, 6)},
            {"a_id": "REG-A0000004", "b_id": "REG-D0000001", "score": 90, "reason": "name", "found_at": ny(4, 2)},
        ])
        session.execute(insert(DISPUTE_REGISTRATIONS), [
            {"dispute_id": ids["a1"], "registration_id": "REG-A0000001"},
            {"dispute_id": ids["a1"], "registration_id": "REG-D0000001"},
        ])
        session.commit()


__all__ = ["NOW", "ORG_A", "ORG_B", "Samples", "ny", "seed"]
