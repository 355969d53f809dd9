"""A registration's lifecycle (DESIGN §6) as a pure state machine, owned by the RegistrationWorkflow.

    partner:  pending ──approve──► approved (protection window) ──end──► expired
                 │  └──reject──► rejected          │ extend moves the end
                 │ approval SLA (business time): reminder to the mediator at 50%, the executive told at 100%
    direct:   approved, no window
    either:   withdraw / close while pending or approved

The registration's creation (`submitted` or `imported`, event 1) is recorded by the service with
the row; everything after it is numbered here. `apply`, `note_overlap`, `note_dispute`, `amend` and
`on_timer` return the new events, each with the registration after it and whom to tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from domain import registration_rules as rules
from domain.calendar import BusinessCalendar
from domain.charter import Charter
from domain.clock import Clock
from domain.durations import format_due
from domain.model import Actor, Event, Notice, Strict
from domain.registration_rules import Approve, Close, Extend, RegistrationAction, Reject, Withdraw
from domain.registrations import LIVE

APPROVAL_REMINDERS = (0.5,)  # of the approval SLA, as the tiers remind


class RegistrationSnapshot(Strict):
    """What the workflow knows of its registration; the row's lifecycle columns come from it."""

    id: str
    channel: Literal["direct", "partner"]
    partner_org: str | None = None
    owner_email: str
    account: str
    title: str
    region: str
    segment: str | None = None
    status: str
    submitted_at: datetime
    approved_at: datetime | None = None
    protected_until: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    won: bool | None = None
    last_seq: int = 0
    updated_at: datetime | None = None


class OverlapNote(Strict):
    """A new overlap with another live registration, recorded in this registration's trail."""

    registration_id: str
    channel: str
    partner_org: str | None = None
    account: str
    score: int
    tell: list[str] = []  # whom this registration's event tells: its owner, the routed mediator


class DisputeNote(Strict):
    """A dispute filed about this registration (by `auto_file`, or linked by a filer)."""

    dispute_id: str
    other_registration_id: str | None = None
    actor: str = "system:overlap"


class Amendment(Strict):
    """Changed descriptive fields (a re-import): recorded, applied to the row by the activity."""

    actor: str
    changes: dict[str, Any]


class RegistrationStart(Strict):
    registration: RegistrationSnapshot
    charter: Any  # domain.charter.Charter (Any keeps the sandbox's import light, as DisputeStart does)
    mediators: list[str]  # routed for the region; the first one gets the reminders
    executive: str
    overlaps: list[OverlapNote] = []  # found when the registration was created
    deliver: list[Event] = []  # events the service recorded whose notices wait for delivery


class RegistrationCommand(Strict):
    actor: Actor
    act: RegistrationAction


class RegistrationRecorded(Strict):
    """The argument of the record activity: an event, the registration after it, and whom to tell."""

    event: Event
    registration: RegistrationSnapshot
    notices: list[Notice]
    changes: dict[str, Any] = {}  # descriptive fields to write to the row (an amendment)


class Registration:
    def __init__(self, start: RegistrationStart, now: datetime) -> None:
        self.reg = start.registration.model_copy(deep=True)
        self.charter = Charter.model_validate(start.charter)
        self.cal: BusinessCalendar = self.charter.business_calendar()
        self.terms = self.charter.registrations
        self.mediators = tuple(start.mediators)
        self.executive = start.executive
        self.seq = self.reg.last_seq
        self.approval: Clock | None = None
        if self.reg.status == "pending":
            sla = self.charter.approval_sla_seconds()
            self.approval = Clock.start("approval", sla, APPROVAL_REMINDERS, self.reg.submitted_at)
        self.window: list[tuple[datetime, str, float]] = []  # (at, "expiry_reminder" | "expired", seconds before)
        if self.reg.status == "approved" and self.reg.protected_until is not None:
            self._plan_window(now)  # a workflow started late sends no reminder that is already past
        self.pending: list[RegistrationRecorded] = []
        # who is who, for the texts people read: everyone who has acted so far, as for a dispute
        self.names: dict[str, str] = {}
        for note in start.overlaps:
            self.note_overlap(note, now)

    # --- reading ------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.reg.status

    @property
    def owner_email(self) -> str:
        return self.reg.owner_email

    @property
    def region(self) -> str:
        return self.reg.region

    @property
    def protected_until(self) -> datetime | None:
        return self.reg.protected_until

    @property
    def closed(self) -> bool:
        return self.reg.status not in LIVE

    def take(self) -> list[RegistrationRecorded]:
        """The events produced since the last call, in order."""
        out, self.pending = self.pending, []
        return out

    # --- acting -------------------------------------------------------------------------------

    def check(self, cmd: RegistrationCommand, now: datetime) -> None:
        rules.check(self, cmd.actor, cmd.act, now, self.mediators)

    def apply(self, cmd: RegistrationCommand, now: datetime) -> None:
        self.check(cmd, now)
        actor, act, reg = cmd.actor.email, cmd.act, self.reg
        if cmd.actor.name:
            self.names[actor] = cmd.actor.name
        match act:
            case Approve():
                reg.status, reg.approved_at, reg.decided_by = "approved", now, actor
                self.approval = None
                if reg.channel == "partner":
                    reg.protected_until = now + self.terms.protection_period
                    self._plan_window(now)
                self._emit(now, actor, "approved", {
                    "note": act.note, "approved_at": _iso(now), "protected_until": _iso(reg.protected_until),
                }, [self._tell(reg.owner_email, "info")])
            case Reject():
                reg.status, reg.decided_by, reg.reason = "rejected", actor, act.reason
                self.approval = None
                self._emit(now, actor, "rejected", {"reason": act.reason}, [self._tell(reg.owner_email, "info")])
            case Extend():
                before, reg.protected_until = reg.protected_until, act.until
                self._plan_window(now)
                self._emit(now, actor, "extended", {"from": _iso(before), "until": _iso(act.until)},
                           [self._tell(reg.owner_email, "info")])
            case Withdraw():
                self._close("withdrawn", now, actor, {"reason": act.reason}, reason=act.reason)
            case Close():
                reg.won = act.won
                self._close("closed", now, actor, {"won": act.won})

    def note_overlap(self, note: OverlapNote, now: datetime) -> None:
        payload = note.model_dump(mode="json", exclude={"tell"})
        self._emit(now, "system:overlap", "overlap_found", payload,
                   [self._tell(email, "action_required") for email in dict.fromkeys(note.tell)])

    def note_dispute(self, note: DisputeNote, now: datetime) -> None:
        self._emit(now, note.actor, "dispute_filed", note.model_dump(mode="json", exclude={"actor"}),
                   [self._tell(self.reg.owner_email, "info")])

    def amend(self, amendment: Amendment, now: datetime) -> None:
        for name in ("account", "title", "region", "segment"):
            if name in amendment.changes:
                setattr(self.reg, name, amendment.changes[name])
        self._emit(now, amendment.actor, "amended", {"changes": amendment.changes}, [], amendment.changes)

    # --- time ---------------------------------------------------------------------------------

    def next_timer(self) -> datetime | None:
        candidates = [at for at, _, _ in self.window[:1]]
        if self.approval is not None and (at := self.approval.next_at(self.cal)) is not None:
            candidates.append(at)
        return min(candidates, default=None)

    def on_timer(self, now: datetime) -> None:
        if self.approval is not None:
            for mark in self.approval.pop_due(self.cal, now):
                due = _iso(self.approval.due_at(self.cal))
                if mark.kind == "reminder":
                    self._emit(now, "system:sla", "approval_reminder", {"fraction": mark.fraction, "due_at": due,
                                                                       "to": self.mediators[0]},
                               [self._tell(self.mediators[0], "reminder")])
                else:  # the SLA has passed: the registration stays pending, the executive hears of it
                    self._emit(now, "system:sla", "approval_overdue", {"due_at": due, "told": self.executive},
                               [self._tell(self.executive, "escalated")])
        passed = [item for item in self.window if item[0] <= now]
        if not passed:
            return
        self.window = self.window[len(passed):]
        _, kind, before = next((d for d in passed if d[1] == "expired"), passed[-1])  # a late reminder is not sent
        end = _iso(self.reg.protected_until)
        if kind == "expired":
            self._close("expired", now, "system:protection", {"protected_until": end})
        else:
            self._emit(now, "system:protection", "expiry_reminder", {"before_s": before, "protected_until": end},
                       [self._tell(self.reg.owner_email, "reminder")])

    # --- internals ----------------------------------------------------------------------------

    def _plan_window(self, since: datetime) -> None:
        """The reminders still ahead of `since` and the end of the protection window."""
        end = self.reg.protected_until
        assert end is not None
        marks = sorted((end - before, "expiry_reminder", before.total_seconds())
                       for before in self.terms.reminder_offsets)
        self.window = [m for m in marks if since < m[0] < end] + [(end, "expired", 0.0)]

    def _close(self, status: str, now: datetime, actor: str, payload: dict[str, Any],
               reason: str | None = None) -> None:
        was_pending = self.reg.status == "pending"
        self.reg.status = status
        if reason is not None:
            self.reg.reason = reason
        self.approval, self.window = None, []
        tell = [self._tell(self.reg.owner_email, "info")]
        if was_pending:  # the mediator no longer has it to decide
            tell.append(self._tell(self.mediators[0], "info"))
        self._emit(now, actor, status, payload, tell)

    @staticmethod
    def _tell(email: str, kind: Any) -> Notice:
        return Notice(recipient=email, kind=kind, text="")  # the text is written once the event exists

    def _emit(self, now: datetime, actor: str, action: str, payload: dict[str, Any], tell: list[Notice],
              changes: dict[str, Any] | None = None) -> None:
        self.seq += 1
        self.reg.last_seq, self.reg.updated_at = self.seq, now
        event = Event(dispute_id=self.reg.id, seq=self.seq, at=now, actor=actor, action=action, tier=0,
                      payload=payload, charter_version=self.charter.version_id)
        text = headline(event, self.reg, self.cal, self.names)
        notices = [n.model_copy(update={"text": text}) for n in tell if n.recipient != actor]
        self.pending.append(RegistrationRecorded(event=event, registration=self.reg.model_copy(),
                                                 notices=notices, changes=changes or {}))


def headline(event: Event, reg: RegistrationSnapshot, cal: BusinessCalendar,
             names: Mapping[str, str] | None = None) -> str:
    """What happened to a registration, in one line. `names` maps e-mail addresses to names: the actor is
    named as a dispute's notices name people, by their e-mail address only when no name is known."""
    p = event.payload
    name = f"{reg.id} ({reg.account}: {reg.title})"
    who = (names or {}).get(event.actor) or event.actor

    def when(key: str) -> str:
        value = p.get(key)
        return format_due(datetime.fromisoformat(value), cal) if isinstance(value, str) else "—"

    return {
        "submitted": f"{who} registered {name}; it awaits approval",
        "approved": f"{who} approved {name}" + (f"; protected until {when('protected_until')}"
                                                if p.get("protected_until") else ""),
        "rejected": f"{who} rejected {name}: {p.get('reason', '')}",
        "extended": f"{who} extended the protection of {name} until {when('until')}",
        "withdrawn": f"{who} withdrew {name}",
        "closed": f"{who} closed {name} ({'won' if p.get('won') else 'lost'})",
        "approval_reminder": f"Reminder: {name} awaits approval, due {when('due_at')}",
        "approval_overdue": f"{name} is past its approval deadline ({when('due_at')}) and still pending",
        "expiry_reminder": f"Reminder: the protection of {name} ends {when('protected_until')}",
        "expired": f"The protection of {name} has ended: it expired",
        # (never the other partner organisation's name: a partner owner reads this too)
        "overlap_found": (f"Early warning: {name} overlaps {p.get('registration_id')}, "
                          f"{'a direct opportunity' if p.get('channel') == 'direct' else 'a partner registration'} "
                          f"for {p.get('account')} (match {p.get('score')}/100)"),
        "dispute_filed": f"Dispute {p.get('dispute_id')} was filed about {name}",
        "amended": f"{name} was updated",
    }.get(event.action, f"{name}: {event.action}")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
