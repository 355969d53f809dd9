"""What the clock does on its own, seen through the API (fast charter: frontline 4 s, mediation 8 s,
appeal window 4 s, executive 4 s). Three disputes run their clocks side by side; the test polls with
a deadline and never sleeps for a fixed time."""

from __future__ import annotations

from tests.api.conftest import Api, eventually


def system_events(api: Api, dispute_id: str) -> list[tuple[str, str]]:
    return [(actor, action) for _, actor, action in api.events(dispute_id) if actor.startswith("system:")]


async def test_the_clock_escalates_finalises_rulings_and_pages_the_backup(api: Api) -> None:
    breaching = (await api.file(title="Nobody answers"))["id"]
    executive = (await api.file(deal_value=80_000_000, title="Straight to the top"))["id"]
    ruled = await api.in_state("appeal_window")
    view = await api.dispute(ruled)
    assert view["status"] == "appeal_window" and view["decision"]["final"] is False

    # frontline SLA breach: a reminder at 50%, then the dispute moves to mediation by itself
    escalated = await api.wait_status(breaching, "mediation", timeout=15)
    assert escalated["tier"] == 2 and escalated["sla"]["breached"] is False
    assert system_events(api, breaching)[:2] == [("system:sla", "sla_reminder"), ("system:sla", "escalated")]

    # a ruling nobody appeals becomes final when the appeal window closes
    final = await api.wait_status(ruled, "resolved", timeout=15)
    assert (final["decision"]["kind"], final["decision"]["final"]) == ("ruling", True)
    assert api.events(ruled)[-1][1:] == ("system:appeal_window", "ruling_final")
    late = await api.act(ruled, "dana", "appeal", reason="Too late for this")
    assert late.status_code == 409, late.text

    # the executive tier never decides by itself: after the breach it stays, waiting on both executives
    async def breach_recorded() -> bool:
        return ("system:sla", "sla_breached") in system_events(api, executive)

    await eventually(breach_recorded, timeout=15, what="the executive SLA breach to be recorded")
    view = await api.dispute(executive)
    assert (view["status"], view["sla"]["breached"]) == ("executive", True)
    assert set(view["waiting_on"]) == {"exec@example.com", "exec.backup@example.com"}
