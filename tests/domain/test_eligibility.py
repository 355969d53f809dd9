"""No conflict of interest (DESIGN §8): who is conflicted and why, and how routing falls through the
charter's list (domain/eligibility.py), with the charter's two routing forms (domain/charter.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.charter import CharterError, Routing, parse_charter
from domain.eligibility import Case, Person, assign, conflicts, pick
from domain.lifecycle import Dispute
from tests.domain.test_lifecycle import start

ROOT = Path(__file__).resolve().parents[2]
DANA = Person("dana@corp.example", manager_email="sam@corp.example")
PAT = Person("pat@resellers.example", partner_org="Resellers Inc", manager_email="rita@resellers.example")
CASE = Case(parties=(DANA, PAT), partner_org="Resellers Inc")
MIA, MAX, ZOE = "mia@example.com", "max@example.com", "zoe@example.com"
EVE, BOB = "eve@example.com", "bob@example.com"


def test_nobody_else_is_conflicted() -> None:
    assert conflicts(Person(MIA), CASE) == []
    assert conflicts(Person(MIA, partner_org="Other Partners Ltd"), CASE) == []


def test_a_party_the_partner_organisation_and_a_party_s_manager_are_conflicted_in_plain_words() -> None:
    assert conflicts(DANA, CASE) == ["dana@corp.example is a party to the dispute"]
    assert conflicts(Person("SAM@corp.example"), CASE) == ["SAM@corp.example manages a party, dana@corp.example"]
    assert conflicts(Person("ops@resellers.example", partner_org="resellers inc"), CASE) == [
        "ops@resellers.example belongs to resellers inc, the partner organisation involved"]
    both = Person("rita@resellers.example", partner_org="Resellers Inc")
    assert conflicts(both, CASE) == [
        "rita@resellers.example belongs to Resellers Inc, the partner organisation involved",
        "rita@resellers.example manages a party, pat@resellers.example"]


def test_the_partner_organisation_is_the_partner_party_s_even_when_the_dispute_names_none() -> None:
    case = Case(parties=(DANA, PAT), partner_org=None)
    assert conflicts(Person(MIA, partner_org="Resellers Inc"), case) != []


def test_the_mediator_who_ruled_does_not_hear_the_appeal() -> None:
    case = Case(parties=(DANA, PAT), partner_org="Resellers Inc", ruled_by=MIA)
    assert conflicts(Person(MIA), case) == []  # as the mediator, nothing stops them
    assert conflicts(Person(MIA), case, adjudicating_appeal=True) == [
        "mia@example.com ruled on the dispute as its mediator, so cannot hear the appeal"]


def test_routing_picks_the_first_eligible_on_the_list_and_says_who_was_passed_over() -> None:
    people = {MIA: Person(MIA, manager_email=None), MAX: Person(MAX, partner_org="Resellers Inc")}
    chosen = pick([MAX, "sam@corp.example", MIA, ZOE], CASE, people)
    assert chosen.email == MIA
    assert chosen.notes == (
        "max@example.com was passed over: belongs to Resellers Inc, the partner organisation involved",
        "sam@corp.example was passed over: manages a party, dana@corp.example",
    )
    assert pick([MIA, MAX], CASE, people).notes == ()


def test_someone_away_is_replaced_by_their_stand_in_when_the_stand_in_is_eligible() -> None:
    chosen = pick([MIA, MAX], CASE, {}, away={MIA: ZOE})
    assert (chosen.email, chosen.notes) == (ZOE, ("mia@example.com is away: their stand-in zoe@example.com takes it",))
    conflicted = pick([MIA, MAX], CASE, {}, away={MIA: "sam@corp.example"})
    assert conflicted.email == MAX
    assert conflicted.notes == ("mia@example.com is away and their stand-in sam@corp.example is conflicted: "
                                "manages a party, dana@corp.example",)
    nobody = pick([MIA, MAX], CASE, {}, away={MIA: MAX, MAX: ZOE})  # the stand-in is away too
    assert nobody.email == ZOE
    assert pick([MIA], CASE, {}, away={MIA: ""}).email is None


def test_an_assignment_without_conflicts_is_the_charter_s_first_choices_and_says_nothing() -> None:
    assigned = assign([MIA, MAX], [EVE, BOB], CASE, {})
    assert (assigned.mediator, assigned.executive, assigned.backup_executive, assigned.note) == (MIA, EVE, BOB, None)


def test_a_conflicted_sponsor_leaves_the_dispute_to_the_backup() -> None:
    assigned = assign([MIA], [EVE, BOB], CASE, {EVE: Person(EVE, partner_org="Resellers Inc")})
    assert (assigned.mediator, assigned.executive, assigned.backup_executive) == (MIA, BOB, None)
    assert assigned.note == ("eve@example.com was passed over: belongs to Resellers Inc, the partner organisation "
                             "involved.")


def test_no_eligible_mediator_goes_to_the_executive_sponsor_and_the_appeal_to_the_backup() -> None:
    people = {MIA: Person(MIA, partner_org="Resellers Inc")}
    assigned = assign([MIA, "sam@corp.example"], [EVE, BOB], CASE, people)
    assert (assigned.mediator, assigned.executive, assigned.backup_executive) == (EVE, BOB, None)
    assert assigned.note is not None
    assert assigned.note.startswith("mia@example.com was passed over: belongs to Resellers Inc")
    assert "sam@corp.example was passed over: manages a party, dana@corp.example" in assigned.note
    assert "No eligible mediator for this dispute: the executive eve@example.com adjudicates it" in assigned.note


def test_with_nobody_eligible_the_sponsor_keeps_it_and_the_note_says_so() -> None:
    people = {p: Person(p, partner_org="Resellers Inc") for p in (MIA, EVE, BOB)}
    assigned = assign([MIA], [EVE, BOB], CASE, people)
    assert (assigned.mediator, assigned.executive) == (EVE, EVE)
    assert assigned.note is not None and "No eligible executive for this dispute" in assigned.note


def test_the_sponsor_away_hands_the_dispute_to_the_backup() -> None:
    assigned = assign([MIA], [EVE, BOB], CASE, {}, away={EVE: BOB})
    assert (assigned.mediator, assigned.executive, assigned.backup_executive) == (MIA, BOB, None)
    assert assigned.note == "eve@example.com is away: their stand-in bob@example.com takes it."


# --- the charter's list ------------------------------------------------------------------------

def routing(**kwargs: object) -> Routing:
    return Routing.model_validate({"default_mediator": "m@x.io", "executive": EVE, "backup_executive": BOB, **kwargs})


def test_the_lists_form_falls_through_the_region_then_any_region_then_the_default() -> None:
    r = routing(mediators={"emea": ["a@x.io", "b@x.io"], "*": ["c@x.io", "a@x.io"]})
    assert r.mediator_candidates("EMEA", None) == ("a@x.io", "b@x.io", "c@x.io", "m@x.io")
    assert r.mediator_candidates("APAC", "smb") == ("c@x.io", "a@x.io", "m@x.io")
    assert r.mediator_for("emea", None) == "a@x.io"
    assert r.executive_candidates() == (EVE, BOB)
    assert [(x.region, x.mediator) for x in r.routes] == [
        ("emea", "a@x.io"), ("emea", "b@x.io"), ("*", "c@x.io"), ("*", "a@x.io")]


def test_the_rows_form_lists_every_matching_row_in_order() -> None:
    r = routing(mediators=[{"region": "EMEA", "segment": "smb", "mediator": "s@x.io"},
                           {"region": "EMEA", "mediator": "e@x.io"}, {"mediator": "any@x.io"}])
    assert r.mediator_candidates("EMEA", "smb") == ("s@x.io", "e@x.io", "any@x.io", "m@x.io")
    assert r.mediator_candidates("emea", None) == ("e@x.io", "any@x.io", "m@x.io")
    assert r.mediator_candidates("AMER", None) == ("any@x.io", "m@x.io")


@pytest.mark.parametrize("name", ["fast.toml", "default.toml"])
def test_the_contract_charters_route_as_before(name: str) -> None:
    r = parse_charter((ROOT / "charters" / name).read_text()).routing
    for region in ("EMEA", "AMER", "APAC"):
        assert r.mediator_candidates(region, None) == ("mediator@example.com",)
    assert r.executive_candidates() == ("exec@example.com", "exec.backup@example.com")


def test_a_charter_in_the_lists_form_loads_and_its_mistakes_name_the_key() -> None:
    fast = (ROOT / "charters" / "fast.toml").read_text()
    good = parse_charter(fast.replace("[routing]", '[routing]\nmediators = { emea = ["A@x.io", "b@x.io"] }'))
    assert good.routing.mediators == {"emea": ("a@x.io", "b@x.io")}
    for lists, key, words in [
        ('{ emea = [] }', "routing.mediators", "'emea' routes to nobody"),
        ('{ emea = ["nope"] }', "routing.mediators.emea.0", "'nope' is not an e-mail address"),
        ('[{ region = "EMEA" }]', "routing.mediators.0.mediator", "is required"),
    ]:
        with pytest.raises(CharterError) as refused:
            parse_charter(fast.replace("[routing]", f"[routing]\nmediators = {lists}"))
        assert any(k == key and words in m for k, m in refused.value.problems), refused.value.problems


# --- the routing note in the lifecycle ---------------------------------------------------------

def test_the_routing_note_is_in_the_filed_event_and_the_view_and_absent_when_there_is_none() -> None:
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    noted = start().model_copy(update={"routing_note": "mia@example.com was passed over: is a party to the dispute."})
    d = Dispute(noted, at)
    assert d.events[0].action == "filed"
    assert d.events[0].payload["routing_note"] == noted.routing_note
    assert d.view(at).routing_note == noted.routing_note
    plain = Dispute(start(), at)
    assert "routing_note" not in plain.events[0].payload  # the filed event of a dispute routed as listed is unchanged
    assert plain.view(at).routing_note is None
