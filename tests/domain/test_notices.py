"""Who hears about an event and what they read: names rather than e-mail addresses, deadlines in the
charter's time zone with business time in business days, and the mediator told of an answer at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.lifecycle import Dispute
from domain.model import Actor, Event, Role
from domain.notices import headline, name_of, notices_for
from tests.domain.test_lifecycle import (
    DANA,
    FILED,
    MEDIATOR,
    MEDIATOR2,
    PAT,
    SPLIT_70,
    cmd,
    dispute,
    ny,
    start,
)

DM_ON = ("action_required", "reminder", "escalated", "resolved")
PAT_NAMED = Actor(email=PAT.email, role=Role.rep, name="Pat Partner")
DANA_NAMED = Actor(email=DANA.email, role=Role.rep, name="Dana Direct")
MIA = Actor(email=MEDIATOR.email, role=Role.mediator, name="Mia Mediator")
MAX = Actor(email=MEDIATOR2.email, role=Role.mediator, name="Max Mediator")


def act(d: Dispute, actor: Actor, action: str, **fields: Any) -> list[Event]:
    return d.apply(cmd(actor, action, **fields), d.updated_at + timedelta(minutes=5))


def told(d: Dispute, event: Event) -> dict[str, tuple[str, str]]:
    view = d.view(event.at)
    return {n.recipient: (n.kind, n.text) for n in notices_for(event, view, DM_ON, d.names, d.cal)}


def test_a_dispute_parley_filed_itself_says_so_and_for_whom() -> None:
    """An automatic filing about overlapping registrations (DESIGN §6): its actor is system:overlap."""
    d = Dispute(start().model_copy(update={"filed_as": "system:overlap"}), FILED)
    (filed,) = d.events
    assert (filed.actor, d.view(filed.at).filed_by) == ("system:overlap", DANA.email)
    assert headline(filed, d.view(filed.at), {DANA.email: "Dana Direct"}) == (
        f"Parley filed D-1 for Dana Direct: {d.start.filing.title}")


def test_people_are_named_not_addressed() -> None:
    d = dispute()
    (filed,) = d.events
    assert headline(filed, d.view(filed.at), d.names) == f"Dana Direct filed D-1: {d.start.filing.title}"
    (proposed,) = act(d, PAT_NAMED, "propose", outcome=SPLIT_70)
    assert told(d, proposed)[DANA.email] == ("action_required", "Pat Partner proposed a resolution for D-1. Your move.")
    assert "pat@" not in told(d, proposed)["channel"][1]
    (escalated,) = act(d, DANA_NAMED, "escalate", reason="Stuck")
    (asked,) = act(d, MIA, "request_info", question="Who registered first?")
    assert told(d, asked)["channel"][1] == "Mia Mediator asked for information on D-1; the clock is paused"
    (moved,) = d.apply(cmd(MIA, "reassign", reassign_to=MAX, to=MAX.email), d.updated_at + timedelta(minutes=5))
    assert told(d, moved)["channel"][1] == "D-1 reassigned to Max Mediator"


def test_an_e_mail_address_when_no_name_is_known() -> None:
    d = dispute()
    nameless = Actor(email="mediator@example.com", role=Role.mediator)
    act(d, PAT_NAMED, "escalate", reason="Stuck")
    (asked,) = act(d, nameless, "request_info", question="Who?")
    assert told(d, asked)["channel"][1].startswith("mediator@example.com asked for information")
    view = d.view(asked.at)
    assert name_of("someone@example.com", view) == "someone@example.com"
    assert name_of(PAT.email, view) == "Pat Partner"  # a party's name is in the view itself


def test_an_answer_tells_the_mediator_at_once() -> None:
    d = dispute()
    act(d, PAT_NAMED, "escalate", reason="Stuck")
    act(d, MIA, "request_info", question="Who registered first?")
    (answered,) = act(d, PAT_NAMED, "answer", text="We did, on 3 May.")
    notices = told(d, answered)
    assert notices[MEDIATOR.email] == (
        "action_required",
        "Pat Partner answered the question on D-1; the clock stays paused until the mediator resumes. Your move.")
    assert PAT.email not in notices and DANA.email not in notices  # the next step is the mediator's
    assert notices["channel"][0] == "case_update"


def test_a_reminder_gives_the_wall_clock_due_time_and_business_time_left() -> None:
    d = dispute()  # frontline: 2 business days from Mon 1 Feb 2027 10:00 New York
    (reminder,) = d.on_timer(ny(2, 2, 10))  # half-way: one business day in
    assert reminder.action == "sla_reminder"
    text = told(d, reminder)["channel"][1]
    assert text == "Reminder: D-1 is due Wed 3 Feb 2027, 10:00 EST (business time left: 1 business day)"
    # without the calendar (an old caller): the UTC instant, as before
    assert headline(reminder, d.view(reminder.at)).endswith("is due 2027-02-03 15:00 UTC")
