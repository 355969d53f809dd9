"""Who hears about an event: the case message in the conflicts channel always, and a direct
message to whoever must act now, is reminded, is paged, or sees the dispute closed.

A caucus note is the exception (`domain.caucus`): never the channel, which the parties read, only a
direct message to the adjudicators it names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from domain import caucus
from domain.durations import format_business_time, format_due
from domain.model import CLOSED, DisputeView, Event, Notice

if TYPE_CHECKING:
    from domain.calendar import BusinessCalendar

_ACTING = {
    "filed", "proposed", "accepted", "proposal_rejected", "approval_rejected", "escalated",
    "info_requested", "answered", "resumed", "ruled", "appealed", "reassigned",
}


def name_of(email: str, view: DisputeView, names: Mapping[str, str] | None = None) -> str:
    """A person as people call them: their name when Parley knows it, else their e-mail address."""
    known = (names or {}).get(email) or next((p.name for p in view.parties if p.email == email and p.name), None)
    return known or email


def headline(event: Event, view: DisputeView, names: Mapping[str, str] | None = None,
             cal: BusinessCalendar | None = None) -> str:
    """What happened, in one line. `names` maps e-mail addresses to names (the parties' names are
    known from the view); `cal` is the dispute's charter calendar, for deadlines in its time zone."""
    who = name_of(event.actor, view, names)
    to = event.payload.get("to")
    return {
        "filed": (f"{who} filed {view.id}: {view.title}" if event.actor == view.filed_by else
                  f"Parley filed {view.id} for {name_of(view.filed_by, view, names)}: {view.title}"),
        "commented": (f"{who} added a caucus note on {view.id} (mediators only)"
                      if caucus.is_caucus_event(event.action, event.payload) else f"{who} commented on {view.id}"),
        "proposed": f"{who} proposed a resolution for {view.id}",
        "accepted": f"{who} accepted the proposal on {view.id}",
        "proposal_rejected": f"{who} rejected the proposal on {view.id}",
        "approval_rejected": f"{who} rejected the agreement on {view.id}; back to frontline",
        "approved": f"{who} approved the agreement on {view.id}",
        "escalated": f"{view.id} escalated to tier {view.tier} ({event.payload.get('reason', '')})",
        "info_requested": f"{who} asked for information on {view.id}; the clock is paused",
        "answered": f"{who} answered the question on {view.id}; the clock stays paused until the mediator resumes",
        "resumed": f"{who} resumed {view.id}; the clock runs again",
        "ruled": f"{who} ruled on {view.id}; the appeal window is open",
        "appealed": f"{who} appealed the ruling on {view.id}; it goes to the executive",
        "decided": f"{who} made the final decision on {view.id}",
        "withdrawn": f"{who} withdrew {view.id}",
        "reassigned": f"{view.id} reassigned to {name_of(to, view, names) if isinstance(to, str) else to}",
        "sla_reminder": f"Reminder: {view.id} is due {_due(view, event, cal)}",
        "sla_breached": f"{view.id} is past its executive deadline; paging the backup executive",
        "ruling_final": f"The ruling on {view.id} is final: no appeal was filed",
    }.get(event.action, f"{view.id}: {event.action}")


def notices_for(event: Event, view: DisputeView, dm_on: tuple[str, ...], names: Mapping[str, str] | None = None,
                cal: BusinessCalendar | None = None) -> list[Notice]:
    text = headline(event, view, names, cal)
    if caucus.is_caucus_event(event.action, event.payload):  # not the channel: the parties read it
        return [Notice(recipient=email, kind="info", text=text) for email in caucus.told(view, event.actor)]
    out = [Notice(recipient="channel", kind="case_update", text=text)]
    dms: dict[str, Notice] = {}
    if view.status in CLOSED:
        for email in [p.email for p in view.parties] + [view.mediator]:
            dms[email] = Notice(recipient=email, kind="resolved", text=text)
    elif event.action == "sla_reminder":
        for email in view.waiting_on:
            dms[email] = Notice(recipient=email, kind="reminder", text=text)
    elif event.action == "sla_breached":
        for email in view.waiting_on:
            dms[email] = Notice(recipient=email, kind="paged", text=text)
    elif event.action in _ACTING:
        kind = "escalated" if event.action in ("escalated", "appealed") else "action_required"
        for email in view.waiting_on:
            dms[email] = Notice(recipient=email, kind=kind, text=f"{text}. Your move.")
    dms.pop(event.actor, None)  # nobody is told about what they just did
    out += [n for n in dms.values() if n.kind in dm_on or n.kind == "paged"]
    return out


def _due(view: DisputeView, event: Event, cal: BusinessCalendar | None) -> str:
    due = view.sla.due_at
    if due is None:
        return "now"
    if cal is None:
        return due.strftime("%Y-%m-%d %H:%M UTC")
    remaining = event.payload.get("remaining_s")
    left = ""
    if isinstance(remaining, (int, float)) and remaining > 0:
        left = f" (business time left: {format_business_time(remaining, cal)})"
    return f"{format_due(due, cal)}{left}"
