"""Who may act on a registration and when (domain/registration_rules.py), and how its actions parse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from domain.charter import parse_charter
from domain.errors import Forbidden, InvalidInput, ParleyError, WrongState
from domain.model import Actor, Role
from domain.registration_rules import (
    Approve,
    Close,
    Extend,
    RegistrationAction,
    Reject,
    Withdraw,
    check,
    routed_mediators,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = parse_charter((ROOT / "charters" / "default.toml").read_text())
NOW = datetime(2027, 2, 1, 15, 0, tzinfo=UTC)

OWNER = Actor(email="pat@partner.example", role=Role.rep)
COLLEAGUE = Actor(email="pia@partner.example", role=Role.rep)
MEDIATOR = Actor(email="mediator@example.com", role=Role.mediator)
MEDIATOR2 = Actor(email="mediator2@example.com", role=Role.mediator)
EXEC = Actor(email="exec@example.com", role=Role.executive)
AUDITOR = Actor(email="audrey@corp.example", role=Role.auditor)
ADMIN = Actor(email="root@corp.example", role=Role.admin)
ROUTED = routed_mediators(DEFAULT.routing, "EMEA", None)


@dataclass
class Reg:
    status: str = "pending"
    owner_email: str = OWNER.email
    region: str = "EMEA"
    protected_until: datetime | None = None


def approved(ends_in: timedelta | None = timedelta(days=30)) -> Reg:
    return Reg(status="approved", protected_until=NOW + ends_in if ends_in is not None else None)


def refuses(error: type[ParleyError], reg: Reg, actor: Actor, act: Any, match: str | None = None) -> ParleyError:
    with pytest.raises(error, match=match) as caught:
        check(reg, actor, act, NOW, ROUTED)
    return caught.value


# --- routing -------------------------------------------------------------------------------------

def test_the_region_routes_to_its_mediators_and_others_to_the_default() -> None:
    assert routed_mediators(DEFAULT.routing, "EMEA", "enterprise") == ("mediator@example.com",)
    assert routed_mediators(DEFAULT.routing, "APAC", None) == (DEFAULT.routing.default_mediator,)
    routing = DEFAULT.routing.model_copy(update={"mediators": (
        DEFAULT.routing.mediators[0].model_copy(update={"region": "EMEA", "mediator": "a@example.com"}),
        DEFAULT.routing.mediators[0].model_copy(update={"region": "*", "mediator": "b@example.com"}),
        DEFAULT.routing.mediators[0].model_copy(update={"region": "AMER", "mediator": "c@example.com"}),
    )})
    assert routed_mediators(routing, "EMEA", None) == ("a@example.com", "b@example.com")
    assert routed_mediators(routing, "APAC", None) == ("b@example.com",)
    assert routed_mediators(routing, "EMEA", None)[0] == routing.mediator_for("EMEA", None)


# --- approve and reject --------------------------------------------------------------------------

@pytest.mark.parametrize("act", [Approve(), Reject(reason="Not a real opportunity")], ids=["approve", "reject"])
def test_the_routed_mediator_or_an_admin_decides_a_pending_registration(act: Any) -> None:
    check(Reg(), MEDIATOR, act, NOW, ROUTED)
    check(Reg(), ADMIN, act, NOW, ROUTED)


@pytest.mark.parametrize("actor", [MEDIATOR2, OWNER, EXEC], ids=["other mediator", "owner", "executive"])
def test_nobody_else_decides(actor: Actor) -> None:
    error = refuses(Forbidden, Reg(), actor, Approve())
    assert "routed for EMEA (mediator@example.com)" in error.message


def test_auditors_only_read() -> None:
    refuses(Forbidden, Reg(), AUDITOR, Withdraw(reason="x"), "read-only")


@pytest.mark.parametrize("status", ["approved", "rejected", "expired", "withdrawn", "closed"])
def test_only_a_pending_registration_is_decided(status: str) -> None:
    refuses(WrongState, Reg(status=status), MEDIATOR, Approve(), f"only a pending registration can be approved; "
                                                                   f"this one is {status}")
    refuses(WrongState, Reg(status=status), MEDIATOR, Reject(reason="late"), "can be rejected")


def test_the_wrong_person_hears_403_before_the_wrong_state() -> None:
    refuses(Forbidden, Reg(status="closed"), MEDIATOR2, Approve())


# --- extend --------------------------------------------------------------------------------------

def test_the_mediator_or_an_admin_extends_an_approved_window() -> None:
    for actor in (MEDIATOR, ADMIN):
        check(approved(), actor, Extend(until=NOW + timedelta(days=60)), NOW, ROUTED)
    refuses(Forbidden, approved(), OWNER, Extend(until=NOW + timedelta(days=60)))
    refuses(Forbidden, approved(), MEDIATOR2, Extend(until=NOW + timedelta(days=60)))


def test_extending_an_expired_registration_is_409() -> None:
    refuses(WrongState, approved(ends_in=timedelta(seconds=0)), MEDIATOR, Extend(until=NOW + timedelta(days=9)),
            "expired registration cannot be extended")
    refuses(WrongState, approved(ends_in=-timedelta(days=1)), MEDIATOR, Extend(until=NOW + timedelta(days=9)))
    refuses(WrongState, Reg(status="expired", protected_until=NOW - timedelta(days=1)), MEDIATOR,
            Extend(until=NOW + timedelta(days=9)), "only an approved registration can be extended")
    refuses(WrongState, Reg(status="pending"), MEDIATOR, Extend(until=NOW + timedelta(days=9)))


def test_a_direct_opportunity_has_no_window_to_extend() -> None:
    refuses(WrongState, approved(ends_in=None), MEDIATOR, Extend(until=NOW + timedelta(days=9)), "no protection")


def test_an_extension_must_move_the_end_later_and_within_reason() -> None:
    error = refuses(InvalidInput, approved(), MEDIATOR, Extend(until=NOW + timedelta(days=29)), "later than")
    assert error.field == "until"
    refuses(InvalidInput, approved(), MEDIATOR, Extend(until=NOW + timedelta(days=30)), "later than")
    refuses(InvalidInput, approved(), MEDIATOR, Extend(until=NOW + timedelta(days=4000)), "within 5 years")


# --- withdraw and close --------------------------------------------------------------------------

@pytest.mark.parametrize("act", [Withdraw(reason="Customer went elsewhere"), Close(won=True)],
                         ids=["withdraw", "close"])
@pytest.mark.parametrize("status", ["pending", "approved"])
def test_the_owner_or_an_admin_ends_a_live_registration(act: Any, status: str) -> None:
    check(Reg(status=status), OWNER, act, NOW, ROUTED)
    check(Reg(status=status), ADMIN, act, NOW, ROUTED)
    refuses(Forbidden, Reg(status=status), COLLEAGUE, act, "only the owner")
    refuses(Forbidden, Reg(status=status), MEDIATOR, act, "only the owner")


@pytest.mark.parametrize("status", ["rejected", "expired", "withdrawn", "closed"])
def test_an_ended_registration_cannot_be_ended_again(status: str) -> None:
    refuses(WrongState, Reg(status=status), OWNER, Withdraw(reason="x"), f"is {status}; only a pending or approved")
    refuses(WrongState, Reg(status=status), OWNER, Close(won=False), "can be closed")


# --- parsing the actions -------------------------------------------------------------------------

ACTIONS: TypeAdapter[Any] = TypeAdapter(RegistrationAction)


def test_actions_parse_by_their_name() -> None:
    assert ACTIONS.validate_python({"action": "approve"}) == Approve()
    assert ACTIONS.validate_python({"action": "reject", "reason": "  Duplicate  "}) == Reject(reason="Duplicate")
    assert ACTIONS.validate_python({"action": "close", "won": False}) == Close(won=False)
    until = ACTIONS.validate_python({"action": "extend", "until": "2027-06-30T17:00:00+02:00"}).until
    assert until == datetime(2027, 6, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize("body, error", [
    ({"reason": "no action"}, "union_tag_not_found"),
    ({"action": "promote"}, "union_tag_invalid"),
    ({"action": "approve", "color": "red"}, "unexpected_keyword_argument"),
    ({"action": "reject", "reason": "   "}, "string_too_short"),
    ({"action": "reject", "reason": "a\x00b"}, "unstorable_text"),
    ({"action": "close", "won": "true"}, "bool_type"),
    ({"action": "close"}, "missing"),
    ({"action": "extend", "until": "2027-06-30T17:00:00"}, "timezone_aware"),
    ({"action": "extend", "until": "next week"}, "datetime_from_date_parsing"),
])
def test_bad_actions_are_refused_naming_the_problem(body: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ACTIONS.validate_python(body)
    assert caught.value.errors()[0]["type"] == error


def test_the_schema_requires_the_action_name() -> None:
    schema = ACTIONS.json_schema()
    for model in schema["$defs"].values():
        assert model["required"][0] == "action"
        assert model["additionalProperties"] is False
