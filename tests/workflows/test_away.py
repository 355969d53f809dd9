"""Away and delegation (DESIGN §8) in DisputeWorkflow, on the time-skipping test server and the default
charter (business days in New York): the workflow keeps the absences it is told of (its input, or the `away`
signal the service sends when an absence is set or cleared), moves its dispute to the stand-in when one starts
(`system:away`, by the reassign path) and routes around someone away when it enters their tier.

Absences are dates in the charter's time zone, the day after the filing onwards: the instants come from
`domain.away.instants`, never from today's date; the filings happen at each reference time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.away import AWAY_ACTOR, instants
from domain.model import Status
from domain.model.away import Absence
from tests.workflows.harness import (
    BACKUP,
    CRITERIA,
    EXEC,
    FILER,
    MEDIATOR,
    MEDIATOR2,
    PARTNER_60,
    RATIONALE,
    H,
    Harness,
    assert_at,
    business,
    keeps_history,
)
from workflows.dispute import DisputeWorkflow

NY = ZoneInfo("America/New_York")
FRONTLINE, MEDIATION = 16 * H, 24 * H  # 2d, 3d of 8 business hours


def away_from_next_day(email: str, stand_in: str, after: datetime, days: int = 7) -> Absence:
    """`email` away from the calendar day after `after` (New York) for `days` days, inclusive."""
    first = after.astimezone(NY).date() + timedelta(days=1)
    starts_at, ends_at = instants(first, first + timedelta(days=days - 1), "America/New_York")
    return Absence(email=email, starts_at=starts_at, ends_at=ends_at, stand_in=stand_in)


def away_since(email: str, stand_in: str, at: datetime, days: int = 7) -> Absence:
    """`email` away since the start of `at`'s day (New York), for `days` days."""
    first = at.astimezone(NY).date()
    starts_at, ends_at = instants(first, first + timedelta(days=days - 1), "America/New_York")
    return Absence(email=email, starts_at=starts_at, ends_at=ends_at, stand_in=stand_in)


@keeps_history("away_moves_dispute")
@pytest.mark.usefixtures("at_reference_time")
async def test_an_absence_that_starts_while_the_dispute_waits_moves_it_to_the_delegate(h: Harness) -> None:
    d = await h.file(account="Globex")  # a priority account: mediation, waiting on the mediator
    filed = h.event(d, "filed")
    absence = away_from_next_day(MEDIATOR.email, MEDIATOR2.email, filed.at)
    assert absence.starts_at < business(filed.at, MEDIATION * 0.5)  # before the first reminder
    await d.signal(DisputeWorkflow.away, absence)
    await h.sleep_until(absence.starts_at - timedelta(seconds=20))
    assert "reassigned" not in h.actions(d)  # not before it starts

    await h.sleep_until(absence.starts_at + timedelta(minutes=1))
    view = await h.settle(d)
    moved = h.event(d, "reassigned")
    assert moved.actor == AWAY_ACTOR
    assert moved.payload == {"role": "mediator", "from": MEDIATOR.email, "to": MEDIATOR2.email}
    assert_at(moved.at, absence.starts_at)
    assert (view.mediator, view.waiting_on) == (MEDIATOR2.email, [MEDIATOR2.email])
    assert view.sla.due_at == business(filed.at, MEDIATION)  # the clock runs on: the delegate inherits it
    told = {(n.recipient, n.kind) for n in h.recorded(d)[-1].notices}
    assert (MEDIATOR2.email, "action_required") in told

    # reminders go to the delegate
    await h.sleep_until(business(filed.at, MEDIATION * 0.5) + timedelta(minutes=1))
    await h.settle(d)
    reminder = h.event(d, "sla_reminder")
    assert reminder.payload["to"] == [MEDIATOR2.email]
    assert {n.recipient for n in h.recorded(d)[-1].notices if n.kind == "reminder"} == {MEDIATOR2.email}

    # the delegate acts in their own name; the one away no longer adjudicates it
    await h.refused(d, MEDIATOR, "rule", "Forbidden", outcome=PARTNER_60, criteria=CRITERIA, rationale=RATIONALE)
    view = await h.act(d, MEDIATOR2, "rule", outcome=PARTNER_60, criteria=CRITERIA, rationale=RATIONALE)
    assert view.decision is not None and view.decision.actor == MEDIATOR2.email
    await h.act(d, FILER, "withdraw", reason="Settled elsewhere")
    await h.finished(d)
    assert h.actions(d) == ["filed", "reassigned", "sla_reminder", "ruled", "withdrawn"]


@keeps_history("away_cleared")
async def test_an_absence_cleared_before_it_starts_moves_nothing(h: Harness) -> None:
    d = await h.file(account="Globex")
    filed = h.event(d, "filed")
    absence = away_from_next_day(MEDIATOR.email, MEDIATOR2.email, filed.at)
    await d.signal(DisputeWorkflow.away, absence)
    await h.sleep(hours=1)
    await d.signal(DisputeWorkflow.away, absence.model_copy(update={"cleared": True}))
    await h.sleep_until(absence.starts_at + timedelta(hours=1))
    view = await h.settle(d)
    assert "reassigned" not in h.actions(d)
    assert (view.mediator, view.waiting_on) == (MEDIATOR.email, [MEDIATOR.email])
    await h.act(d, FILER, "withdraw", reason="Settled elsewhere")
    await h.finished(d)
    assert h.actions(d) == ["filed", "withdrawn"]


@keeps_history("away_tier_entered")
@pytest.mark.usefixtures("at_reference_time")
async def test_a_dispute_entering_the_tier_of_someone_away_goes_to_their_stand_in(h: Harness) -> None:
    now = await h.now()
    # known at filing: the mediator is away already; the executive's absence is signalled later
    d = await h.file(absences=[away_since(MEDIATOR.email, MEDIATOR2.email, now, days=30)])
    filed = h.event(d, "filed")
    assert (await h.view(d)).mediator == MEDIATOR.email  # frontline: nothing to move yet
    await d.signal(DisputeWorkflow.away, away_since(EXEC.email, BACKUP.email, filed.at, days=30))

    # the frontline SLA breaches: the workflow escalates and, in the same instant, routes to the delegate
    breach = business(filed.at, FRONTLINE)
    await h.sleep_until(breach + timedelta(minutes=1))
    view = await h.settle(d)
    assert h.actions(d)[-2:] == ["escalated", "reassigned"]
    moved = h.event(d, "reassigned")
    assert (moved.actor, moved.tier) == (AWAY_ACTOR, 2)
    assert moved.payload == {"role": "mediator", "from": MEDIATOR.email, "to": MEDIATOR2.email}
    assert_at(moved.at, breach)
    assert (view.status, view.mediator, view.waiting_on) == (Status.mediation, MEDIATOR2.email, [MEDIATOR2.email])

    # the delegate escalates: the executive is away, the backup takes it (the update answers with it)
    view = await h.act(d, MEDIATOR2, "escalate", reason="Needs a business decision")
    assert (view.status, view.executive, view.waiting_on) == (Status.executive, BACKUP.email, [BACKUP.email])
    (to_backup,) = [e for e in h.events(d) if e.action == "reassigned" and e.tier == 3]
    assert to_backup.actor == AWAY_ACTOR
    assert to_backup.payload == {"role": "executive", "from": EXEC.email, "to": BACKUP.email}
    await h.refused(d, EXEC, "decide", "Forbidden", outcome=PARTNER_60, criteria=CRITERIA, rationale=RATIONALE)
    view = await h.act(d, BACKUP, "decide", outcome=PARTNER_60, criteria=CRITERIA, rationale=RATIONALE)
    assert view.status == Status.resolved and view.decision is not None and view.decision.actor == BACKUP.email
    await h.finished(d)
    assert [a for a in h.actions(d) if a != "sla_reminder"] == [
        "filed", "escalated", "reassigned", "escalated", "reassigned", "decided"]
