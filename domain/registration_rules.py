"""Who may act on a registration, and when (DESIGN §6). Pure.

The actions are the body of `POST /api/registrations/{id}/actions` and the argument of the
`RegistrationWorkflow`'s `act` update: frozen pydantic dataclasses, told apart by `action`.
`check` raises Forbidden (403) for the wrong person and WrongState (409) for the right person at
the wrong time, InvalidInput (422) for a value that cannot apply (an extension that shortens).
The workflow's validator and the service's pre-check both call it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, ConfigDict, Field, StrictBool
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from domain.charter import Routing
from domain.errors import Forbidden, InvalidInput, WrongState
from domain.model import NOT_BLANK, Actor, IsoDateTime, Role, unstorable
from domain.registrations import LIVE

MAX_EXTENSION = timedelta(days=5 * 366)  # an end further out than this is a typo


def _require_action(schema: dict[str, Any]) -> None:
    """`action` has a default (so that code can write `Reject(reason=…)`), but a request must send it."""
    required: list[str] = schema.setdefault("required", [])
    if "action" not in required:
        required.insert(0, "action")


def _storable(value: str) -> str:
    problem = unstorable(value)
    if problem:
        raise PydanticCustomError("unstorable_text", problem)
    return value


STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra=_require_action)
Reason = Annotated[str, Field(min_length=1, max_length=2000, json_schema_extra=NOT_BLANK), AfterValidator(_storable)]
Note = Annotated[str, Field(max_length=2000), AfterValidator(_storable)]


@dataclass(frozen=True, config=STRICT)
class Approve:
    note: Note = ""
    action: Literal["approve"] = "approve"


@dataclass(frozen=True, config=STRICT)
class Reject:
    reason: Reason
    action: Literal["reject"] = "reject"


@dataclass(frozen=True, config=STRICT)
class Extend:
    until: IsoDateTime = Field(description="the new end of the protection window, with its UTC offset")
    action: Literal["extend"] = "extend"


@dataclass(frozen=True, config=STRICT)
class Withdraw:
    reason: Reason
    action: Literal["withdraw"] = "withdraw"


@dataclass(frozen=True, config=STRICT)
class Close:
    won: StrictBool
    action: Literal["close"] = "close"


RegistrationAction = Annotated[Approve | Reject | Extend | Withdraw | Close, Field(discriminator="action")]
ACTION_NAMES = ("approve", "reject", "extend", "withdraw", "close")


class RegistrationState(Protocol):
    """What the rules read of a registration (the workflow's state and the stored row both have it)."""

    @property
    def status(self) -> str: ...
    @property
    def owner_email(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def protected_until(self) -> datetime | None: ...


def routed_mediators(routing: Routing, region: str, segment: str | None) -> tuple[str, ...]:
    """The mediators the charter routes this region (and segment) to; the default mediator when no
    route names the region. The first one is who `mediator_for` picks, as for disputes."""
    return routing.routed(region, segment) or (routing.default_mediator,)


def check(reg: RegistrationState, actor: Actor, act: Approve | Reject | Extend | Withdraw | Close,
          now: datetime, routed: Collection[str]) -> None:
    """Raises unless `actor` may take `act` on `reg` at `now`; `routed` are its region's mediators."""
    if actor.role == Role.auditor:
        raise Forbidden("auditors have read-only access")
    admin = actor.role == Role.admin
    match act:
        case Approve() | Reject():
            verb = "approve" if isinstance(act, Approve) else "reject"
            _require(admin or actor.email in routed,
                     f"only a mediator routed for {reg.region} ({', '.join(routed)}) or an admin can {verb} "
                     f"this registration")
            if reg.status != "pending":
                raise WrongState(f"only a pending registration can be {verb.rstrip('e')}ed; this one is {reg.status}")
        case Extend():
            _require(admin or actor.email in routed,
                     f"only a mediator routed for {reg.region} ({', '.join(routed)}) or an admin can extend "
                     "this registration")
            _check_extend(reg, act, now)
        case Withdraw() | Close():
            verb = act.action
            _require(admin or actor.email == reg.owner_email,
                     f"only the owner ({reg.owner_email}) or an admin can {verb} this registration")
            if reg.status not in LIVE:
                raise WrongState(f"the registration is {reg.status}; only a pending or approved one can be "
                                 f"{'withdrawn' if verb == 'withdraw' else 'closed'}")


def _check_extend(reg: RegistrationState, act: Extend, now: datetime) -> None:
    end = reg.protected_until
    if reg.status != "approved":
        raise WrongState(f"only an approved registration can be extended; this one is {reg.status}")
    if end is None:
        raise WrongState("a direct opportunity has no protection window to extend")
    if end <= now:
        raise WrongState(f"the protection window ended at {_utc(end)}: an expired registration cannot be extended")
    if act.until <= end:
        raise InvalidInput(f"until: must be later than the current end of the protection window ({_utc(end)})",
                           field="until")
    if act.until > now + MAX_EXTENSION:
        raise InvalidInput(f"until: must be within {MAX_EXTENSION.days // 366} years from now", field="until")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise Forbidden(message)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
