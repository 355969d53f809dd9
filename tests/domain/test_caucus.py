"""Caucus notes (`comment` with `visibility: "mediators"`): who may write one, who reads one, who is told
of one, and what the audit event keeps. One rule, `domain.caucus`, asked by the lifecycle, the notices,
the offers and the readers of the trail."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from domain import caucus
from domain.errors import Forbidden
from domain.lifecycle import Dispute
from domain.model import Action, Actor, Comment, Event, Role
from domain.notices import notices_for
from domain.webhook_events import dispute_event
from tests.domain.test_lifecycle import (
    ADMIN,
    AUDITOR,
    BACKUP,
    EXEC,
    FILER,
    MEDIATOR,
    MEDIATOR2,
    OTHER,
    STRANGER,
    appealed,
    dispute,
    do,
    in_mediation,
)

DM_ON = ("action_required", "reminder", "escalated", "resolved")
NOTE = "Between us: the partner's registration looks back-dated."


def note(d: Dispute, actor: Actor, text: str = NOTE) -> Event:
    (event,) = do(d, actor, "comment", text=text, visibility="mediators")
    return event


def told(d: Dispute, event: Event) -> dict[str, tuple[str, str]]:
    return {n.recipient: (n.kind, n.text) for n in notices_for(event, d.view(event.at), DM_ON, d.names, d.cal)}


def test_visibility_defaults_to_everyone_and_refuses_anything_else() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Action)
    assert adapter.validate_python({"action": "comment", "text": "Hi"}).visibility == "all"
    for wrong in ("everyone", "MEDIATORS", "", None, 1):
        with pytest.raises(ValidationError) as caught:
            adapter.validate_python({"action": "comment", "text": "Hi", "visibility": wrong})
        assert [e["loc"][-1] for e in caught.value.errors()] == ["visibility"]


def test_an_ordinary_comment_records_what_it_always_did() -> None:
    d = dispute()
    (event,) = do(d, OTHER, "comment", text="We have a signed NDA.")
    assert event.action == "commented" and event.payload == {"text": "We have a signed NDA."}
    assert not caucus.is_caucus_event(event.action, event.payload)
    assert set(told(d, event)) == {"channel"}


@pytest.mark.parametrize("party", [FILER, OTHER])
def test_a_party_is_refused_in_plain_words(party: Actor) -> None:
    d = in_mediation()
    with pytest.raises(Forbidden) as caught:
        do(d, party, "comment", text=NOTE, visibility="mediators")
    assert "caucus note" in caught.value.message and "never by a party" in caught.value.message
    assert d.events[-1].action == "escalated"  # nothing recorded


@pytest.mark.parametrize("actor", [STRANGER, AUDITOR, MEDIATOR2, EXEC])
def test_nobody_else_writes_one_before_they_may(actor: Actor) -> None:
    d = in_mediation()  # the executive is not on the dispute until tier 3; mediator2 is not assigned
    with pytest.raises(Forbidden):
        do(d, actor, "comment", text=NOTE, visibility="mediators")


def test_the_mediator_keeps_a_note_in_the_trail_and_nobody_else_hears_of_it_before_tier_3() -> None:
    d = in_mediation()
    latest = d.updated_at
    event = note(d, MEDIATOR)
    assert d.updated_at == latest and d.view(event.at).last_seq == event.seq  # no "latest activity" for lists
    assert event.payload == {"text": NOTE, "visibility": "mediators"}
    assert event.seq == d.seq and caucus.is_caucus_event(event.action, event.payload)
    assert told(d, event) == {}  # not the channel (the parties read it); no other adjudicator yet


def test_at_tier_3_the_other_adjudicator_is_told_without_the_text() -> None:
    d = appealed()
    from_mediator = told(d, note(d, MEDIATOR))
    assert set(from_mediator) == {EXEC.email}
    kind, text = from_mediator[EXEC.email]
    assert kind == "info" and "caucus note" in text and NOTE not in text
    assert set(told(d, note(d, EXEC))) == {MEDIATOR.email}
    assert set(told(d, note(d, BACKUP))) == {MEDIATOR.email, EXEC.email}
    assert set(told(d, note(d, ADMIN))) == {MEDIATOR.email, EXEC.email}
    for event in d.events:
        if caucus.is_caucus_event(event.action, event.payload):
            assert dispute_event(event, d.view(event.at)) is None  # no webhook carries it


def test_may_write_is_what_the_forms_offer() -> None:
    view = in_mediation().view(in_mediation().updated_at)
    assert caucus.may_write(view, MEDIATOR) and caucus.may_write(view, ADMIN)
    assert not any(caucus.may_write(view, a) for a in (FILER, OTHER, STRANGER, AUDITOR, MEDIATOR2, EXEC))
    top = appealed()
    assert caucus.may_write(top.view(top.updated_at), EXEC) and caucus.may_write(top.view(top.updated_at), BACKUP)


def test_readers_are_mediators_executives_auditors_and_admins() -> None:
    d = in_mediation()
    note(d, MEDIATOR)
    do(d, OTHER, "comment", text="Anything new?")
    events = [{"seq": e.seq, "action": e.action, "payload": e.payload} for e in d.events]
    for role in (Role.mediator, Role.executive, Role.auditor, Role.admin):
        assert caucus.readable(events, role) == events
    shown = caucus.readable(events, Role.rep)
    assert [e["action"] for e in shown] == ["filed", "escalated", "commented"]
    assert NOTE not in repr(shown)
    # a comment whose stored payload no longer reads as JSON is shown only to those who read caucus notes
    damaged = {"seq": 9, "action": "commented", "payload": '{"text":"secret","visibility":"mediators"'}
    assert caucus.readable([damaged], "rep") == [] and caucus.readable([damaged], "auditor") == [damaged]
    # what a dispute page follows: the last event its reader may read
    assert caucus.last_readable(events, Role.mediator, d.seq) == d.seq == 4
    assert caucus.last_readable(events[:3], Role.rep, 3) == 2  # the note is no news to a party
    assert caucus.last_readable(events, Role.rep, d.seq) == 4  # the comment after it is


def test_the_old_command_shape_still_loads() -> None:
    """Commands in the histories of running workflows carry no visibility: they are ordinary comments."""
    assert Comment.model_validate({"action": "comment", "text": "Hello"}).visibility == "all"
